import { afterEach, beforeEach, expect, it } from 'vitest';
import { createGatewayAddressCheck } from '../src/platform/address-guard.js';
import { createLogger } from '../src/platform/logger.js';
import { guardedConnect } from '../src/gateways/smpp/connect.js';
import { createSmppPool, type LateOutcome, type SmppReceiptSink } from '../src/gateways/smpp/pool.js';
import { createSmppGateway } from '../src/gateways/smpp/smpp.js';
import { ESME, startSmscSimulator, type SmscSimulator } from './fakes/smsc-simulator.js';
import { eventually } from './helpers/wait.js';

const log = createLogger('silent');
let smsc: SmscSimulator;
let pool: ReturnType<typeof createSmppPool>;
const lateAnswers: LateOutcome[] = [];
const sink: SmppReceiptSink = { accepted: async () => {}, receipt: async () => {}, late: async (_p, _m, o) => void lateAnswers.push(o) };
beforeEach(async () => {
  lateAnswers.length = 0;
  smsc = await startSmscSimulator({ idFormat: 'hex' });
  pool = createSmppPool({
    connect: guardedConnect(createGatewayAddressCheck({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup: async () => [] })),
    log, sink, random: () => 0.5,
    options: { binds: 1, timeoutMs: 1_000, enquireLinkMs: 30_000, idleMs: 60_000, reconnectBaseMs: 50, reconnectCapMs: 200 },
  });
});
afterEach(async () => {
  await pool.close();
  await smsc.close();
});

/** A message's later part refused by the centre with a passing fault: tried again after pauses, then given up as incomplete. */
it('a later part refused with a temporary error (ESME_RSYSERR) is tried again after pauses, not at the account\'s full pace, and the failure names the centre\'s error', async () => {
  const gw = createSmppGateway({ pool, portalId: 1, timeoutMs: 1_000, log,
    credentials: { url: `smpp://127.0.0.1:${smsc.port}`, system_id: 'shop01', password: 'secret1', tps: '50' } });
  smsc.refuseNext(ESME.ROK, 1);          // part 1 accepted
  smsc.refuseNext(ESME.RSYSERR, 10_000); // the centre has a passing fault for part 2
  const out = await gw.send({ id: 7, to: '+79991234567', text: 'x'.repeat(200), sender: 'MyShop', dlrUrl: '', unicode: false });
  const part2 = smsc.submits.filter((s) => s.udh?.seq === 2).length;
  expect(out).toMatchObject({ kind: 'permanent', code: 'ESME_RSYSERR' });
  expect(out.text).toContain('part 2 of 2 was not sent');
  // Within its 3 × timeout budget, a try a second at most (the pace would have allowed 150).
  expect(part2).toBeGreaterThanOrEqual(2);
  expect(part2).toBeLessThanOrEqual(5);
}, 20_000);

/** A late "not now" may send the message again only while nothing of it was taken. */
it('a late ESME_RMSGQFUL to the first part lets the message go again; to a later part, after the first was taken, it stays a failure', async () => {
  const gw = createSmppGateway({ pool, portalId: 1, timeoutMs: 1_000, log,
    credentials: { url: `smpp://127.0.0.1:${smsc.port}`, system_id: 'shop01', password: 'secret1', tps: '50' } });
  smsc.answerLate(1_500, ESME.RMSGQFUL);
  expect(await gw.send({ id: 7, to: '+79991234567', text: 'Your code is 1234', sender: 'MyShop', dlrUrl: '', unicode: false })).toMatchObject({ kind: 'unknown' });
  await eventually(() => lateAnswers.length === 1, 'the late answer');
  expect(lateAnswers[0]).toMatchObject({ accepted: false, code: 'ESME_RMSGQFUL', retry: true });

  smsc.refuseNext(ESME.ROK, 1);          // part 1 accepted
  smsc.answerLate(3_500, ESME.RMSGQFUL); // part 2 answered after its 3 × timeout budget
  expect(await gw.send({ id: 8, to: '+79991234567', text: 'x'.repeat(200), sender: 'MyShop', dlrUrl: '', unicode: false })).toMatchObject({ kind: 'unknown' });
  await eventually(() => lateAnswers.length === 2, 'the late answer');
  expect(lateAnswers[1]).toMatchObject({ accepted: false, code: 'ESME_RMSGQFUL', text: expect.stringContaining('part 2 of 2') });
  expect(lateAnswers[1]).not.toHaveProperty('retry');
}, 20_000);
