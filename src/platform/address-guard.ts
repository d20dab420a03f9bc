import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { systemClock, type Clock } from './clock.js';
import { dottedQuad, ipv6Groups, mappedIPv4 } from './ip.js';

/** The code callers branch on when a gateway address is refused. */
export const GATEWAY_ADDRESS_FORBIDDEN = 'GATEWAY_ADDRESS_FORBIDDEN';

class GatewayAddressForbidden extends Error {
  readonly code = GATEWAY_ADDRESS_FORBIDDEN;
  constructor(readonly host: string, what: 'gateway' | 'portal' = 'gateway') {
    super(`${what} address ${host} is not allowed`);
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

const zeros = (g: number[]) => g.every((x) => x === 0);

/** The IPv4 address an IPv6 form stands for: mapped ::ffff:a.b.c.d, translated ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96. */
function embeddedV4(g: number[]): string | undefined {
  const mapped = mappedIPv4(g);
  if (mapped) return mapped;
  if (zeros(g.slice(0, 4)) && g[4] === 0xffff && g[5] === 0) return dottedQuad(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(g.slice(2, 6))) return dottedQuad(g[6]!, g[7]!);
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
  const g = ipv6Groups(ip);
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
  const g = ipv6Groups(ip);
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

/** A gateway's name found no address within the connect timeout. Retryable: the request never left. */
export const GATEWAY_LOOKUP_TIMEOUT = 'GATEWAY_LOOKUP_TIMEOUT';

/**
 * Lookups of tenants' names running at once, process-wide, and at most one per tenant: one of libuv's four threads
 * always stays for the rest, and a tenant whose names are slow (a name server that answers late, TTL 0) holds one
 * slot, so two such tenants still leave one for everybody else.
 */
const MAX_LOOKUPS = 3;

/** Whose lookup it is, for fairness: `portal:<id>`, or the name itself when no portal is known (each name alone). */
type LookupTenant = string;

/**
 * `lookup` with at most `maxInFlight` running at once, at most one per tenant, and one per name: callers asking for
 * a name that is already being looked up, or waiting for a slot, share that lookup. A caller waits at most
 * `timeoutMs` for a slot and an answer, then fails with GATEWAY_LOOKUP_TIMEOUT. getaddrinfo runs on libuv's thread
 * pool (shared with fs, crypto and every other lookup), cannot be cancelled and holds its thread for the resolver's
 * whole timeout when a name server never answers; so a lookup keeps its slot (and its tenant's) until it really
 * ends, and a waiting name nobody wants any more leaves the queue. With one slot per process, a tenant with slow
 * names would take every slot and every other tenant's connections would time out; with one per tenant, its other
 * names wait on its own slot. A waiting name goes as soon as any tenant that wants it has its slot free, so a
 * name two tenants share never waits on the slower one. dns.lookup rather than c-ares: it keeps /etc/hosts,
 * search domains and nsswitch, as the operator expects.
 * A name that answered is kept for KEEP_ANSWER_MS (whatever its DNS TTL), and served for up to STALE_ANSWER_MS while
 * it is looked up again in the background: a portal that sends needs no slot for its connections, so portals whose
 * names hang and hold every slot do not stall the portals that are sending (nor their reports to Bitrix24, whose
 * names take the same slots). A tenant whose lookup outlasted a caller's wait is slow for SLOW_TENANT_MS: slow
 * tenants share one slot between them, so any number of them hold every slot once at most, for one resolver
 * timeout, and the other two slots stay for everybody else after that.
 */
function boundedLookups(lookup: Lookup, maxInFlight: number, clock: Clock) {
  const answered = new Map<string, { at: number; addresses: string[] }>();
  function remember(host: string, addresses: string[]) {
    if (!addresses.length) return;
    answered.delete(host); // re-inserted last: the map stays in the order of answers, oldest first
    answered.set(host, { at: clock(), addresses });
    if (answered.size > MAX_KEPT_ANSWERS) answered.delete(answered.keys().next().value!);
  }
  type Entry = { host: string; callers: Map<LookupTenant, number>; answer: Promise<string[]>; start?: (tenant: LookupTenant) => void; runner?: LookupTenant };
  const byName = new Map<string, Entry>();
  const queue: Entry[] = [];
  // Tenants with a lookup running; one lookup each, so its size is the number running.
  const busy = new Set<LookupTenant>();
  // Tenants whose lookup outlasted a caller's wait, until when they count as slow.
  const slowUntil = new Map<LookupTenant, number>();
  function isSlow(tenant: LookupTenant): boolean {
    const until = slowUntil.get(tenant);
    if (until === undefined) return false;
    if (until > clock()) return true;
    slowUntil.delete(tenant);
    return false;
  }
  function markSlow(tenant: LookupTenant) {
    if (slowUntil.size >= MAX_KEPT_ANSWERS && !slowUntil.has(tenant)) slowUntil.delete(slowUntil.keys().next().value!);
    slowUntil.delete(tenant); // re-inserted last: the oldest mark goes first when the map is full
    slowUntil.set(tenant, clock() + SLOW_TENANT_MS);
  }

  function next() {
    let slowRunning = [...busy].filter(isSlow).length;
    for (let i = 0; i < queue.length && busy.size < maxInFlight; ) {
      const entry = queue[i]!;
      const free = [...entry.callers.keys()].filter((t) => !busy.has(t));
      // A tenant in good standing first; a slow one only while the slow lane is free.
      const tenant = free.find((t) => !isSlow(t)) ?? (slowRunning < SLOW_LANE ? free[0] : undefined);
      if (tenant === undefined) {
        i++;
        continue;
      }
      if (isSlow(tenant)) slowRunning++;
      queue.splice(i, 1);
      busy.add(tenant);
      entry.runner = tenant;
      entry.start!(tenant);
      entry.start = undefined; // started: it stays in `byName`, for callers to share, until it ends
    }
  }

  function enqueue(host: string): Entry {
    let start!: (tenant: LookupTenant) => void;
    const answer = new Promise<string[]>((resolve, reject) => {
      start = (tenant) =>
        void new Promise<string[]>((r) => r(lookup(host))).then((addresses) => {
          if (addresses.length) remember(host, addresses);
          else answered.delete(host); // the name has no address now: its last answer is not served any more
          resolve(addresses);
        }, (err: unknown) => {
          if ((err as { code?: string }).code === 'ENOTFOUND') answered.delete(host);
          reject(err);
        }).finally(() => {
          busy.delete(tenant);
          if (byName.get(host) === entry) byName.delete(host);
          next();
        });
    });
    const entry: Entry = { host, callers: new Map(), answer, start };
    byName.set(host, entry);
    queue.push(entry);
    return entry;
  }

  function ask(host: string, timeoutMs: number, tenant: LookupTenant): Promise<string[]> {
    const entry = byName.get(host) ?? enqueue(host);
    entry.callers.set(tenant, (entry.callers.get(tenant) ?? 0) + 1);
    next();
    return new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!entry.start) markSlow(entry.runner!); // it ran all this while: its name server is slow (or mute)
        else {
          const left = entry.callers.get(tenant)! - 1;
          if (left) entry.callers.set(tenant, left);
          else entry.callers.delete(tenant);
          if (!entry.callers.size) {
            queue.splice(queue.indexOf(entry), 1);
            byName.delete(host);
          }
        }
        reject(Object.assign(new Error(`no address for ${host} within ${timeoutMs} ms`), { code: GATEWAY_LOOKUP_TIMEOUT }));
      }, timeoutMs);
      entry.answer.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  }

