import { afterEach, describe, expect, it, vi } from 'vitest';
import { startFakeBitrix24, type FakeBitrix24 } from './fakes/bitrix24.js';
import { createListeningContext } from './helpers/server.js';
import { eventually } from './helpers/wait.js';
import { createFairGate } from '../src/platform/fair-gate.js';
import { AppError } from '../src/platform/errors.js';

/** Work that runs until the test lets it finish. */
function heldWork() {
  const started: string[] = [];
  const finish: Array<() => void> = [];
  const work = (name: string) => () => {
    started.push(name);
    return new Promise<string>((r) => finish.push(() => r(name)));
  };
  return { started, work, finishOldest: () => finish.shift()!() };
}
const flush = () => new Promise((r) => setImmediate(r));
const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: AppError) => `${e.status} ${e.code}`);

describe('fair gate', () => {
  afterEach(() => vi.useRealTimers());

  it('runs at most `slots` at once and gives freed slots to the waiting callers in turn', async () => {
    const gate = createFairGate({ slots: 2, perKey: 10, waiting: 20, maxWaitMs: 60_000 });
    const h = heldWork();
    const done: Array<Promise<string>> = [];
    for (let i = 1; i <= 5; i++) done.push(gate.run('flood', h.work(`flood${i}`)));
    done.push(gate.run('b', h.work('b1')), gate.run('c', h.work('c1')), gate.run('b', h.work('b2')));
    await flush();
    expect(h.started).toEqual(['flood1', 'flood2']);
    expect(gate.load).toEqual({ running: 2, waiting: 6, callers: 3 });
    for (let i = 0; i < 6; i++) {
      h.finishOldest();
      await flush();
      expect(gate.load.running).toBe(2);
    }
    // One of each waiting caller per turn: the flood's third waiter does not go before b's and c's first.
    expect(h.started).toEqual(['flood1', 'flood2', 'flood3', 'b1', 'c1', 'flood4', 'b2', 'flood5']);
    h.finishOldest();
    h.finishOldest();
    expect(await Promise.all(done)).toHaveLength(8);
    expect(gate.load).toEqual({ running: 0, waiting: 0, callers: 0 });
  });

  it('refuses a caller over its share with 429 and everyone once the waiting room is full with 503', async () => {
    const gate = createFairGate({ slots: 1, perKey: 2, waiting: 3, maxWaitMs: 60_000 });
    const h = heldWork();
    const a = [gate.run('a', h.work('a1')), gate.run('a', h.work('a2'))];
    const a3 = gate.run('a', h.work('a3'));
    await expect(a3).rejects.toMatchObject({ status: 429, code: 'too_many_checks', details: { retryAfterS: 1 } });
    const others = [gate.run('b', h.work('b1')), gate.run('c', h.work('c1'))];
    await expect(gate.run('d', h.work('d1'))).rejects.toMatchObject({ status: 503, code: 'checks_busy' });
    for (let i = 0; i < 4; i++) {
      h.finishOldest();
      await flush();
    }
    expect(await Promise.all([...a, ...others])).toEqual(['a1', 'a2', 'b1', 'c1']);
    // Shares and room are given back: the refused ones can come again.
    expect(await codeOf(gate.run('a', async () => 'x'))).toBe('ok');
    expect(await codeOf(gate.run('d', async () => 'x'))).toBe('ok');
  });

  it('a full waiting room takes a newcomer in place of the newest waiter of the caller with the most waiting', async () => {
    const gate = createFairGate({ slots: 1, perKey: 10, waiting: 4, maxWaitMs: 60_000, onRefused: () => { throw new Error('a broken metric'); } });
    const h = heldWork();
    const flood = ['x1', 'x2', 'x3', 'x4', 'x5'].map((n) => codeOf(gate.run('x', h.work(n))));
    await flush();
    expect(gate.load).toEqual({ running: 1, waiting: 4, callers: 1 });
    // The room is full of x's waiters: y gets in, and x's newest waiter is refused (the broken metric does not hang it).
    const y = codeOf(gate.run('y', h.work('y1')));
    expect(await flood[4]).toBe('503 checks_busy');
    // x still has the most waiting (3 against y's 1): z takes x4's place.
    const z = codeOf(gate.run('z', h.work('z1')));
    expect(await flood[3]).toBe('503 checks_busy');
    // x2, x3, y1, z1 wait: one waiter more of y's, against x's two, finds no room.
    expect(await codeOf(gate.run('y', h.work('y2')))).toBe('503 checks_busy');
    for (let i = 0; i < 5; i++) {
      h.finishOldest();
      await flush();
    }
    // In turn: x, y, z, then x again.
    expect(h.started).toEqual(['x1', 'x2', 'y1', 'z1', 'x3']);
    expect(await Promise.all([...flood.slice(0, 3), y, z])).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
  });

  it('a waiter past maxWaitMs is refused with 503 and never runs; failed work gives its slot back', async () => {
    vi.useFakeTimers();
    const gate = createFairGate({ slots: 1, perKey: 5, waiting: 5, maxWaitMs: 1_000 });
    const h = heldWork();
    const first = gate.run('a', h.work('a1'));
    const late = codeOf(gate.run('b', h.work('b1')));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await late).toBe('503 checks_busy');
    h.finishOldest();
    await first;
    expect(h.started).toEqual(['a1']);
    expect(gate.load).toEqual({ running: 0, waiting: 0, callers: 0 });
    await expect(gate.run('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.run('b', async () => 'after')).toBe('after');
    expect(gate.load).toEqual({ running: 0, waiting: 0, callers: 0 });
  });
});

describe('OAuth checks that requests ask for', () => {
  let fake: FakeBitrix24;
  let ctx: Awaited<ReturnType<typeof createListeningContext>>;
  afterEach(async () => {
    fake.appInfo.hold = false;
    fake.appInfo.release();
    await ctx.close();
    await fake.close();
  });

  it('a flood of forged frame posts from one address holds 16 checks at the OAuth server at most, gets 429s, and another address still opens its page', async () => {
    fake = await startFakeBitrix24();
    const portal = await fake.addPortal();
    // Behind a proxy on loopback, the client's address comes from X-Forwarded-For (TRUST_PROXY).
    ctx = await createListeningContext({ fake, env: { TRUST_PROXY: 'loopback', B24_TIMEOUT_MS: '60000' } });
    const open = (from: string, token: string) =>
      fetch(`${ctx.publicUrl}/install?DOMAIN=${portal.domain}&PROTOCOL=0&LANG=en`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': from },
        body: new URLSearchParams({ AUTH_ID: token, AUTH_EXPIRES: '3600', REFRESH_ID: 'r', member_id: portal.memberId }).toString(),
      }).then(async (res) => ({ status: res.status, retryAfter: res.headers.get('retry-after'), text: await res.text() }));

    fake.appInfo.hold = true;
    const answers: Array<{ status: number; retryAfter: string | null; text: string }> = [];
    const flood = Array.from({ length: 100 }, (_, i) => open('203.0.113.9', `forged-${i}`).then((a) => answers.push(a)));
    await eventually(() => answers.length === 68 && fake.appInfo.inFlight === 16, '68 refusals and 16 checks held at the OAuth server', 20_000);
    for (const a of answers) {
      expect(a.status).toBe(429);
      expect(a.retryAfter).toBe('1');
      expect(a.text).toContain('Too many sign-ins are being checked right now');
    }
    expect(fake.appInfo.received).toHaveLength(16);

    // The portal's administrator, from another address, while 16 forged checks run and 16 more wait.
    const genuine = fake.issueTokens(portal);
    const page = open('198.51.100.7', genuine.accessToken);
    await eventually(() => ctx.deps.tokenChecks.gate.load.waiting === 17, 'the genuine check to wait its turn', 20_000);
    // Turns: the flood's next waiter, then the genuine one, not after the flood's 16 waiters. (The two leave at
    // once, so either may reach the OAuth server first.)
    fake.appInfo.release(2);
    await eventually(() => fake.appInfo.received.length === 18, 'two more checks to reach the OAuth server', 20_000);
    expect(fake.appInfo.received.slice(16)).toContain(genuine.accessToken);
    expect(fake.appInfo.received.slice(16).filter((t) => t.startsWith('forged-'))).toHaveLength(1);
    fake.appInfo.hold = false;
    fake.appInfo.release();
    const opened = await page;
    expect(opened.status).toBe(200);
    expect(opened.text).toContain('Connect your SMS gateway');
    await Promise.all(flood);
    expect(answers.filter((a) => a.status === 401)).toHaveLength(32);
    expect(fake.appInfo.maxInFlight).toBe(16);
    expect(ctx.deps.tokenChecks.gate.load).toEqual({ running: 0, waiting: 0, callers: 0 });
    // The operator sees the flood.
    const metrics = await (await fetch(`${ctx.publicUrl}/metrics`)).text();
    expect(metrics).toMatch(/^b24_token_checks_refused_total\{reason="share"\} 68$/m);
  });

  it('events share the same checks: an ONAPPUPDATE from an address (an IPv6 /64) over its share is refused with 429 and Retry-After', async () => {
    fake = await startFakeBitrix24();
    const portal = await fake.addPortal();
    ctx = await createListeningContext({ fake, env: { TRUST_PROXY: 'loopback', B24_TIMEOUT_MS: '60000' } });
    fake.appInfo.hold = true;
    // One IPv6 client holds a whole /64: each event from another address in it.
    const event = (i: number) =>
      fetch(`${ctx.publicUrl}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': `2001:db8:1:2::${i.toString(16)}` },
        body: new URLSearchParams({
          event: 'ONAPPUPDATE', 'auth[access_token]': `forged-${i}`, 'auth[refresh_token]': 'r', 'auth[member_id]': portal.memberId, 'auth[domain]': portal.domain,
        }).toString(),
      });
    const held = Array.from({ length: 32 }, (_, i) => event(i));
    await eventually(() => ctx.deps.tokenChecks.gate.load.waiting === 16, 'the address to hold its share', 20_000);
    const over = await event(99);
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBe('1');
    expect(await over.json()).toMatchObject({ error: 'too_many_checks' });
    fake.appInfo.hold = false;
    fake.appInfo.release();
    for (const res of await Promise.all(held)) expect(res.status).toBe(401);
    expect(fake.appInfo.received).not.toContain('forged-99');
  });
});
