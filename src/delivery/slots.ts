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
 * several (`setWidth`: SMS.ru, 100) holds that many messages per slot, counted as ⌈messages / width⌉ slots.
 */
export function createSlots(total: number, perAccount: number) {
  const busy = new Map<number, number>();
  const slow = new Set<number>();
  // Insertion order is serve order (an account is moved to the end when served), so the oldest entries can be
  // trimmed without changing the order of the rest: a forgotten account counts as never served, which it nearly is.
  const served = new Map<number, number>();
  const SERVED_KEPT = 10_000;
  let tick = 0;
  let used = 0; // slots (requests) in use: Σ ⌈in flight / width⌉ over the accounts
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
    const held = slotsOf(account, n);
    const slotsMax = Math.min(limit(account), held + Math.max(0, allowed));
    return Math.max(0, slotsMax * width(account) - n);
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
    /** How many messages `account`'s gateway takes in one request (1 unless told). */
    setWidth(account: number, messagesPerRequest: number) {
      if (inFlight(account) === 0) {
        if (messagesPerRequest > 1) widths.set(account, messagesPerRequest);
        else widths.delete(account);
      }
    },
    take(account: number) {
      const n = inFlight(account);
      used += slotsOf(account, n + 1) - slotsOf(account, n);
      busy.set(account, n + 1);
      served.delete(account);
      served.set(account, ++tick);
      if (served.size > SERVED_KEPT) served.delete(served.keys().next().value!);
    },
    release(account: number) {
      const n = inFlight(account) - 1;
      used -= slotsOf(account, n + 1) - slotsOf(account, n);
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
