import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports are taken from just below the kernel's ephemeral range (32768–60999 on Linux by default). A port the OS
 * hands out for `listen(0)` comes from that range, and so does the local port of every outgoing connection: a server
 * started a moment later on such a port (Kannel's smsbox, in a fresh-clone CI run) could find it taken by some
 * test's connection ("Address already in use"). Below the range only another listener can take it.
 */
const EPHEMERAL_LOW = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
})();
const LOW = Math.max(1024, EPHEMERAL_LOW - 12_000);

const tryListen = (port: number) =>
  new Promise<number | undefined>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const got = (s.address() as { port: number }).port;
      s.close(() => resolve(got));
    });
  });

/** A TCP port free on 127.0.0.1 right now, for a server a test starts. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await tryListen(LOW + Math.floor(Math.random() * (EPHEMERAL_LOW - LOW)));
    if (port) return port;
  }
  const any = await tryListen(0); // the OS's choice, as a last resort
  if (!any) throw new Error('no free TCP port on 127.0.0.1');
  return any;
}
