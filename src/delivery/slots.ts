/**
 * The send worker's slots and who gets them: at most `total` messages in flight in this process and `perAccount`
 * per gateway account (a portal has one). Work is claimed only into free slots, so a claimed message never waits
 * for a slot that another account holds.
 *
 * Free Bitrix24 portals are easy to get, and a portal's gateway can be made to answer as slowly as our deadline
 * allows, so the rules below keep a few such portals from holding every slot while other tenants wait:
 * - fair order: a free slot goes to the due account with the fewest messages in flight, then to the one served
 *   least recently (round-robin), never to the oldest row (a stuck account's backlog is always the oldest);
 * - spread: in one pass each due account gets at most an equal share of the free slots;
 * - a reserve: an account with messages in flight may not take the last `reserve` free slots, and one with
 *   nothing in flight takes at most one of them, so a portal that has just received an SMS finds a slot at once;
 * - slow accounts shrink: one whose send hit the deadline or took too long gets a single slot until a send of
 *   it completes quickly again.
 *
 * A slot is one request to a gateway. Most gateways take one message per request; an account whose gateway takes
 * several (`setWidth`: SMS.ru, 100) has its claimed messages sent together, a group of k taking ⌈k / width⌉ slots.
 * So under a steady trickle each message is its own request, and when an account's slots are all busy its messages
 * wait and go together in the next request: batches grow with the load, requests in flight never exceed the limit.
 */
export function createSlots(total: number, perAccount: number) {
  const busy = new Map<number, number>();
  const slow = new Set<number>();
  // Insertion order is serve order (an account is moved to the end when served), so the oldest entries can be
  // trimmed without changing the order of the rest: a forgotten account counts as never served, which it nearly is.
  const served = new Map<number, number>();
  const SERVED_KEPT = 10_000;
  let tick = 0;
  let used = 0; // slots (requests) in use
  const requests = new Map<number, number>(); // slots in use per account
  const widths = new Map<number, number>();
  const width = (account: number) => widths.get(account) ?? 1;
  const slotsOf = (account: number, messages: number) => Math.ceil(messages / width(account));

  const reserve = total > 1 ? Math.max(1, Math.min(perAccount, Math.floor(total / 4))) : 0;
  const inFlight = (account: number) => busy.get(account) ?? 0;
  const limit = (account: number) => (slow.has(account) ? 1 : perAccount);

  /** How many more messages of `account` may start now. */
  function freeFor(account: number): number {
    const free = total - used;
    const n = inFlight(account);
    const allowed = n > 0 ? free - reserve : Math.min(free, Math.max(0, free - reserve) + 1);
    const held = requests.get(account) ?? 0;
    const slotsMax = Math.min(limit(account), held + Math.max(0, allowed));
    return Math.max(0, (slotsMax - held) * width(account));
  }

  /**
   * One pass over the accounts with due work: who may claim, in which order, and at most how many each. The
   * caller claims `Math.min(upTo, freeFor(account))` turn by turn, as earlier turns use slots up.
   */
  function turns(due: number[]): { account: number; upTo: number }[] {
    const order = due.filter((a) => freeFor(a) > 0).sort((a, b) => inFlight(a) - inFlight(b) || (served.get(a) ?? 0) - (served.get(b) ?? 0));
    const upTo = Math.max(1, Math.floor((total - used) / Math.max(1, order.length)));
    return order.map((account) => ({ account, upTo: upTo * width(account) }));
  }

  return {
    reserve,
    free: () => total - used,
    inFlight,
    freeFor,
    turns,
    /**
     * How many messages `account`'s gateway takes in one request (1 unless told). At once, even with requests in
     * flight: each gives back the slots it took (a portal that left SMS.ru with a request of 100 still out was
     * let claim a hundred times its slots for its new gateway, one request each).
     */
    setWidth(account: number, messagesPerRequest: number) {
      if (messagesPerRequest > 1) widths.set(account, messagesPerRequest);
      else widths.delete(account);
    },
    /** `messages` of `account` start, sent together (⌈messages / width⌉ requests); returns the slots they took. */
    take(account: number, messages = 1): number {
      const n = inFlight(account);
      const q = slotsOf(account, messages);
      used += q;
      requests.set(account, (requests.get(account) ?? 0) + q);
      busy.set(account, n + messages);
      served.delete(account);
      served.set(account, ++tick);
      if (served.size > SERVED_KEPT) served.delete(served.keys().next().value!);
      return q;
    },
    /** What `take(account, messages)` took (`slots`: what it returned) is done. */
    release(account: number, messages = 1, slots = slotsOf(account, messages)) {
      const n = inFlight(account) - messages;
      const q = slots;
      used -= q;
      const left = (requests.get(account) ?? 0) - q;
      if (left > 0) requests.set(account, left);
      else requests.delete(account);
      if (n > 0) busy.set(account, n);
      else busy.delete(account);
    },
    /** A send of `account` ended: `tooSlow` when it hit the deadline or took longer than the caller allows. */
    sendTook(account: number, tooSlow: boolean) {
      if (tooSlow) slow.add(account);
      else slow.delete(account);
    },
    isSlow: (account: number) => slow.has(account),
  };
}

export type Slots = ReturnType<typeof createSlots>;
