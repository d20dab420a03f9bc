/**
 * The tests' only waits. `eventually` polls, bounded, for what the test does not drive itself (a real Kannel, a
 * child process, the app's own loops started with start()); `untilIdle` steps a loop the test does drive.
 */

/**
 * Waits until `check` holds, polling every 50 ms, and fails after `timeoutMs` naming `what`. A check that throws
 * counts as not yet (a server still starting refuses connections); the last error is quoted if time runs out.
 */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
}

/**
 * Runs `loop.runOnce()` until a step finds nothing to do, and fails instead of spinning when it still finds work
 * after `maxSteps` steps. Returns how many steps did work.
 */
export async function untilIdle(loop: { runOnce: () => Promise<number> }, maxSteps = 100): Promise<number> {
  for (let step = 0; step < maxSteps; step++) if ((await loop.runOnce()) === 0) return step;
  throw new Error(`still busy after ${maxSteps} steps`);
}
