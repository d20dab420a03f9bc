import { networkInterfaces } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGatewayDispatcher, GATEWAY_ADDRESS_FORBIDDEN, isForbiddenHostLiteral, isPublicAddress } from '../src/platform/address-guard.js';
import { httpRequest } from '../src/platform/http.js';
import { transportOutcome } from '../src/gateways/gateway.js';
import { startFakeKannel, type FakeKannel } from './fakes/kannel.js';

describe('which addresses a tenant\'s gateway may have', () => {
  it.each([
    '127.0.0.1', '127.8.9.10', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '100.127.255.254',
    '169.254.169.254', '0.0.0.0', '255.255.255.255', '224.0.0.1', '240.0.0.1', '192.0.2.1', '198.18.0.1',
    '::', '::1', 'fc00::1', 'fd00:ec2::254', 'fe80::1', 'fe80::1%eth0', 'ff02::1', '2001:db8::1', '2002:7f00:1::1', '::127.0.0.1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '::ffff:0:7f00:1', '64:ff9b::7f00:1',
  ])('%s is refused', (ip) => expect(isPublicAddress(ip)).toBe(false));

  it.each(['8.8.8.8', '1.1.1.1', '100.128.0.1', '172.32.0.1', '2001:4860:4860::8888', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::8.8.8.8'])(
    '%s is public', (ip) => expect(isPublicAddress(ip)).toBe(true));

  it('refuses on sight what needs no lookup: localhost names and literal internal addresses in any spelling', () => {
    for (const u of ['http://localhost:13013', 'http://LOCALHOST.:1', 'http://kannel.localhost', 'http://127.1', 'http://0x7f.0.0.1', 'http://2130706433',
      'http://[::1]', 'http://[::ffff:127.0.0.1]', 'http://[fd00::1]:80', 'http://169.254.169.254']) {
      expect(isForbiddenHostLiteral(new URL(u).hostname), u).toBe(true);
    }
    for (const u of ['http://kannel.example.com:13013', 'http://8.8.8.8', 'http://[2001:4860:4860::8888]']) expect(isForbiddenHostLiteral(new URL(u).hostname), u).toBe(false);
  });
});

describe('the gateway dispatcher', () => {
  let internal: FakeKannel;
  beforeEach(async () => {
    internal = await startFakeKannel({ behaviour: { kind: 'answer', status: 200, body: 'INTERNAL SERVICE' } });
  });
  afterEach(async () => internal.close());

  const get = (url: string, dispatcher: ReturnType<typeof createGatewayDispatcher>) => httpRequest(url, { method: 'GET' }, { dispatcher, timeoutMs: 2000 });
  const names = (map: Record<string, string[]>) => {
    const asked: string[] = [];
    return { asked, lookup: async (host: string) => (asked.push(host), map[host] ?? []) };
  };

  it('refuses loopback by address, by localhost, by IPv4-mapped IPv6 and by a name that resolves there; nothing reaches the server', async () => {
    const { lookup } = names({ 'kannel.example.test': ['127.0.0.1'], 'mixed.example.test': ['8.8.8.8', '10.0.0.7'], localhost: ['127.0.0.1'] });
    const guard = createGatewayDispatcher({ allowPrivate: false, publicUrl: 'https://sms.example.test', lookup });
    for (const host of ['127.0.0.1', 'localhost', '[::ffff:127.0.0.1]', 'kannel.example.test', 'mixed.example.test']) {
      await expect(get(`http://${host}:${internal.port}/cgi-bin/sendsms`, guard), host).rejects.toMatchObject({ code: GATEWAY_ADDRESS_FORBIDDEN });
    }
    expect(internal.requests).toHaveLength(0);
  });

  it('with private gateways allowed, resolves the name once and connects to the very address it checked', async () => {
    const { asked, lookup } = names({ 'kannel.example.test': ['127.0.0.1'] });
    const guard = createGatewayDispatcher({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup });
    const res = await get(`http://kannel.example.test:${internal.port}/cgi-bin/sendsms`, guard);
    expect(res.status).toBe(200);
    // The system resolver knows no such name: the connection went to the address our lookup returned.
    expect(internal.requests[0]?.host).toBe(`kannel.example.test:${internal.port}`);
    expect(asked.filter((h) => h === 'kannel.example.test')).toEqual(['kannel.example.test']);
  });

  it('refuses this service itself: its host on its own port even when private gateways are allowed, any port otherwise', async () => {
    const allowed = createGatewayDispatcher({ allowPrivate: true, publicUrl: `http://127.0.0.1:${internal.port}` });
    await expect(get(`http://127.0.0.1:${internal.port}/`, allowed)).rejects.toMatchObject({ code: GATEWAY_ADDRESS_FORBIDDEN });
    expect(internal.requests).toHaveLength(0);

    const { lookup } = names({ 'sms.example.com': ['93.184.216.34'], 'alias.example.net': ['93.184.216.34'] });
    const strict = createGatewayDispatcher({ allowPrivate: false, publicUrl: 'https://sms.example.com', lookup });
    await expect(get('http://sms.example.com:13013/', strict)).rejects.toMatchObject({ code: GATEWAY_ADDRESS_FORBIDDEN });
    await expect(get('http://alias.example.net:13013/', strict)).rejects.toMatchObject({ code: GATEWAY_ADDRESS_FORBIDDEN });
  });

  it('with private gateways allowed, refuses the port this service listens on at loopback and at this host\'s own addresses, whatever PUBLIC_URL says', async () => {
    // Any address of this machine's interfaces; 0.0.0.0 (also this host) where there is none but loopback.
    const ownAddress = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal)?.address ?? '0.0.0.0';
    const { lookup } = names({ 'kannel.example.test': [ownAddress], localhost: ['127.0.0.1'], 'v6.example.test': ['::1'] });
    const guard = createGatewayDispatcher({ allowPrivate: true, publicUrl: 'https://sms.example.test', ownPort: internal.port, lookup });
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '[::ffff:127.0.0.1]', '[::1]', '0.0.0.0', 'kannel.example.test', 'v6.example.test']) {
      await expect(get(`http://${host}:${internal.port}/admin`, guard), host).rejects.toMatchObject({ code: GATEWAY_ADDRESS_FORBIDDEN });
    }
    expect(internal.requests).toHaveLength(0);

    const kannel = await startFakeKannel({ behaviour: { kind: 'answer', status: 200, body: 'OK' } });
    expect((await get(`http://127.0.0.1:${kannel.port}/cgi-bin/sendsms`, guard)).status).toBe(200); // another port on loopback: a private Kannel
    await kannel.close();
    await guard.close();
  });

  it('does not remember a failed lookup of PUBLIC_URL\'s host: the connection is retried, never let through unchecked', async () => {
    let hiccups = 1;
    const asked: string[] = [];
    const lookup = async (host: string) => {
      asked.push(host);
      if (host === 'sms.example.test' && hiccups-- > 0) throw Object.assign(new Error('resolver hiccup'), { code: 'EAI_AGAIN' });
      return ['sms.example.test', 'alias.example.test'].includes(host) ? ['192.0.2.10'] : [];
    };
    const guard = createGatewayDispatcher({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup, connectTimeoutMs: 200 });
    const first = await get('http://alias.example.test:443/', guard).catch((err: unknown) => err);
    expect(first).toMatchObject({ code: 'EAI_AGAIN' });
    expect(transportOutcome(first).kind).toBe('retryable');
    await expect(get('http://alias.example.test:443/', guard)).rejects.toMatchObject({ code: GATEWAY_ADDRESS_FORBIDDEN });
    expect(asked.filter((h) => h === 'sms.example.test')).toHaveLength(2);
    await guard.close();
  });

  it('after a minute looks PUBLIC_URL\'s host up again, and while that fails keeps refusing the addresses it last had', async () => {
    let now = 0;
    let resolverDown = false;
    const asked: string[] = [];
    const lookup = async (host: string) => {
      asked.push(host);
      if (host === 'sms.example.test' && resolverDown) throw Object.assign(new Error('resolver down'), { code: 'EAI_AGAIN' });
      return ['sms.example.test', 'alias.example.test'].includes(host) ? ['192.0.2.10'] : [];
    };
    const guard = createGatewayDispatcher({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup, clock: () => now, connectTimeoutMs: 200 });
    await expect(get('http://alias.example.test:443/', guard)).rejects.toMatchObject({ code: GATEWAY_ADDRESS_FORBIDDEN });
    now = 61_000;
    resolverDown = true;
    for (let i = 0; i < 2; i++) {
      await expect(get('http://alias.example.test:443/', guard)).rejects.toMatchObject({ code: GATEWAY_ADDRESS_FORBIDDEN });
      await new Promise((r) => setImmediate(r)); // the background lookup has failed by now
    }
    // Asked again after the minute (the failure was not kept; its last answer served meanwhile, see STALE_ANSWER_MS).
    expect(asked.filter((h) => h === 'sms.example.test')).toHaveLength(2);
    await guard.close();
  });
});
