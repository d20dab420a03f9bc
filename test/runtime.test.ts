import { afterEach, describe, expect, it } from 'vitest';
import { startBackground } from '../src/runtime.js';
import { createTestContext, type TestContext } from './helpers/app.js';
import { eventually } from './helpers/wait.js';

describe('background loops', () => {
  let ctx: TestContext | undefined;
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    await ctx?.close();
  });

  it('a statuses job still running is not started again by the next tick of its schedule', async () => {
    ctx = await createTestContext({ env: { STATUS_POLL_CRON: '* * * * * *', TOKEN_KEEPER_CRON: '* * * * * *' } });
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
    release();
    // Once the hung run ends, the schedule runs the job again.
    await eventually(() => statusRuns >= 2, 'the statuses job to run again after the hung run ended', 20_000);
  });
});
