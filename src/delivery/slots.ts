/**
 * The send worker's slots: at most `total` messages in flight in this process and `perAccount` per gateway
 * account (a portal has one). Work is claimed only into free slots, so a claimed message never waits for a slot
 * that another account holds.
 */
export function createSlots(total: number, perAccount: number) {
  const busy = new Map<number, number>();
  let used = 0;

  return {
    free: () => total - used,
    /** How many more messages of `account` may start now. */
    freeFor: (account: number) => Math.max(0, Math.min(total - used, perAccount - (busy.get(account) ?? 0))),
    /** Accounts with every slot of their own taken. */
    full: () => [...busy].filter(([, n]) => n >= perAccount).map(([account]) => account),
    take(account: number) {
      used++;
      busy.set(account, (busy.get(account) ?? 0) + 1);
    },
    release(account: number) {
      used--;
      const n = (busy.get(account) ?? 1) - 1;
      if (n > 0) busy.set(account, n);
      else busy.delete(account);
    },
  };
}

export type Slots = ReturnType<typeof createSlots>;
