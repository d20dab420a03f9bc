import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';

/** The code callers branch on when a gateway address is refused. */
export const GATEWAY_ADDRESS_FORBIDDEN = 'GATEWAY_ADDRESS_FORBIDDEN';

export class GatewayAddressForbidden extends Error {
  readonly code = GATEWAY_ADDRESS_FORBIDDEN;
  constructor(host: string) {
    super(`gateway address ${host} is not allowed`);
    this.name = 'GatewayAddressForbidden';
  }
}

// IPv4 ranges that are not public unicast (RFC 6890 special-purpose registry): this network, private, CGNAT,
// loopback, link-local (cloud metadata at 169.254.169.254), protocol assignments, documentation, 6to4 relay,
// benchmarking, multicast, reserved and broadcast.
const V4_SPECIAL = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) V4_SPECIAL.addSubnet(net, prefix, 'ipv4');

/** The eight 16-bit groups of a valid IPv6 address (zone dropped, a trailing dotted quad folded in). */
function v6Groups(ip: string): number[] {
  let s = ip.toLowerCase().replace(/%.*$/, '');
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = s.split('::');
  const parse = (part: string) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

const zeros = (g: number[]) => g.every((x) => x === 0);
const quadOf = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/** The IPv4 address an IPv6 form stands for: mapped ::ffff:a.b.c.d, translated ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96. */
function embeddedV4(g: number[]): string | undefined {
  if (zeros(g.slice(0, 5)) && g[5] === 0xffff) return quadOf(g[6]!, g[7]!);
  if (zeros(g.slice(0, 4)) && g[4] === 0xffff && g[5] === 0) return quadOf(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(g.slice(2, 6))) return quadOf(g[6]!, g[7]!);
  return undefined;
}

/**
 * Whether an address is public unicast, the only kind a tenant's gateway may have. IPv6 is an allow-list:
 * global unicast 2000::/3 without its special blocks (Teredo and protocol assignments 2001::/23, documentation
 * 2001:db8::/32 and 3fff::/20, 6to4 2002::/16); forms that embed an IPv4 address are judged by that address.
 */
export function isPublicAddress(ip: string): boolean {
  if (isIPv4(ip)) return !V4_SPECIAL.check(ip, 'ipv4');
  if (!isIPv6(ip)) return false;
  const g = v6Groups(ip);
  const v4 = embeddedV4(g);
  if (v4) return isPublicAddress(v4);
  const [a = 0, b = 0] = g;
  if ((a & 0xe000) !== 0x2000) return false; // ::, ::1, ::/96, fc00::/7, fe80::/10, fec0::/10, ff00::/8, 100::/64…
  if (a === 0x2001 && (b < 0x200 || b === 0x0db8)) return false;
  if (a === 0x2002 || (a === 0x3fff && b < 0x1000)) return false;
  return true;
}

/** One spelling per address, so that ::ffff:127.0.0.1 and 127.0.0.1 compare equal. */
function canonical(ip: string): string {
  if (isIPv4(ip)) return ip;
  const g = v6Groups(ip);
  return embeddedV4(g) ?? g.map((x) => x.toString(16)).join(':');
}

const bare = (host: string) => host.replace(/^\[(.*)\]$/, '$1').replace(/\.+$/, '').toLowerCase();

/**
 * What the form can refuse without a lookup: a literal address that is not public, or a localhost name
 * (RFC 6761: `localhost` and every name under it is loopback). `hostname` as `new URL()` gives it.
 */
export function isForbiddenHostLiteral(hostname: string): boolean {
  const host = bare(hostname);
  if (!host || host === 'localhost' || host.endsWith('.localhost')) return true;
  return isIP(host) !== 0 && !isPublicAddress(host);
}

type Lookup = (host: string) => Promise<string[]>;
const systemLookup: Lookup = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * The dispatcher for gateway addresses chosen on a portal's form (Kannel URL, SMPP host). Its connect step
 * resolves the name itself, refuses it unless every address is allowed, and connects to the address it checked:
 * a second lookup could answer differently (DNS rebinding). Refused unless `allowPrivate`: every address that is
 * not public unicast. Refused always: this service itself (PUBLIC_URL's host name and addresses) — on any port
 * by default; with `allowPrivate` only on PUBLIC_URL's own port, since a single-company Kannel often shares a host
 * (or loopback) with the service.
 */
export function createGatewayDispatcher(opts: {
  allowPrivate: boolean;
  publicUrl: string;
  lookup?: Lookup;
  connectTimeoutMs?: number;
}): Dispatcher {
  const lookup = opts.lookup ?? systemLookup;
  const self = new URL(opts.publicUrl);
  const selfHost = bare(self.hostname);
  const selfPort = Number(self.port) || (self.protocol === 'https:' ? 443 : 80);
  let selfAddresses: { at: number; addresses: Promise<Set<string>> } | undefined;

  /** PUBLIC_URL's addresses, looked up at most once a minute and never waited on for more than 2 s. */
  function ownAddresses(): Promise<Set<string>> {
    if (!selfAddresses || Date.now() - selfAddresses.at > 60_000) {
      const found = isIP(selfHost) ? Promise.resolve([selfHost]) : lookup(selfHost).catch(() => [] as string[]);
      const bounded = Promise.race([found, new Promise<string[]>((r) => setTimeout(() => r([]), 2_000).unref())]);
      selfAddresses = { at: Date.now(), addresses: bounded.then((list) => new Set(list.map(canonical))) };
    }
    return selfAddresses.addresses;
  }

  async function checkedAddress(hostname: string, port: number): Promise<string> {
    const host = bare(hostname);
    if (!opts.allowPrivate && isForbiddenHostLiteral(host)) throw new GatewayAddressForbidden(host);
    const addresses = isIP(host) ? [host] : await lookup(host);
    if (!addresses.length) throw Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' });
    const own = await ownAddresses();
    const selfPortMatches = !opts.allowPrivate || port === selfPort;
    for (const a of addresses) {
      if (!opts.allowPrivate && !isPublicAddress(a)) throw new GatewayAddressForbidden(host);
      if (selfPortMatches && (host === selfHost || own.has(canonical(a)))) throw new GatewayAddressForbidden(host);
    }
    return addresses[0]!;
  }

  const connectSocket = buildConnector({ timeout: opts.connectTimeoutMs ?? 5_000 });
  const connect: buildConnector.connector = (o, callback) => {
    const port = Number(o.port) || (o.protocol === 'https:' ? 443 : 80);
    checkedAddress(o.hostname, port).then(
      // TLS still names (SNI) and verifies the host the URL gave, not the address.
      (address) => connectSocket({ ...o, hostname: address, servername: o.servername ?? (isIP(bare(o.hostname)) ? undefined : bare(o.hostname)) }, callback),
      (err: Error) => callback(err, null),
    );
  };
  return new Agent({ connect, keepAliveTimeout: 10_000 });
}
