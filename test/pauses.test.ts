import { afterEach, describe, expect, it } from 'vitest';
import { createPausing, databasePauses, memoryPauses, type PauseStore } from '../src/bitrix/pauses.js';
import { B24Error } from '../src/bitrix/errors.js';
import { createLogger } from '../src/platform/logger.js';
import { createTestDb } from './helpers/db.js';

let drop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await drop?.();
  drop = undefined;
});

const stores: Array<[string, () => Promise<PauseStore>]> = [
  ['in memory', async () => memoryPauses()],
  ['in the database (shared by processes)', async () => {
    const t = await createTestDb();
    drop = () => t.drop();
    const now = Date.UTC(2026, 11, 2, 12);
    await t.db('portals').insert({ id: 1, member_id: 'm1', domain: 'a.bitrix24.ru', rest_endpoint: 'https://a.bitrix24.ru/rest/', handler_key_hash: 'h', handler_key_enc: 'x', installed_at: now, updated_at: now });
    return databasePauses(t.db);
  }],
];

describe.each(stores)('pauses %s', (_name, makeStore) => {
  it('a call that went out after a pause ended and then succeeded leaves alone a pause another process stored meanwhile', async () => {
    const now = Date.UTC(2026, 11, 2, 12);
    const store = await makeStore();
    const log = createLogger('silent');
    const a = createPausing({ store, clock: () => now, log });
    const b = createPausing({ store, clock: () => now, log });
    // An OVERLOAD_LIMIT pause of an hour ago has ended; it stays stored (its strikes count) until a call works.
    await store.save({ portalId: 1, scope: '*', reason: 'OVERLOAD_LIMIT', since: now - 3_600_000, strikes: 1, until: now - 1 });
    const gateA = await a.gate(1, 'batch');
    expect(gateA.refused).toBeUndefined(); // process A's call goes out
    // Process B's call is refused: Bitrix24 blocked the portal again. B stores the next, longer pause.
    const gateB = await b.gate(1, 'batch');
    await b.record(1, 'batch', new B24Error('OVERLOAD_LIMIT', 'blocked', 'retryable', 401), gateB.known);
    // A's call, which reached Bitrix24 before the block, answers with a result.
    await a.resume(1, gateA.known);
    expect(await store.running(now)).toMatchObject([{ portalId: 1, scope: '*', reason: 'OVERLOAD_LIMIT', strikes: 2 }]);
    expect((await a.gate(1, 'batch')).refused).toMatchObject({ code: 'PORTAL_PAUSED' });
  });

  it('a call that succeeds after a pause ended clears it: the next block starts again at the first step', async () => {
    const now = Date.UTC(2026, 11, 2, 12);
    const store = await makeStore();
    const a = createPausing({ store, clock: () => now, log: createLogger('silent') });
    await store.save({ portalId: 1, scope: '*', reason: 'OVERLOAD_LIMIT', since: now - 3_600_000, strikes: 3, until: now - 1 });
    const gate = await a.gate(1, 'batch');
    await a.resume(1, gate.known);
    expect(await store.find(1, 'batch')).toEqual([]);
  });
});
