import type { Gateway } from '../gateways/gateway.js';
import type { GatewayFactory } from '../gateways/index.js';
import type { SettingsRepo } from '../portals/settings-repo.js';

export interface Account {
  gateway: Gateway; // its `name` is the gateway kind (smsru, kannel)
  /** The SMS sender name for a provider CODE ('' = the gateway account's default). */
  senderFor(code: string): string;
}

/**
 * A portal's gateway account, rebuilt when its settings change. Cached briefly so that a burst of
 * messages does not decrypt the same credentials for every message.
 */
export function createAccounts(deps: { settings: SettingsRepo; gateways: GatewayFactory; ttlMs?: number; now?: () => number }) {
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
    };
    cache.set(portalId, { at: now(), account });
    return account;
  }

  /** Settings changed: the next message uses the new account. */
  const forget = (portalId: number) => cache.delete(portalId);

  return { forPortal, forget };
}

export type Accounts = ReturnType<typeof createAccounts>;
