import type { Crypto } from '../platform/crypto.js';

/**
 * The per-portal secret in the account's report URL (SMS.ru's callback, which it also signs with the account's key):
 * derived from SECRET_KEY, nothing stored. Per-message URLs carried it too until DLR_TOKEN_V messages (see below).
 */
export const dlrToken = (crypto: Crypto, portalId: number) => crypto.derivedToken(`dlr:${portalId}`);

/**
 * The secret in one message's report URL (Kannel's dlr-url, the sandbox's): good for that message only. Whoever
 * saw one URL (a Kannel's operator, its logs) can report on that message alone, not walk the portal's message ids,
 * and the account URL registered at SMS.ru settles none of them.
 */
export const dlrMessageToken = (crypto: Pick<Crypto, 'derive'>, portalId: number, messageId: number) => crypto.derive(`dlr:${portalId}:${messageId}`);

/** messages.dlr_token_v of a message sent with its own report secret; before (null) its URL had the portal's. */
export const DLR_TOKEN_V = 2;

/**
 * Where gateways report deliveries (dlr.routes.ts answers there): `/dlr/<gateway>/<portal>/<secret>` for a gateway
 * account (SMS.ru's callback, registered once per account), and with `messageId` the per-message URL Kannel (and the
 * sandbox) take with each SMS, since they return no id of their own; Kannel expands %d (report type) and %A (SMSC
 * reply) when it calls back (gateways.md §2), the sandbox posts its `status` in the body.
 */
export function dlrUrl(publicUrl: string, crypto: Crypto, to: { gateway: string; portalId: number; messageId?: number }): string {
  const base = `${publicUrl}/dlr/${to.gateway}/${to.portalId}`;
  if (to.messageId === undefined) return `${base}/${dlrToken(crypto, to.portalId)}`;
  return `${base}/${dlrMessageToken(crypto, to.portalId, to.messageId)}/${to.messageId}${to.gateway === 'kannel' ? '?type=%d&reply=%A' : ''}`;
}

/** The send worker's per-message report URL, for the message's gateway. */
export const messageDlrUrlFor = (publicUrl: string, crypto: Crypto) => (portalId: number, messageId: number, gateway: string) =>
  dlrUrl(publicUrl, crypto, { gateway, portalId, messageId });
