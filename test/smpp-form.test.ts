import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import type { TestContext } from './helpers/app.js';
import { formState, openAppPage, openInstallPage, stateFor, submitInstallForm } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { freePort } from './helpers/free-port.js';
import { startSmscSimulator, type SmscSimulator } from './fakes/smsc-simulator.js';

// The install and settings forms with gateway kind `smpp`: what they show, what they refuse, and where they say it.
let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let close: () => Promise<void>;
let smsc: SmscSimulator;

const fields = (o: Record<string, string> = {}) => ({ provider: 'smpp', smpp_url: smsc.url, smpp_system_id: 'shop01', smpp_password: 'secret1', sender: 'MyShop', ...o });
const fieldError = (html: string, field: string) => new RegExp(`id="${field}-error">([^<]*)<`).exec(html)?.[1];

async function installOther(o: Record<string, string>, lang = 'en', c: TestContext = ctx) {
  const other = await fake.addPortal();
  const page = await openInstallPage(c, fake, other, { lang });
  return submitInstallForm(c, formState(page.text), fields(o));
}

beforeEach(async () => {
  smsc = await startSmscSimulator();
  ({ fake, fp, ctx, close } = await installedPortal({ env: { ALLOW_PRIVATE_GATEWAYS: '1' }, install: fields({ smpp_system_type: 'VMA', smpp_tps: '20' }) }));
  smsc.refuseBinds(undefined);
});
afterEach(async () => {
  await close();
  await smsc.close();
});

describe('the install form with SMPP', () => {
  it('offers SMPP with each field explained by an example', async () => {
    const page = await openInstallPage(ctx, fake, await fake.addPortal());
    expect(page.text).toContain('<option value="smpp" >SMPP (SMS centre)</option>');
    for (const f of ['smpp_url', 'smpp_system_id', 'smpp_password', 'smpp_system_type', 'smpp_source_ton', 'smpp_source_npi', 'smpp_tps', 'smpp_window']) {
      expect(page.text).toContain(`name="${f}"`);
    }
    expect(page.text).toContain('e.g. smpp://smpp.example.com:2775');
  });

  it.each([
    ['en', { smpp_password: 'wrong' }, 'smpp_password', 'The SMS centre refused the password'],
    ['ru', { smpp_password: 'wrong' }, 'smpp_password', 'SMS-центр не принял пароль'],
    ['en', { smpp_system_id: 'nobody' }, 'smpp_system_id', 'The SMS centre does not know this system ID'],
    ['ru', { smpp_system_id: 'nobody' }, 'smpp_system_id', 'SMS-центр не знает такой System ID'],
  ])('%s: a bind refused for %j is shown next to %s in plain words', async (lang, o, field, words) => {
    const res = await installOther(o, lang);
    expect(res.status).toBe(422);
    expect(fieldError(res.text, field)).toBe(words);
    expect(res.text).not.toContain('secret1');
  });

  it('ESME_RBINDFAIL is shown next to the password, saying what to check', async () => {
    smsc.refuseBinds(0x0d);
    const res = await installOther({});
    expect(fieldError(res.text, 'smpp_password')).toContain('(ESME_RBINDFAIL): check the system ID and password');
  });

  it('an unreachable centre is shown next to the address', async () => {
    const res = await installOther({ smpp_url: `smpp://127.0.0.1:${await freePort()}` }, 'ru');
    expect(res.status).toBe(422);
    expect(fieldError(res.text, 'smpp_url')).toBe('SMS-центр по этому адресу недоступен: проверьте хост и порт и разрешает ли провайдер подключения с этого сервиса');
  });

  it.each([
    [{ smpp_url: 'http://smsc.example.com:2775' }, 'smpp_url'],
    [{ smpp_url: 'smpp://user:pw@smsc.example.com:2775' }, 'smpp_url'],
    [{ smpp_system_id: '' }, 'smpp_system_id'],
    [{ smpp_system_id: 'a'.repeat(16) }, 'smpp_system_id'],
    [{ smpp_password: '' }, 'smpp_password'],
    [{ smpp_password: '123456789' }, 'smpp_password'],
    [{ smpp_system_type: 'x'.repeat(13) }, 'smpp_system_type'],
    [{ smpp_source_ton: '9' }, 'smpp_source_ton'],
    [{ smpp_source_npi: '2' }, 'smpp_source_npi'],
    [{ smpp_tps: '0' }, 'smpp_tps'],
    [{ smpp_window: '1000' }, 'smpp_window'],
  ])('refuses %j without connecting, at %s', async (o, field) => {
    const before = smsc.stats.connections;
    const res = await installOther(o);
    expect(res.status).toBe(422);
    expect(fieldError(res.text, field)).toBeTruthy();
    expect(smsc.stats.connections).toBe(before);
  });
});

