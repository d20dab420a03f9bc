/** A small Prometheus text-format registry: counters, histograms, and gauges collected at scrape time. */
type Labels = Record<string, string>;
const key = (l: Labels) => JSON.stringify(Object.entries(l).sort());
const fmt = (l: Labels) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

export function createMetrics() {
  const blocks: Array<() => Promise<string[]> | string[]> = [];

  function counter(name: string, help: string) {
    const values = new Map<string, { labels: Labels; value: number }>();
    blocks.push(() => [`# HELP ${name} ${help}`, `# TYPE ${name} counter`, ...[...values.values()].map((v) => `${name}${fmt(v.labels)} ${v.value}`)]);
    return {
      inc(labels: Labels = {}, n = 1) {
        const k = key(labels);
        const v = values.get(k) ?? { labels, value: 0 };
        v.value += n;
        values.set(k, v);
      },
    };
  }

  function histogram(name: string, help: string, buckets: number[]) {
    const series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
    blocks.push(() => {
      const out = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
      for (const s of series.values()) {
        buckets.forEach((b, i) => out.push(`${name}_bucket${fmt({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
        out.push(`${name}_bucket${fmt({ ...s.labels, le: '+Inf' })} ${s.count}`, `${name}_sum${fmt(s.labels)} ${s.sum}`, `${name}_count${fmt(s.labels)} ${s.count}`);
      }
      return out;
    });
    return {
      observe(value: number, labels: Labels = {}) {
        const k = key(labels);
        const s = series.get(k) ?? { labels, counts: buckets.map(() => 0), sum: 0, count: 0 };
        buckets.forEach((b, i) => value <= b && s.counts[i]!++);
        s.sum += value;
        s.count++;
        series.set(k, s);
      },
    };
  }

  /** A gauge whose samples are read when scraped (e.g. from the database). */
  function gauge(name: string, help: string, collect: () => Promise<Array<{ labels: Labels; value: number }>>) {
    blocks.push(async () => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...(await collect()).map((s) => `${name}${fmt(s.labels)} ${s.value}`)]);
  }

  async function render(): Promise<string> {
    const parts = await Promise.all(blocks.map((b) => b()));
    return parts.flat().join('\n') + '\n';
  }

  return { counter, histogram, gauge, render };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * A costly read shared by scrapes: parallel callers share the run in flight, and a finished result is reused
 * for `maxAgeMs`, so however often /metrics is scraped the database sees at most one such query per interval.
 * A failed run is not kept: the next scrape tries again.
 */
export function sharedRead<T>(read: () => Promise<T>, o: { maxAgeMs: number; now?: () => number }): () => Promise<T> {
  const now = o.now ?? (() => performance.now());
  let last: { value: Promise<T>; doneAt?: number } | undefined;
  return () => {
    if (last && (last.doneAt === undefined || now() - last.doneAt < o.maxAgeMs)) return last.value;
    const entry: { value: Promise<T>; doneAt?: number } = { value: read() };
    last = entry;
    entry.value.then(
      () => void (entry.doneAt = now()),
      () => void (last === entry && (last = undefined)),
    );
    return entry.value;
  };
}
