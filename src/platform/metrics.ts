/** A small Prometheus text-format registry: counters, histograms, and gauges collected at scrape time. */
type Labels = Record<string, string>;
const key = (l: Labels) => JSON.stringify(Object.entries(l).sort());
const fmt = (l: Labels) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

type Series = { labels: Labels; counts: number[]; sum: number; count: number };
/** What a process has counted, to be rendered by another (`npm start`'s web process shows its worker's counts too). */
export interface MetricsSnapshot {
  counters: Record<string, Array<{ labels: Labels; value: number }>>;
  histograms: Record<string, Series[]>;
}

export function createMetrics() {
  const blocks: Array<(others: MetricsSnapshot[]) => Promise<string[]> | string[]> = [];
  const snapshots: Array<(into: MetricsSnapshot) => void> = [];

  function counter(name: string, help: string) {
    const values = new Map<string, { labels: Labels; value: number }>();
    snapshots.push((into) => void (into.counters[name] = [...values.values()]));
    blocks.push((others) => {
      const sum = new Map([...values].map(([k, v]) => [k, { ...v }]));
      for (const o of others) for (const v of o.counters[name] ?? []) {
        const k = key(v.labels);
        sum.set(k, { labels: v.labels, value: (sum.get(k)?.value ?? 0) + v.value });
      }
      return [`# HELP ${name} ${help}`, `# TYPE ${name} counter`, ...[...sum.values()].map((v) => `${name}${fmt(v.labels)} ${v.value}`)];
    });
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
    const series = new Map<string, Series>();
    snapshots.push((into) => void (into.histograms[name] = [...series.values()]));
    blocks.push((others) => {
      const out = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
      const all = new Map([...series].map(([k, s]) => [k, { ...s, counts: [...s.counts] }]));
      for (const o of others) for (const s of o.histograms[name] ?? []) {
        const k = key(s.labels);
        const mine = all.get(k);
        if (!mine) all.set(k, { ...s, counts: [...s.counts] });
        else (mine.counts.forEach((_, i) => (mine.counts[i]! += s.counts[i] ?? 0)), (mine.sum += s.sum), (mine.count += s.count));
      }
      for (const s of all.values()) {
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

  /** The text format; `others`' counts (other processes of this service) are added to this process's own. */
  async function render(others: MetricsSnapshot[] = []): Promise<string> {
    const parts = await Promise.all(blocks.map((b) => b(others)));
    return parts.flat().join('\n') + '\n';
  }

  function snapshot(): MetricsSnapshot {
    const into: MetricsSnapshot = { counters: {}, histograms: {} };
    for (const s of snapshots) s(into);
    return into;
  }

  return { counter, histogram, gauge, render, snapshot };
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