describe('internal addresses', () => {
  it('are refused on the form like Kannel URLs, and nothing connects, unless ALLOW_PRIVATE_GATEWAYS', async () => {
    const strict = await installedPortal({ install: { provider: 'smsru', api_key: 'k', sender: '' } });
    try {
      const before = smsc.stats.connections;
      for (const url of [smsc.url, `smpp://localhost:${smsc.port}`, `smpp://[::1]:${smsc.port}`, 'smpp://169.254.169.254:2775', 'smpp://10.0.0.5:2775']) {
        const page = await openInstallPage(strict.ctx, strict.fake, await strict.fake.addPortal());
        const res = await submitInstallForm(strict.ctx, formState(page.text), fields({ smpp_url: url }));
        expect(res.status).toBe(422);
        expect(fieldError(res.text, 'smpp_url')).toBe('This address is on a private or local network, which this service does not reach');
      }
      expect(smsc.stats.connections).toBe(before);
    } finally {
      await strict.close();
    }
  });
});

describe('the settings page with SMPP', () => {
  const post = (f: Record<string, string>) => request(ctx.app).post('/app/gateway').type('form').send(f);
  const saved = async () => (await ctx.deps.settings.get((await ctx.deps.portals.findByMemberId(fp.memberId))!.id))!.credentials;

  it('shows the saved account without the password, and does not bind to show a balance', async () => {
    const binds = smsc.binds.length;
    const page = await openAppPage(ctx, fake, fp);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`value="${smsc.url}"`);
    expect(page.text).toContain('value="shop01"');
    expect(page.text).toContain('value="VMA"');
    expect(page.text).toContain('value="20"');
    expect(page.text).not.toContain('secret1');
    expect(page.text).not.toContain('id="balance"');
    expect(smsc.binds.length).toBe(binds);
  });

  it('an empty password keeps the saved one while the connection is the same; the pace and window may change', async () => {
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
    const res = await post({ state, ...fields({ smpp_password: '', smpp_system_type: 'VMA', smpp_tps: '5', smpp_window: '3' }), default_country: 'RU' });
    expect(res.status).toBe(200);
    expect(await saved()).toMatchObject({ password: 'secret1', tps: '5', window: '3', system_type: 'VMA' });
  });

  it('a changed address, system id or system type needs the password again', async () => {
    const changes: Array<Record<string, string>> = [{ smpp_system_id: 'shop02' }, { smpp_system_type: '' }, { smpp_url: `smpp://127.0.0.1:${smsc.port + 1}` }];
    for (const o of changes) {
      const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
      const res = await post({ state, ...fields({ smpp_password: '', smpp_system_type: 'VMA', ...o }), default_country: 'RU' });
      expect(res.status).toBe(422);
      expect(fieldError(res.text, 'smpp_password')).toBe('The address, system ID or system type changed: enter the SMPP password again');
    }
    expect(await saved()).toMatchObject({ system_id: 'shop01', password: 'secret1' });
  });
});
