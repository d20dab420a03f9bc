import { afterEach, describe, expect, it } from 'vitest';
import type { FakeBitrix24, FakeOptions, FakePortal } from './fakes/bitrix24.js';
import { TEST_SECRET_KEY, type TestContext } from './helpers/app.js';
import { installedPortal } from './helpers/installed-portal.js';
import { B24Error } from '../src/bitrix/errors.js';
import type { Portal } from '../src/portals/portal-repo.js';
import { buildDeps } from '../src/deps.js';
import { createLogger } from '../src/platform/logger.js';
import { createTokenRefresher } from '../src/bitrix/token-refresher.js';
import type { TokenStore } from '../src/bitrix/token-store.js';
import { createRestClient } from '../src/bitrix/rest-client.js';
import { createLimiter } from '../src/bitrix/limiter.js';

let fake: FakeBitrix24;
let ctx: TestContext;
let close: (() => Promise<void>) | undefined;

/** An installed portal whose REST calls so far (the install's) are forgotten. */
async function setup(bitrix24: FakeOptions = {}, env: Record<string, string> = {}) {
  const t = await installedPortal({ bitrix24, env });
  ({ fake, ctx, close } = t);
  t.fp.calls.length = 0;
  return { fp: t.fp, portal: t.portal };
}

afterEach(async () => {
  await close?.();
  close = undefined;
});

/** A status.update of a message the portal created (the fake finds no other). */
function status(fp: FakePortal, id: string, s = 'delivered') {
  fp.messages.set(id, { code: 'smsgw_myshop', authorId: 1 });
  return { method: 'messageservice.message.status.update', params: { CODE: 'smsgw_myshop', MESSAGE_ID: id, STATUS: s } };
}