  return (host: string, timeoutMs: number, tenant: LookupTenant): Promise<string[]> => {
    const kept = answered.get(host);
    const age = kept ? clock() - kept.at : Infinity;
    if (age < KEEP_ANSWER_MS) return Promise.resolve(kept!.addresses);
    if (age < STALE_ANSWER_MS) {
      ask(host, timeoutMs, tenant).catch(() => undefined); // the next connections get the new answer
      return Promise.resolve(kept!.addresses);
    }
    return ask(host, timeoutMs, tenant);
  };
}

/** How long a name's answer is used again without a lookup, and how many names are kept (boundedLookups). */
export const KEEP_ANSWER_MS = 30_000;
/** How long a name's last answer is still served while a new lookup of it is under way (boundedLookups). */
export const STALE_ANSWER_MS = 10 * 60_000;
/** How long a tenant whose lookup outlasted a caller's wait shares the slow lane, and how many slots that lane has. */
export const SLOW_TENANT_MS = 10 * 60_000;
const SLOW_LANE = 1;
const MAX_KEPT_ANSWERS = 10_000;

const systemLookups = boundedLookups(systemLookup, MAX_LOOKUPS, systemClock);

// Where a connection reaches this host whatever its interfaces: loopback, and the unspecified address (Linux
// connects 0.0.0.0 and :: to the local host).
const THIS_HOST = new BlockList();
THIS_HOST.addSubnet('127.0.0.0', 8, 'ipv4');
THIS_HOST.addSubnet('0.0.0.0', 8, 'ipv4');
THIS_HOST.addAddress('::1', 'ipv6');
THIS_HOST.addAddress('::', 'ipv6');

function interfaceAddresses(): string[] {
  try {
    return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
  } catch {
    return []; // some sandboxes refuse getifaddrs; loopback and PUBLIC_URL are still checked
  }
}

