import type { Crypto } from '../platform/crypto.js';

/** The per-portal secret in delivery-report URLs: derived from SECRET_KEY, nothing stored. */
export const dlrToken = (crypto: Crypto, portalId: number) => crypto.derivedToken(`dlr:${portalId}`);

/**
 * Where gateways report deliveries (dlr.routes.ts answers there): `/dlr/<gateway>/<portal>/<secret>` for a gateway
 * account (SMS.ru's callback, registered once per account), and with `messageId` the per-message URL Kannel takes
 * with each SMS, since Kannel returns no id of its own; Kannel expands %d (report type) and %A (SMSC reply) when
 * it calls back (gateways.md §2).
 */
export function dlrUrl(publicUrl: string, crypto: Crypto, to: { gateway: string; portalId: number; messageId?: number }): string {
  const account = `${publicUrl}/dlr/${to.gateway}/${to.portalId}/${dlrToken(crypto, to.portalId)}`;
  return to.messageId === undefined ? account : `${account}/${to.messageId}?type=%d&reply=%A`;
}

/** The send worker's dlr-url for a Kannel message. */
export const kannelDlrUrlFor = (publicUrl: string, crypto: Crypto) => (portalId: number, messageId: number) =>
  dlrUrl(publicUrl, crypto, { gateway: 'kannel', portalId, messageId });
