/** Bounds concurrent work per key (here: per gateway account). */
export function createKeyedSemaphore(limit: number) {
  const state = new Map<string | number, { active: number; waiting: Array<() => void> }>();

  async function acquire(key: string | number): Promise<() => void> {
    let s = state.get(key);
    if (!s) state.set(key, (s = { active: 0, waiting: [] }));
    if (s.active >= limit) await new Promise<void>((r) => s!.waiting.push(r));
    else s.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = s!.waiting.shift();
      if (next) next(); // the slot passes straight to the next waiter
      else if (--s!.active === 0) state.delete(key);
    };
  }

  return { acquire };
}
