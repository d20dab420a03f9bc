import type { Gateway } from '../gateways/gateway.js';
import type { GatewayFactory } from '../gateways/index.js';
import type { SettingsRepo } from '../portals/settings-repo.js';
import type { Crypto } from '../platform/crypto.js';

export interface Account {
  gateway: Gateway; // its `name` is the gateway kind (smsru, kannel)
  /** The SMS sender name for a provider CODE ('' = the gateway account's default). */
  senderFor(code: string): string;
  /** Which account at the gateway this is (accountKey): stored on each message it took. */
  key: string;
}

/**
 * Names a gateway account by what identifies it at the gateway (SMS.ru's key, SMSC.ru's login, a Kannel's URL and
 * user, an SMPP centre's address and system_id), not by its password: a message is asked about, or looked up, only at
 * the account that took it. Asked at another (the portal switched gateway or account since), SMS.ru answers "not
 * found" (-1), which read as `failed`; SMSC.ru's lookup by our id would say "never received" and send it again.
 * Keyed (`mac`, from SECRET_KEY) and cut to 16 hex digits: the rows it is stored on say nothing of the credentials,
 * not even which portals share an SMS.ru key. An SMS.ru account is known only by its key: a new key for the same
 * account is another account here: the earlier one is kept as retired (settings-repo), asked about its messages, and
 * its callbacks still settle them.
 */
export function accountKey(kind: string, c: Record<string, string>, mac: (text: string) => string): string {
  const identity: Record<string, Array<string | undefined>> = {
    smsru: [c.api_key],
    smscru: [c.login?.toLowerCase()],
    kannel: [c.url, c.username],
    smpp: [c.url, c.system_id],
  };
  return mac(JSON.stringify([kind, ...(identity[kind] ?? [])])).slice(0, 16);
}

/** The keyed hash accountKey takes, from SECRET_KEY. */
export const accountMac = (crypto: Pick<Crypto, 'derivedToken'>) => (text: string) => crypto.derivedToken(`gateway-account:${text}`);

/**
 * A portal's gateway account, rebuilt when its settings change. Cached briefly so that a burst of
 * messages does not decrypt the same credentials for every message.
 */
export function createAccounts(deps: { settings: SettingsRepo; gateways: GatewayFactory; mac: (text: string) => string; ttlMs?: number; now?: () => number }) {
  const ttl = deps.ttlMs ?? 5_000;
  const now = deps.now ?? (() => Date.now());
  const cache = new Map<number, { at: number; account: Account | undefined }>();

  async function forPortal(portalId: number): Promise<Account | undefined> {
    const hit = cache.get(portalId);
    if (hit && now() - hit.at < ttl) return hit.account;
    const s = await deps.settings.get(portalId);
    const senders = await deps.settings.senders(portalId);
    const account = s && {
      gateway: deps.gateways(s.gateway, s.credentials, { portalId }),
      senderFor: (code: string) => senders.find((x) => x.code === code)?.name ?? senders[0]?.name ?? '',
      key: accountKey(s.gateway, s.credentials, deps.mac),
    };
    cache.set(portalId, { at: now(), account });
    return account;
  }

  const retiredCache = new Map<number, { at: number; accounts: Array<Pick<Account, 'gateway' | 'key'>> }>();

  /** The accounts the portal switched away from (settings-repo `retired`), to ask about the messages they took. */
  async function retiredFor(portalId: number): Promise<Array<Pick<Account, 'gateway' | 'key'>>> {
    const hit = retiredCache.get(portalId);
    if (hit && now() - hit.at < ttl) return hit.accounts;
    const accounts = (await deps.settings.retired(portalId)).map((r) => ({ gateway: deps.gateways(r.gateway, r.credentials, { portalId }), key: r.key }));
    if (retiredCache.size >= 10_000) retiredCache.clear();
    retiredCache.set(portalId, { at: now(), accounts });
    return accounts;
  }

  /**
   * What the statuses job asks about a portal's messages: its account, then the ones it switched away from (each
   * knows only what it took, `exactly`: messages from before accounts were recorded are the current one's), each
   * under a lease of its own.
   */
  async function toAsk(portalId: number): Promise<Array<{ account: Pick<Account, 'gateway' | 'key'>; lease: string; exactly: boolean }>> {
    const current = await forPortal(portalId);
    const earlier = await retiredFor(portalId);
    return [
      ...(current ? [{ account: current, lease: `statuses:${portalId}`, exactly: false }] : []),
      ...earlier.map((a) => ({ account: a, lease: `statuses:${portalId}:${a.key}`, exactly: true })),
    ];
  }

  /** Settings changed: the next message uses the new account. */
  const forget = (portalId: number) => {
    cache.delete(portalId);
    retiredCache.delete(portalId);
  };

  return { forPortal, retiredFor, toAsk, forget };
}

export type Accounts = ReturnType<typeof createAccounts>;