describe('Bitrix24 REST client', () => {
  it('refreshes an expired token exactly once for 20 concurrent calls, and all of them succeed', async () => {
    const { fp, portal } = await setup({ refreshDelayMs: 150 });
    fake.expireAccessTokens(fp);
    const before = fake.refreshCount;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => ctx.deps.rest.call(portal.id, 'messageservice.message.status.update', status(fp, `m${i}`).params)),
    );
    expect(results).toEqual(Array(20).fill(true));
    expect(fake.refreshCount - before).toBe(1);
    expect(fp.statusUpdates).toHaveLength(20);
    // The rotated pair is stored: the next call needs no refresh.
    await ctx.deps.rest.call(portal.id, 'user.admin');
    expect(fake.refreshCount - before).toBe(1);
  });

  it('refreshes once even when two processes sharing the database hit the expired token together', async () => {
    const { fp, portal } = await setup({ refreshDelayMs: 150 });
    // A second process (e.g. `npm run worker` beside the web server): same database, its own memory.
    const other = buildDeps({ config: ctx.deps.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY });
    fake.expireAccessTokens(fp);
    const before = fake.refreshCount;
    const calls = [ctx.deps, other].flatMap((d) => Array.from({ length: 10 }, () => d.rest.call(portal.id, 'user.admin')));
    expect(await Promise.all(calls)).toEqual(Array(20).fill(true));
    expect(fake.refreshCount - before).toBe(1);
  });

  it('a process that finds the refresh lease free only after another process rotated the pair uses the new pair, not the dead one (the portal stays active)', async () => {
    const { fp, portal } = await setup();
    // Process B: its own refresher over the same database. Right before each of its lease attempts, process A
    // (ctx.deps) runs a whole rotation: the pair B saw before that is dead by the time B holds the lease.
    const raceFirst = (): TokenStore => {
      let raced = false;
      return {
        ...ctx.deps.portals,
        takeRefreshLease: async (id, now, ttl) => {
          if (!raced) (raced = true, await ctx.deps.refresher.refresh(id));
          return ctx.deps.portals.takeRefreshLease(id, now, ttl);
        },
      };
    };
    const outcomes: string[] = [];
    const b = (portals: TokenStore) => createTokenRefresher({ portals, oauth: ctx.deps.oauth, clock: Date.now, log: createLogger('silent'), onOutcome: (o) => outcomes.push(o) });

    // A caller with the access token Bitrix24 refused: A's rotation already replaced it, so B has nothing to do.
    const refused = (await ctx.deps.portals.tokens(portal.id))!.accessToken;
    const before = fake.refreshCount;
    await b(raceFirst()).refresh(portal.id, refused);
    expect(outcomes).toEqual(['already_rotated']);
    expect(fake.refreshCount - before).toBe(1); // A's only

    // A forced rotation (the token keeper's): B rotates the pair A stored, which is alive.
    await b(raceFirst()).refresh(portal.id);
    expect(outcomes).toEqual(['already_rotated', 'refreshed']);
    expect(fake.refreshCount - before).toBe(3);

    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
    expect(await ctx.deps.rest.call(portal.id, 'messageservice.message.status.update', status(fp, 'after-race').params)).toBe(true);
  });

  it('another process rotating the pair between our refresh and our retry does not end the portal: the call goes out again with the stored token', async () => {
    const { fp, portal } = await setup();
    fake.expireAccessTokens(fp);
    const before = fake.refreshCount;
    let raced = false;
    // Right after our call read the pair its own refresh stored, another process rotates the chain.
    const portals: TokenStore = {
      ...ctx.deps.portals,
      async tokens(id) {
        const read = await ctx.deps.portals.tokens(id);
        if (!raced && fake.refreshCount > before) (raced = true, await ctx.deps.refresher.refresh(id, read!.accessToken));
        return read;
      },
    };
    const rest = createRestClient({
      portals, refresher: ctx.deps.refresher, oauth: ctx.deps.oauth, limiter: createLimiter({ burst: 50, perSecond: 2 }),
      dispatcher: ctx.deps.dispatcher, timeoutMs: 3000, clock: Date.now, log: createLogger('silent'), backoffMs: () => 1,
    });
    expect(await rest.call(portal.id, 'messageservice.message.status.update', status(fp, 'rotated').params)).toBe(true);
    expect(raced).toBe(true);
    expect(await ctx.deps.portals.findById(portal.id)).toMatchObject({ status: 'active', inactiveReason: null });
  });

  it('marks the portal inactive on invalid_grant, without a retry loop', async () => {
    const { fp, portal } = await setup();
    fake.expireAccessTokens(fp);
    fake.revokeRefreshTokens(fp);
    const err: B24Error = await ctx.deps.rest.call(portal.id, 'user.admin').catch((e: B24Error) => e) as B24Error;
    expect(err).toBeInstanceOf(B24Error);
    expect(err.code).toBe('invalid_grant');
    const after = await ctx.deps.portals.findById(portal.id);
    expect(after).toMatchObject({ status: 'inactive', inactiveReason: expect.stringContaining('invalid_grant') });
    expect(fp.calls).toHaveLength(0); // the expired call never reached a method (401 before dispatch)
    // Further calls are refused locally instead of hammering Bitrix24.
    await expect(ctx.deps.rest.call(portal.id, 'user.admin')).rejects.toMatchObject({ code: 'PORTAL_INACTIVE' });
  });

  it('marks the portal inactive on PAYMENT_REQUIRED', async () => {
    const { fp, portal } = await setup();
    fp.failNext.push({ status: 402, body: { error: 'PAYMENT_REQUIRED', error_description: 'Payment required' } });
    await expect(ctx.deps.rest.call(portal.id, 'user.admin')).rejects.toMatchObject({ code: 'PAYMENT_REQUIRED', kind: 'terminal' });
    expect((await ctx.deps.portals.findById(portal.id))?.inactiveReason).toMatch(/^PAYMENT_REQUIRED/);
  });

  // OPERATION_TIME_LIMIT is not retried within the call: it pauses the method (test/on-premise.test.ts).
  it('backs off and retries on QUERY_LIMIT_EXCEEDED and 5xx', async () => {
    const { fp, portal } = await setup();
    fp.failNext.push(
      { status: 503, body: { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' } },
      { status: 500, body: { error: 'INTERNAL_SERVER_ERROR', error_description: 'Internal server error' } },
    );
    expect(await ctx.deps.rest.call(portal.id, 'user.admin')).toBe(true);
    expect(fp.failNext).toHaveLength(0);
  });

  it('gives up after its retries with a retryable error', async () => {
    const { fp, portal } = await setup();
    for (let i = 0; i < 10; i++) fp.failNext.push({ status: 503, body: { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' } });
    await expect(ctx.deps.rest.call(portal.id, 'user.admin')).rejects.toMatchObject({ code: 'QUERY_LIMIT_EXCEEDED', kind: 'retryable' });
    expect(fp.failNext).toHaveLength(5); // 1 try + 4 retries
  });

  it('keeps 200 calls to one portal inside the bucket: zero QUERY_LIMIT_EXCEEDED at the fake', async () => {
    const { fp, portal } = await setup({ burst: 20, perSecond: 50 }, { B24_RATE_BURST: '20', B24_RATE_PER_SECOND: '50' });
    fp.bucket.level = 0;
    fp.maxLevel = 0;
    await Promise.all(Array.from({ length: 200 }, () => ctx.deps.rest.call(portal.id, 'user.admin')));
    expect(fp.calls.filter((c) => c.method === 'user.admin')).toHaveLength(200);
    expect(fp.limitHits).toBe(0);
    expect(fp.maxLevel).toBeLessThanOrEqual(20);
  });

  it('batches up to 50 commands a call, with a result or an error per command', async () => {
    const { fp, portal } = await setup();
    const commands = Array.from({ length: 120 }, (_, i) => status(fp, `m${i}`, i === 7 ? 'Delivered' : 'delivered'));
    const results = await ctx.deps.rest.batch(portal.id, commands);
    expect(fp.calls.filter((c) => c.method === 'batch')).toHaveLength(3);
    expect(results).toHaveLength(120);
    expect(results[7]).toEqual({ ok: false, error: 'ERROR_MESSAGE_STATUS_INCORRECT', description: 'Message status incorrect!' });
    expect(results.filter((r) => r.ok)).toHaveLength(119);
    expect(fp.statusUpdates.map((s) => s.MESSAGE_ID)).toContain('m119');
  });

  it('follows a 302 from a renamed portal with a POST and stores the new endpoint', async () => {
    const { fp, portal } = await setup();
    await fake.movePortal(fp);
    expect(await ctx.deps.rest.call(portal.id, 'messageservice.message.status.update', status(fp, 'moved1').params)).toBe(true);
    expect(fp.statusUpdates.map((s) => s.MESSAGE_ID)).toEqual(['moved1']);
    const moved = await ctx.deps.portals.findById(portal.id);
    expect(moved).toMatchObject({ restEndpoint: fp.endpoint, domain: fp.domain });
  });

  it('a renamed portal whose stored access token expired meanwhile: the token is refreshed once and the call reaches the new address', async () => {
    const { fp, portal } = await setup();
    await fake.movePortal(fp); // the old address answers 302, confirmed with app.info for the token we hold
    fake.expireAccessTokens(fp); // which has expired: app.info answers expired_token
    const before = fake.refreshCount;
    expect(await ctx.deps.rest.call(portal.id, 'messageservice.message.status.update', status(fp, 'moved2').params)).toBe(true);
    expect(fp.statusUpdates.map((s) => s.MESSAGE_ID)).toEqual(['moved2']);
    expect(fake.refreshCount - before).toBe(1);
    expect(await ctx.deps.portals.findById(portal.id)).toMatchObject({ restEndpoint: fp.endpoint, status: 'active' });
  });

  it('answers a permanent error without retrying', async () => {
    const { fp, portal } = await setup();
    await expect(ctx.deps.rest.call(portal.id, 'no.such.method')).rejects.toMatchObject({ code: 'ERROR_METHOD_NOT_FOUND', kind: 'permanent' });
    expect(fp.calls.filter((c) => c.method === 'no.such.method')).toHaveLength(1);
  });
});
