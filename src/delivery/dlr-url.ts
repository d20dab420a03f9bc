import type { Crypto } from '../platform/crypto.js';

/** The per-portal secret in delivery-report URLs: derived from SECRET_KEY, nothing stored. */
export const dlrToken = (crypto: Crypto, portalId: number) => crypto.derivedToken(`dlr:${portalId}`);

/**
 * Where gateways report deliveries (dlr.routes.ts answers there): `/dlr/<gateway>/<portal>/<secret>` for a gateway
 * account (SMS.ru's callback, registered once per account), and with `messageId` the per-message URL Kannel (and the
 * sandbox) take with each SMS, since they return no id of their own; Kannel expands %d (report type) and %A (SMSC
 * reply) when it calls back (gateways.md §2), the sandbox posts its `status` in the body.
 */
export function dlrUrl(publicUrl: string, crypto: Crypto, to: { gateway: string; portalId: number; messageId?: number }): string {
  const account = `${publicUrl}/dlr/${to.gateway}/${to.portalId}/${dlrToken(crypto, to.portalId)}`;
  if (to.messageId === undefined) return account;
  return `${account}/${to.messageId}${to.gateway === 'kannel' ? '?type=%d&reply=%A' : ''}`;
}

/** The send worker's per-message report URL, for the message's gateway. */
export const messageDlrUrlFor = (publicUrl: string, crypto: Crypto) => (portalId: number, messageId: number, gateway: string) =>
  dlrUrl(publicUrl, crypto, { gateway, portalId, messageId });