/**
 * The dispatcher for gateway addresses chosen on a portal's form (Kannel URL, SMPP host). Its connect step
 * resolves the name itself (bounded: see boundedLookups), refuses it unless every address is allowed, and connects
 * to the address it checked: a second lookup could answer differently (DNS rebinding). Refused unless
 * `allowPrivate`: every address that is not public unicast. Refused always: this service itself — PUBLIC_URL's
 * host name and addresses, loopback and this host's own addresses — on any port by default; with `allowPrivate`
 * only on PUBLIC_URL's port and `ownPort` (where the service listens: behind a reverse proxy the two differ), since
 * a single-company Kannel often shares a host (or loopback) with the service.
 */
export function createGatewayDispatcher(opts: GatewayAddressOptions): GatewayDispatcher {
  const checkedAddresses = createAddressCheck(opts, 'gateway');
  const connectSocket = buildConnector({ timeout: opts.connectTimeoutMs ?? 5_000 });
  return perPortalAgents(opts.clock ?? systemClock, (portalId) => {
    const connect: buildConnector.connector = (o, callback) => {
      const port = Number(o.port) || (o.protocol === 'https:' ? 443 : 80);
      checkedAddresses(o.hostname, port, portalId).then(
        // TLS still names (SNI) and verifies the host the URL gave, not the address.
        ([address]) => connectSocket({ ...o, hostname: address!, servername: o.servername ?? (isIP(bare(o.hostname)) ? undefined : bare(o.hostname)) }, callback),
        (err: Error) => callback(err, null),
      );
    };
    return new Agent({ connect, keepAliveTimeout: 10_000 });
  });
}

/**
 * The dispatcher for portals' REST endpoints. A portal's domain is its own (an on-premise Bitrix24's owner picks its
 * name and what it resolves to), so without `allowPrivate` (ALLOW_PRIVATE_PORTALS) no call goes to an address that
 * is not public unicast: a tenant cannot make this service post its requests (with their tokens) into the network it
 * runs in. Same rules and the same bounded, per-portal lookups as a gateway's (createGatewayDispatcher); unlike it,
 * every checked address is handed to the socket's own lookup, so node still tries IPv6 and IPv4 in turn (a portal
 * whose name has an AAAA record this host cannot route to still answers on IPv4), and no second lookup can answer
 * differently.
 */
export function createPortalDispatcher(opts: GatewayAddressOptions): GatewayDispatcher {
  const checkedAddresses = createAddressCheck(opts, 'portal');
  return perPortalAgents(opts.clock ?? systemClock, (portalId) => {
    // One lookup a connection: the connect step below checks the name, then the socket's lookup answers from that.
    const checked = new Map<string, string[]>();
    const connectSocket = buildConnector({
      timeout: opts.connectTimeoutMs ?? 5_000,
      lookup: (hostname: string, options: { all?: boolean }, callback: (...a: unknown[]) => void) => {
        const addresses = checked.get(bare(hostname));
        if (!addresses?.length) return callback(Object.assign(new Error(`no checked address for ${hostname}`), { code: 'ENOTFOUND' }));
        const entries = addresses.map((address) => ({ address, family: isIPv6(address) ? 6 : 4 }));
        if (options.all) callback(null, entries);
        else callback(null, entries[0]!.address, entries[0]!.family);
      },
    } as buildConnector.BuildOptions);
    const connect: buildConnector.connector = (o, callback) => {
      const port = Number(o.port) || (o.protocol === 'https:' ? 443 : 80);
      checkedAddresses(o.hostname, port, portalId).then(
        (addresses) => {
          const host = bare(o.hostname);
          checked.set(host, addresses);
          connectSocket(o, (err, socket) => {
            checked.delete(host); // the socket looked it up as it started connecting
            callback(err as Error, socket as never);
          });
        },
        (err: Error) => callback(err, null),
      );
    };
    return new Agent({ connect, keepAliveTimeout: 10_000 });
  });
}

/**
 * An agent per portal: undici's connect step sees the origin, not the request, so a portal's lookups are told apart
 * by an agent of its own. One not asked for in AGENT_IDLE_MS is closed and forgotten (its connections are long idle
 * by then), so the map holds the portals in use, not every portal that ever was.
 */
function perPortalAgents(clock: Clock, agent: (portalId?: number) => Agent): GatewayDispatcher {
  const byPortal = new Map<number, { agent: Agent; used: number }>();
  let swept = clock();
  return Object.assign(agent(), {
    forPortal(portalId: number): Dispatcher {
      const now = clock();
      if (now - swept >= AGENT_IDLE_MS / 4) {
        swept = now;
        for (const [id, e] of byPortal) {
          if (now - e.used < AGENT_IDLE_MS) continue;
          byPortal.delete(id);
          void e.agent.close().catch(() => undefined);
        }
      }
      let e = byPortal.get(portalId);
      if (!e) byPortal.set(portalId, (e = { agent: agent(portalId), used: now }));
      e.used = now;
      return e.agent;
    },
    /** Portals with an agent now (for tests and metrics). */
    portalAgents: () => byPortal.size,
  });
}

