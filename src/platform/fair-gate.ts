import { AppError } from './errors.js';

/**
 * Work done on behalf of callers who are not known yet (an OAuth check of a token anyone can post), shared fairly
 * between callers: at most `slots` run at once in this process; a freed slot goes to the waiting callers in turn
 * (one each, round the callers that wait, in the order they first waited); one caller holds at most `perKey` running
 * or waiting; all callers together at most `waiting` waiting, none longer than `maxWaitMs`. When the waiting room is
 * full, a caller with fewer waiters than the one with the most takes the place of that one's newest waiter. So a
 * flood, from one address or from many, costs its senders refusals, while any other caller's work gets in and waits
 * one turn of the waiting callers; and however many callers there are, the work in flight (outbound requests,
 * sockets) stays bounded.
 */
export function createFairGate(opts: { slots: number; perKey: number; waiting: number; maxWaitMs: number; onRefused?: (reason: 'share' | 'busy') => void }) {
  interface Waiter {
    start: () => void;
    refuse: (err: AppError) => void;
    timer: NodeJS.Timeout;
  }
  let running = 0;
  let waitingNow = 0;
  const held = new Map<string, number>();
  // Keys with waiters, in turn order: the first key's first waiter goes next, then that key moves to the back.
  const queues = new Map<string, Waiter[]>();

  const hold = (key: string, by: number) => {
    const n = (held.get(key) ?? 0) + by;
    if (n > 0) held.set(key, n);
    else held.delete(key);
  };

  /** A refusal is counted; the count must never keep the caller from its answer. */
  function refused(reason: 'share' | 'busy') {
    try {
      opts.onRefused?.(reason);
    } catch {
      // a metric that failed is not the caller's problem
    }
  }

  function leave(key: string, w: Waiter) {
    const list = queues.get(key)!;
    list.splice(list.indexOf(w), 1);
    if (list.length === 0) queues.delete(key);
    waitingNow--;
    clearTimeout(w.timer);
  }

  function next() {
    while (running < opts.slots) {
      const first = queues.entries().next();
      if (first.done) return;
      const [key, list] = first.value;
      const w = list[0]!;
      leave(key, w);
      if (list.length > 0) {
        queues.delete(key); // to the back of the turn
        queues.set(key, list);
      }
      running++; // taken here: the waiter runs a microtask later, after this loop
      w.start();
    }
  }

  /** Room for `key` in a full waiting room: the newest waiter of the caller with the most, if that is more than key's. */
  function makeRoom(key: string): boolean {
    let longest: [string, Waiter[]] | undefined;
    for (const entry of queues) if (!longest || entry[1].length > longest[1].length) longest = entry;
    if (!longest || longest[1].length <= (queues.get(key)?.length ?? 0) + 1) return false;
    const w = longest[1][longest[1].length - 1]!;
    leave(longest[0], w);
    refused('busy');
    w.refuse(busy());
    return true;
  }

  async function run<T>(key: string, work: () => Promise<T>): Promise<T> {
    if ((held.get(key) ?? 0) >= opts.perKey) {
      refused('share');
      throw new AppError('too_many_checks', 429, 'too many authorization checks from this address at once; try again in a moment', true, { retryAfterS: 1 });
    }
    if (running >= opts.slots) {
      if (waitingNow >= opts.waiting && !makeRoom(key)) {
        refused('busy');
        throw busy();
      }
      hold(key, 1);
      waitingNow++;
      try {
        await new Promise<void>((resolve, reject) => {
          const w: Waiter = {
            start: resolve,
            refuse: reject,
            timer: setTimeout(() => {
              leave(key, w);
              refused('busy');
              reject(busy());
            }, opts.maxWaitMs),
          };
          const list = queues.get(key);
          if (list) list.push(w);
          else queues.set(key, [w]);
        });
      } catch (err) {
        hold(key, -1);
        throw err;
      }
    } else {
      hold(key, 1);
      running++;
    }
    try {
      return await work();
    } finally {
      running--;
      hold(key, -1);
      next();
    }
  }

  return {
    run,
    /** Work running and waiting now (the tests' and the metrics' view). */
    get load() {
      return { running, waiting: waitingNow, callers: held.size };
    },
  };
}

const busy = () =>
  new AppError('checks_busy', 503, 'too many authorization checks are waiting; try again in a moment', true, { retryAfterS: 5 });

export type FairGate = ReturnType<typeof createFairGate>;
