import net, { isIP, type Socket } from 'node:net';
import tls from 'node:tls';

/** Where an SMPP account lives: `smpp://host:port`, or `ssmpp://host:port` for TLS (node-smpp's names). */
export interface SmppEndpoint {
  host: string;
  port: number;
  tls: boolean;
}

// IANA's SMPP port, and the one node-smpp and many centres use for SMPP over TLS.
const DEFAULT_PORT = { smpp: 2775, ssmpp: 3550 };

/** The endpoint of an `smpp://` or `ssmpp://` URL; undefined for anything else (a path, a query or user info included). */
export function parseSmppUrl(url: string): SmppEndpoint | undefined {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    return undefined;
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme !== 'smpp' && scheme !== 'ssmpp') return undefined;
  if (!u.hostname || u.username || u.password || u.search || u.hash || (u.pathname && u.pathname !== '/')) return undefined;
  const port = u.port ? Number(u.port) : DEFAULT_PORT[scheme];
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port, tls: scheme === 'ssmpp' };
}

/** Opens the TCP (or TLS) connection of a session; fails with a code (GATEWAY_ADDRESS_FORBIDDEN, ECONNREFUSED, …). */
export type SmppConnect = (endpoint: SmppEndpoint, timeoutMs: number, portalId?: number) => Promise<Socket>;

/**
 * Connects through the address guard: `checkAddress` resolves the host typed on a portal's form and refuses internal
 * addresses (src/platform/address-guard.ts); the socket goes to the address it checked, never to the name again.
 * TLS still verifies the certificate against the name. `tlsOptions` is for tests (a CA of their own).
 */
export function guardedConnect(checkAddress: (host: string, port: number, portalId?: number) => Promise<string>, tlsOptions: tls.ConnectionOptions = {}): SmppConnect {
  return async (endpoint, timeoutMs, portalId) => {
    const deadline = Date.now() + timeoutMs;
    const address = await withTimeout(checkAddress(endpoint.host, endpoint.port, portalId), timeoutMs);
    return new Promise<Socket>((resolve, reject) => {
      const socket: Socket = endpoint.tls
        ? tls.connect({ ...tlsOptions, host: address, port: endpoint.port, servername: isIP(endpoint.host) ? undefined : endpoint.host })
        : net.connect({ host: address, port: endpoint.port });
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(Object.assign(new Error('connect timeout'), { code: 'SMPP_CONNECT_TIMEOUT' })), Math.max(1, deadline - Date.now()));
      socket.once('error', fail);
      socket.once(endpoint.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', fail);
        socket.setNoDelay(true);
        resolve(socket);
      });
    });
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(Object.assign(new Error('address lookup timeout'), { code: 'SMPP_CONNECT_TIMEOUT' })), ms);
    p.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}
