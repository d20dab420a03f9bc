import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../src/platform/logger.js';
import { startBackground } from '../src/runtime.js';
import { createTestContext, type TestContext } from './helpers/app.js';
import { eventually } from './helpers/wait.js';

describe('background loops', () => {
  let ctx: TestContext | undefined;
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    await ctx?.close();
    vi.restoreAllMocks();
  });

  it('a statuses job still running is not started again by the next tick of its schedule, and the skipped ticks are not console lines', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const consoleWarn = vi.spyOn(console, 'warn');
    const log = createLogger('debug', { write: (l: string) => void lines.push(JSON.parse(l)) });
    ctx = await createTestContext({ log, env: { STATUS_POLL_CRON: '* * * * * *', TOKEN_KEEPER_CRON: '* * * * * *' } });
    let statusRuns = 0;
    let keeperTicks = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const deps = {
      ...ctx.deps,
      // A poll that hangs (a gateway that never answers, say) until the test lets it go.
      statusesJob: { ...ctx.deps.statusesJob, runOnce: async () => { statusRuns++; await held; return { polled: 0, expired: 0 }; } },
      tokenKeeper: { ...ctx.deps.tokenKeeper, runOnce: async () => { keeperTicks++; return { refreshed: 0, failed: 0 }; } },
    } as typeof ctx.deps;
    stop = startBackground(deps);
    // Both run every second; three ticks of the keeper mean the statuses schedule ticked at least twice more.
    await eventually(() => keeperTicks >= 3 && statusRuns >= 1, 'three ticks of the schedules', 20_000);
    expect(statusRuns).toBe(1);
    // Each skipped tick is a debug line of ours, not a WARN on the console.
    expect(consoleWarn).not.toHaveBeenCalled();
    expect(lines.filter((l) => l.msg === 'cron.tick_skipped').length).toBeGreaterThanOrEqual(1);
    expect(lines.filter((l) => l.msg === 'cron.tick_skipped').every((l) => l.level === 20)).toBe(true);
    release();
    // Once the hung run ends, the schedule runs the job again.
    await eventually(() => statusRuns >= 2, 'the statuses job to run again after the hung run ended', 20_000);
  });
});