/** How long a portal's agent lives without being asked for (createGatewayDispatcher). */
export const AGENT_IDLE_MS = 10 * 60_000;

/** The guarded dispatcher; `forPortal` is the one for a portal's own gateway, whose lookups wait on its own slot. */
export type GatewayDispatcher = Dispatcher & { forPortal(portalId: number): Dispatcher; portalAgents(): number };

export type GatewayAddressCheck = (hostname: string, port: number, portalId?: number) => Promise<string>;

export interface GatewayAddressOptions {
  allowPrivate: boolean;
  publicUrl: string;
  /** The port this service listens on (PORT); 0 = unknown. */
  ownPort?: number;
  lookup?: Lookup;
  connectTimeoutMs?: number;
  clock?: Clock;
}

/**
 * The check behind createGatewayDispatcher, for connections that are not HTTP (an SMPP host typed on a form):
 * resolves `hostname` and returns the one address to connect to, or fails with GATEWAY_ADDRESS_FORBIDDEN under the
 * same rules. Connect to the address it returns, never to the name again. `portalId`: whose address it is, so that
 * its lookups wait on that portal's own slot (see boundedLookups); without it, each name counts alone.
 */
export function createGatewayAddressCheck(opts: GatewayAddressOptions): GatewayAddressCheck {
  const check = createAddressCheck(opts, 'gateway');
  return async (hostname, port, portalId) => (await check(hostname, port, portalId))[0]!;
}

/** The rules of createGatewayAddressCheck; resolves with every address of the name (all allowed). */
function createAddressCheck(opts: GatewayAddressOptions, what: 'gateway' | 'portal') {
  const clock = opts.clock ?? systemClock;
  const resolve = opts.lookup ? boundedLookups(opts.lookup, MAX_LOOKUPS, clock) : systemLookups;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
  const self = new URL(opts.publicUrl);
  const selfHost = bare(self.hostname);
  const selfPorts = new Set([Number(self.port) || (self.protocol === 'https:' ? 443 : 80), ...(opts.ownPort ? [opts.ownPort] : [])]);
  let known: { at: number; addresses: Set<string> } | undefined;
  let refreshing: Promise<Set<string>> | undefined;

  function refreshOwnAddresses(): Promise<Set<string>> {
    refreshing ??= (async () => {
      let found: string[];
      try {
        found = isIP(selfHost) ? [selfHost] : await resolve(selfHost, connectTimeoutMs, 'self');
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOTFOUND') throw err;
        found = []; // the name has no address: an answer, not a failure
      }
      known = { at: clock(), addresses: new Set([...found, ...interfaceAddresses()].map(canonical)) };
      return known.addresses;
    })().finally(() => (refreshing = undefined));
    return refreshing;
  }

  /**
   * This service's addresses, looked up again after a minute. A failed lookup is not remembered: the next
   * connection tries again; meanwhile the last answer stands, and with none yet the connection fails (retryable)
   * rather than going ahead unchecked.
   */
  function ownAddresses(): Promise<Set<string>> {
    if (known && clock() - known.at < 60_000) return Promise.resolve(known.addresses);
    const fresh = refreshOwnAddresses();
    if (!known) return fresh;
    fresh.catch(() => undefined); // refreshed in the background; the last answer serves until then
    return Promise.resolve(known.addresses);
  }

  async function checkedAddresses(hostname: string, port: number, portalId?: number): Promise<string[]> {
    const host = bare(hostname);
    if (!opts.allowPrivate && isForbiddenHostLiteral(host)) throw new GatewayAddressForbidden(host, what);
    const tenant = portalId === undefined ? `name:${host}` : `portal:${portalId}`;
    const [addresses, own] = await Promise.all([isIP(host) ? [host] : resolve(host, connectTimeoutMs, tenant), ownAddresses()]);
    if (!addresses.length) throw Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' });
    const selfPortMatches = !opts.allowPrivate || selfPorts.has(port);
    for (const a of addresses) {
      const c = canonical(a);
      if (!opts.allowPrivate && !isPublicAddress(a)) throw new GatewayAddressForbidden(host, what);
      const isSelf = host === selfHost || own.has(c) || THIS_HOST.check(c, isIPv4(c) ? 'ipv4' : 'ipv6');
      if (selfPortMatches && isSelf) throw new GatewayAddressForbidden(host, what);
    }
    return addresses;
  }

  return checkedAddresses;
}
