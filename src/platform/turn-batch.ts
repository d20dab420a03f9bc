/**
 * Group commit by turn of the event loop: the calls made in one turn are handed to `many` together (one SQLite
 * transaction instead of one per call), each caller answered with its own result. If the group fails, each item is
 * tried alone, so one bad row never fails its neighbours.
 */
export function perTurn<I, R>(many: (items: I[]) => Promise<R[]>): (item: I) => Promise<R> {
  let pending: Array<{ item: I; resolve: (r: R) => void; reject: (err: unknown) => void }> = [];
  async function flush() {
    const batch = pending;
    pending = [];
    try {
      const results = await many(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(results[i]!));
    } catch {
      for (const b of batch) await many([b.item]).then((r) => b.resolve(r[0]!), b.reject);
    }
  }
  return (item) => new Promise<R>((resolve, reject) => {
    pending.push({ item, resolve, reject });
    if (pending.length === 1) setImmediate(flush);
  });
}
