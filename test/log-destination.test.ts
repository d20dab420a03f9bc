import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';

/** Runs the fixture in its own node process; returns the numbers of the lines that reached its standard output. */
function linesOut(n: number, how: 'exit' | 'throw') {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/fixtures/log-then-exit.ts', String(n), how], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, seen: r.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i) };
}

it('loses no line written asynchronously when the process exits right after (process.exit or an uncaught error)', () => {
  // ~2.5 MB: far more than one write takes, so most of it is still buffered when the process exits.
  for (const how of ['exit', 'throw'] as const) {
    const { status, seen } = linesOut(10_000, how);
    expect(status).toBe(how === 'exit' ? 0 : 1);
    expect(seen).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  }
}, 60_000);
