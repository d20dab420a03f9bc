import type { Log } from '../platform/logger.js';

/**
 * Runs `step` again and again while it finds work; when idle, sleeps until kicked or `idleMs` passes.
 * A kick that arrives while a step runs is remembered, never lost.
 */
export function createLoop(opts: { name: string; step: () => Promise<number>; idleMs: number; log: Log }) {
  let running = false;
  let kicked = false;
  let wake: (() => void) | undefined;
  let done: Promise<void> | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      wake = () => {
        clearTimeout(t);
        r();
      };
    }).finally(() => (wake = undefined));

  function kick() {
    kicked = true;
    wake?.();
  }

  function start() {
    if (running) return;
    running = true;
    done = (async () => {
      while (running) {
        kicked = false;
        let n = 0;
        try {
          n = await opts.step();
        } catch (err) {
          opts.log.error({ err: String(err) }, `${opts.name}.error`);
        }
        if (n > 0 || !running) continue;
        if (!kicked) await sleep(opts.idleMs);
      }
    })();
  }

  async function stop() {
    running = false;
    wake?.();
    await done;
  }

  return { start, stop, kick };
}
