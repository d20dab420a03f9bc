import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Deps } from './deps.js';
import type { MetricsSnapshot } from './platform/metrics.js';

/** Messages between `npm start`'s web process and its background process. */
type ToChild = { t: 'queued' } | { t: 'settled' } | { t: 'metrics'; id: number };
type ToParent = { t: 'metrics'; id: number; snapshot: MetricsSnapshot };

const WAKE_COALESCE_MS = 5;

/*
 * WORKER_NICENESS (0 by default) makes the background process that much nicer than the web process: when both want
 * a busy core, the kernel gives it to intake first. It was 10 by default, and that was a bad trade:
 * - on a 2-core machine kept 80–90 % busy at 1,000 req/s, it lowered /handler's p50 5.1 → 2.7 ms (medians of 8 + 8
 *   alternated runs) and its p99 117 → 28 ms, but the p99 only in 5 pairs of 8;
 * - on a faster machine, at 55 % busy, it changed neither (p99 6.0–9.0 ms either way, 3 + 3 runs);
 * - end to end through Kannel on that machine it cut throughput from a median of 1,202 to 1,003 messages/s (5 + 5
 *   alternated runs, lower in 4 pairs of 5; 1,314 / 1,333 → 756 / 765 in two earlier pairs, nice 4 like 10): while
 *   intake keeps both cores busy, the worker, which every message waits on, gets a small share of one.
 * Never starved even at 19: it still gets a share of a contended core, and the other core whenever intake leaves it.
 */

const entry = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './worker-main.ts' : './worker-main.js', import.meta.url));

/**
 * `npm start` on a machine with more than one core: the send worker, reporter and jobs run in a child process
 * (`npm run worker`'s entry point) on the other core. The web process wakes it the moment intake stores a message
 * or a report is due (IPC, at most one message per turn of the event loop), shows its counters on /metrics, and
 * starts it again if it dies. The child exits when the web process goes away, even after a kill -9.
 */
export function forkBackground(deps: Deps) {
  const { log } = deps;
  let child: ChildProcess | undefined;
  let stopping = false;
  let restarts = 0;
  const due = new Set<'queued' | 'settled'>();
  let flushQueued = false;
  const waiting = new Map<number, (s: MetricsSnapshot | undefined) => void>();
  let nextId = 0;

  function start() {
    const c = fork(entry, [], { stdio: 'inherit' });
    child = c;
    if (c.pid && deps.config.WORKER_NICENESS > 0) lowerPriority(c.pid, Math.min(19, getPriority() + deps.config.WORKER_NICENESS));
    c.on('message', (m: ToParent) => {
      if (m?.t === 'metrics') waiting.get(m.id)?.(m.snapshot);
    });
    c.on('exit', (code, signal) => {
      if (child === c) child = undefined;
      for (const [id, resolve] of waiting) (waiting.delete(id), resolve(undefined));
      if (stopping) return;
      // A crash loop must not spin: 1 s, 2 s, 4 s … at most 30 s between starts.
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(restarts++, 5));
      log.error({ code, signal, restartInMs: delay }, 'background.exited');
      setTimeout(() => !stopping && start(), delay).unref();
    });
    c.once('message', () => (restarts = 0)); // it answered once: it is up
  }

  /**
   * Linux's niceness is each thread's: the main thread first (threads it starts from now on inherit it), then any it
   * already started (V8's helpers, if the child got that far before this ran).
   */
  function lowerPriority(pid: number, nice: number) {
    try {
      setPriority(pid, nice);
      for (const tid of readdirSync(`/proc/${pid}/task`)) if (Number(tid) !== pid) setPriority(Number(tid), nice);
    } catch (err) {
      // It runs all the same, only without the lower priority (or it has already exited, which 'exit' reports).
      log.warn({ pid, nice, err: String(err) }, 'background.priority.not_set');
    }
  }

  function send(m: ToChild) {
    if (child?.connected) child.send(m, (err) => err && log.debug({ err: String(err) }, 'background.send.failed'));
  }

  // At most one notice of each kind per WAKE_COALESCE_MS: at 1,000 SMS a second, one per turn of the event loop woke
  // the worker for a claim of one or two messages each time (the worker's CPU 390 → 340 ms a second, 3+3 runs).
  deps.wake.forwardTo((what) => {
    due.add(what);
    if (flushQueued) return;
    flushQueued = true;
    const flushNow = () => {
      flushQueued = false;
      for (const t of due) send({ t });
      due.clear();
    };
    setTimeout(flushNow, WAKE_COALESCE_MS);
  });

  deps.metrics.addPeer(
    () =>
      new Promise((resolve) => {
        if (!child?.connected) return resolve(undefined);
        const id = ++nextId;
        const timer = setTimeout(() => (waiting.delete(id), resolve(undefined)), 1000);
        waiting.set(id, (s) => (clearTimeout(timer), waiting.delete(id), resolve(s)));
        send({ t: 'metrics', id });
      }),
  );

  start();
  return async function stop() {
    stopping = true;
    const c = child;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 15_000))]);
    if (c.exitCode === null) c.kill('SIGKILL');
  };
}

/** The child's side: wake-ups and metric requests from the web process; gone with it. */
export function serveParent(deps: Deps, shutdown: () => void) {
  if (!process.send) return;
  // The web process may be gone before this one is up (it failed to start): without a callback, a send on the
  // closed channel is an uncaught ERR_IPC_CHANNEL_CLOSED.
  const reply = (m: ToParent | { t: 'up' }) => process.send!(m, undefined, {}, () => {});
  process.on('message', (m: ToChild) => {
    if (m?.t === 'queued') deps.worker.kick();
    else if (m?.t === 'settled') deps.reporter.kick();
    else if (m?.t === 'metrics') reply({ t: 'metrics', id: m.id, snapshot: deps.metrics.snapshot() });
  });
  process.on('disconnect', shutdown);
  if (!process.connected) return shutdown();
  reply({ t: 'up' });
}
