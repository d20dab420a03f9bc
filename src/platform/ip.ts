import { isIPv6 } from 'node:net';

/**
 * The eight 16-bit groups of an IPv6 address, whatever its spelling: `::` expanded, zone (`%eth0`) dropped, a
 * trailing dotted quad folded into two groups. Only for strings `net.isIPv6` accepts.
 */
export function ipv6Groups(ip: string): number[] {
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

/** The dotted IPv4 address held by two 16-bit groups. */
export const dottedQuad = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/** The IPv4 address an IPv4-mapped IPv6 address (::ffff:0:0/96, dotted or hex) stands for. */
export function mappedIPv4(groups: number[]): string | undefined {
  const mapped = groups.slice(0, 5).every((x) => x === 0) && groups[5] === 0xffff;
  return mapped ? dottedQuad(groups[6]!, groups[7]!) : undefined;
}

/**
 * A client's address as the throttles and fair shares count it. An IPv6 user holds a whole /64, so it counts as one
 * address; IPv4-mapped IPv6 counts as the IPv4 address. A port that a proxy wrote into X-Forwarded-For
 * (`203.0.113.7:5123`, `[2001:db8::1]:443`) is dropped, and so are the brackets of `[2001:db8::1]`: every port of one address is the same client.
 */
export function addressKey(raw: string | undefined): string {
  if (!raw) return 'unknown';
  const ip = /^\[([^\]]+)\](?::\d+)?$/.exec(raw)?.[1] ?? /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(raw)?.[1] ?? raw;
  if (!isIPv6(ip)) return ip;
  const groups = ipv6Groups(ip);
  return mappedIPv4(groups) ?? `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}
