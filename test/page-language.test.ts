import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';
import { openAppPage, stateFor } from './helpers/install.js';
import { startFakeKannel } from './fakes/kannel.js';
import { startFakeSmscRu } from './fakes/smscru.js';
import { postSms } from './helpers/sms.js';
import { t as tr } from '../src/web/i18n.js';
import { RECEIPT_STAT } from '../src/gateways/smpp/codes.js';
import { SMSCRU_SEND_ERRORS, smscruStatus, SMSCRU_STATUS } from '../src/gateways/smscru.codes.js';
import { kannelSendText } from '../src/gateways/kannel.codes.js';
import { unknownOutcome } from '../src/gateways/gateway.js';

// Bitrix24 opens the app with ?LANG=ru; the app's forms post to /app/… without it, so every answer to them must
// take the language from somewhere else (the form token) to stay Russian.
let t: InstalledPortal | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("a Russian portal's pages", () => {
  it("refuse an expired form in Russian", async () => {
    let now = Date.now();
    t = await installedPortal({ clock: () => now });
    const { ctx, fake, fp } = t;
    const page = await openAppPage(ctx, fake, fp, { lang: 'ru' });
    expect(page.text).toContain('lang="ru"');
    const state = stateFor(page.text, '/app/senders/add');
    now += 31 * 60_000; // the page stayed open over lunch
    const late = await request(ctx.app).post('/app/senders/add').type('form').send({ state, sender_name: 'Shop2' });
    expect(late.status).toBe(401);
    expect(late.text).toContain('lang="ru"');
    expect(late.text).toContain('Срок действия формы истёк');
  });

  it('refuse an export run too often with a Russian page, not an English page around a Russian sentence', async () => {
    t = await installedPortal();
    const { ctx, fake, fp } = t;
    const state = stateFor((await openAppPage(ctx, fake, fp, { lang: 'ru' })).text, '/app/log');
    for (let i = 0; i < 5; i++) expect((await request(ctx.app).post('/app/log.csv').type('form').send({ state })).status).toBe(200);
    const limited = await request(ctx.app).post('/app/log.csv').type('form').send({ state });
    expect(limited.status).toBe(429);
    expect(limited.text).toContain('lang="ru"');
    expect(limited.text).toContain('Выгрузка журнала уже идёт');
    expect(limited.text).not.toContain('Something went wrong');
  });

  it('explain a refused Kannel login in Russian', async () => {
    const kannel = await startFakeKannel({ username: 'tester', password: 'foobar' });
    try {
      t = await installedPortal({ env: { ALLOW_PRIVATE_GATEWAYS: '1' } }); // the fake Kannel listens on 127.0.0.1
      const { ctx, fake, fp } = t;
      const state = stateFor((await openAppPage(ctx, fake, fp, { lang: 'ru' })).text, '/app/gateway');
      const res = await request(ctx.app).post('/app/gateway').type('form').send({
        state, provider: 'kannel', kannel_url: kannel.url, kannel_username: 'tester', kannel_password: 'wrong', default_country: 'RU',
      });
      expect(res.status).toBe(422);
      expect(res.text).toMatch(/id="kannel_password-error">Kannel не принял имя пользователя или пароль</);
    } finally {
      await kannel.close();
    }
  });

  it('explain a refused SMSC.ru login in Russian', async () => {
    const smsc = await startFakeSmscRu({ accounts: { shop: { password: 's3cret', balance: 500 } } });
    try {
      t = await installedPortal({ env: { SMSCRU_API_URL: smsc.url } });
      const { ctx, fake, fp } = t;
      const state = stateFor((await openAppPage(ctx, fake, fp, { lang: 'ru' })).text, '/app/gateway');
      const res = await request(ctx.app).post('/app/gateway').type('form').send({
        state, provider: 'smscru', smscru_login: 'shop', smscru_password: 'guess', default_country: 'RU',
      });
      expect(res.status).toBe(422);
      expect(res.text).toMatch(/id="smscru_password-error">SMSC.ru не принял логин или пароль/);
    } finally {
      await smsc.close();
    }
  });

  it("explain a bad test-SMS number, and the log's reasons of this service, in Russian", async () => {
    t = await installedPortal();
    const { ctx, fake, fp } = t;
    await postSms(ctx, fp, { to: 'garbage' }); // failed at intake: "invalid phone number: …"
    const page = await openAppPage(ctx, fake, fp, { lang: 'ru' });
    expect(page.text).toMatch(/<td><span class="st st-failed">[^<]*<\/span><\/td><td>неверный номер телефона: номер не удалось распознать<\/td>/);
    const state = stateFor(page.text, '/app/test-sms');
    const res = await request(ctx.app).post('/app/test-sms').type('form').send({ state, phone: 'garbage', text: 'привет' });
    expect(res.status).toBe(422);
    expect(res.text).toMatch(/id="phone-error">Здесь не удалось распознать номер телефона</);
  });

  it("word this service's own log reasons in Russian, and leave a gateway's words as the gateway said them", () => {
    const ru = tr('ru');
    expect(ru.logReason('text too long for this gateway: 4 parts, at most 1')).toBe('слишком длинный текст для этого шлюза: частей 4, допустимо не больше 1');
    expect(ru.logReason('gave up after 5 attempts: the worker stopped before sending')).toBe('отправка прекращена после 5 попыток: обработчик остановился до отправки');
    expect(ru.logReason('gave up after 24 h of retries: Сервис временно недоступен')).toBe('отправка прекращена после 24 ч повторов: Сервис временно недоступен');
    expect(ru.logReason('Absent subscriber')).toBe('Absent subscriber');
    expect(tr('en').logReason('text too long: 12 parts, at most 10')).toBe('text too long: 12 parts, at most 10');
  });

  it('word every failure this service writes from its gateway code tables in Russian, whole (no English left but names)', () => {
    const ru = tr('ru');
    const failures = [
      ...Object.values(RECEIPT_STAT).filter((s) => s.state === 'undelivered' || s.state === 'failed').map((s) => s.text),
      ...Object.entries(SMSCRU_STATUS).filter(([, s]) => s.state === 'undelivered' || s.state === 'failed')
        .flatMap(([code]) => [smscruStatus(Number(code))!.text, smscruStatus(Number(code), 1)!.text, smscruStatus(Number(code), 777)!.text]),
      ...Object.values(SMSCRU_SEND_ERRORS).map((e) => e.text),
      ...[400, 403, 404, 429, 500].map((status) => kannelSendText(status, '')), kannelSendText(403, 'Not routable. Do not try again.'),
      ...[
        'an internal error while sending', 'the gateway gave no result for it', 'SMS.ru answered HTTP 500; it may have taken the message',
        'no answer through the proxy in front of SMSC.ru (HTTP 504)', 'no answer from the SMS centre within 15 s (part 2 of 3)',
        'the connection to the SMS centre ended before it answered', 'unreadable SMS.ru reply (HTTP 200)',
      ].map((why) => (unknownOutcome('X', why) as { text: string }).text),
    ];
    expect(failures.length).toBeGreaterThan(30);
    for (const english of failures) {
      const shown = ru.logReason(english);
      // Left in Latin letters: only names (SMS.ru, SMSC.ru, Kannel, HTTP, sendsms, sms_id, SMS) and Kannel's quoted words.
      const latinWords = shown.replace(/"[^"]*"/g, '').match(/[A-Za-z_]{3,}/g)?.filter((w) => !['SMS', 'SMSC', 'Kannel', 'HTTP', 'sendsms', 'sms_id'].includes(w)) ?? [];
      expect({ english, latinWords }).toEqual({ english, latinWords: [] });
    }
    expect(ru.logReason('not delivered: the subscriber is offline')).toBe('не доставлено: абонент не в сети');
    expect(ru.logReason('outcome unknown: the connection to the SMS centre ended before it answered (part 2 of 3)')).toBe('исход неизвестен: соединение с SMS-центром оборвалось до его ответа (часть 2 из 3)');
    // A gateway's own words after our opening stay as the gateway wrote them.
    expect(ru.logReason('not delivered: Absent subscriber')).toBe('not delivered: Absent subscriber');
  });
});

