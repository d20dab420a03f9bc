import type { Db } from '../platform/db.js';
import { fingerprints, type Crypto } from '../platform/crypto.js';
import type { TokenPair } from '../bitrix/token-store.js';
import { stillInstalled } from './portal-repo.js';

/** An author's token is used only while it has at least this long to live: a batch call takes a while. */
const AUTHOR_TOKEN_MARGIN_MS = 60_000;
/** Bitrix24's access tokens live an hour; an auth block claiming longer is not believed. */
const AUTHOR_TOKEN_MAX_MS = 3600_000;
/** How old an administrator's stored pair may be and still be promoted (its refresh token surely alive). */
const ADMIN_PAIR_MAX_AGE_MS = 27 * 86_400_000;
/** How long this process trusts its memory that an author's token is stored. */
const REWRITE_MS = 60_000;

/**
 * The identities a status report may go with besides the portal's stored pair (issue 10 §3): the pair of the latest
 * verified administrator who opened the app's page (`admin_*` columns of `portals`), each author's own short-lived
 * token from the handler's auth block (`author_tokens`), and whether a portal's reports wait for lack of any.
 * Tokens are stored encrypted and never leave this module but to the REST client.
 */
export function createIdentityRepo(db: Db, crypto: Crypto) {
  // Authors send many SMS with one token: it is written when it changes, and again after REWRITE_MS at the latest,
  // since the reporter (often in another process) erases tokens it used up and this memory would not know.
  const seen = new Map<string, { mac: Buffer; at: number }>();
  const macOf = fingerprints();

  /** The handler saw an author's token (auth[access_token], auth[expires_in]); kept until it expires or is used up. */
  async function rememberAuthor(portalId: number, userId: number, accessToken: string, expiresInS: number, now: number): Promise<void> {
    const key = `${portalId}:${userId}`;
    const mac = macOf(accessToken);
    const last = seen.get(key);
    if (last && last.mac.equals(mac) && now - last.at < REWRITE_MS && now >= last.at) return;
    const expiresAt = now + Math.min(Math.max(0, expiresInS) * 1000, AUTHOR_TOKEN_MAX_MS);
    const row = { portal_id: portalId, user_id: userId, access_token_enc: crypto.encrypt(accessToken), expires_at: expiresAt, updated_at: now };
    // An uninstall keeps no token of the portal's, not even one that arrived as it happened: then it is rolled back.
    const gone = Symbol('uninstalled');
    const kept = await db.transaction(async (trx) => {
      await trx('author_tokens').insert(row).onConflict(['portal_id', 'user_id']).merge(['access_token_enc', 'expires_at', 'updated_at']);
      if (!(await stillInstalled(trx, portalId))) throw gone;
      return true;
    }).catch((err: unknown) => { if (err === gone) return false; throw err; });
    if (!kept) return;
    if (seen.size >= 10_000) seen.clear();
    seen.set(key, { mac, at: now });
  }

  /** The author's token while it has time left; undefined otherwise. */
  async function authorToken(portalId: number, userId: number, now: number): Promise<string | undefined> {
    const row = await db('author_tokens').where({ portal_id: portalId, user_id: userId }).first('access_token_enc', 'expires_at');
    if (!row || Number(row.expires_at) - AUTHOR_TOKEN_MARGIN_MS <= now) return undefined;
    return crypto.decrypt(row.access_token_enc);
  }

  async function forgetAuthor(portalId: number, userId: number): Promise<void> {
    seen.delete(`${portalId}:${userId}`);
    await db('author_tokens').where({ portal_id: portalId, user_id: userId }).delete();
  }

  /** Erases every author token that expired: nobody can use it any more. */
  async function purgeExpired(now: number): Promise<number> {
    seen.clear();
    return db('author_tokens').where('expires_at', '<=', now).delete();
  }

  /** A verified administrator opened the app's page: their pair is the next to try when the stored one is refused. */
  async function rememberAdmin(portalId: number, userId: number, t: TokenPair, now: number): Promise<void> {
    await db('portals').where({ id: portalId }).whereNot({ status: 'uninstalled' }).update({
      admin_user_id: userId, admin_access_token_enc: crypto.encrypt(t.accessToken), admin_refresh_token_enc: crypto.encrypt(t.refreshToken),
      admin_expires_at: t.expiresAt, updated_at: now,
    });
  }

  /** Whose pair the portal's stored tokens are (the installer's, until an administrator's pair replaces it). */
  async function setTokenUser(portalId: number, userId: number | null): Promise<void> {
    await db('portals').where({ id: portalId }).update({ token_user_id: userId });
  }

  /**
   * The stored pair was refused (ACCESS_DENIED: its user is no administrator any more): the latest verified
   * administrator's pair takes its place, once, when it is somebody else's and no refresh of the stored pair is under
   * way. True when the stored pair changed. Conditional on the admin slot still holding that user, so two processes
   * promote once.
   */
  async function promoteAdmin(portalId: number, now: number): Promise<boolean> {
    const row = await db('portals').where({ id: portalId }).first('admin_user_id', 'token_user_id', 'admin_access_token_enc', 'admin_refresh_token_enc', 'admin_expires_at');
    if (!row?.admin_user_id || !row.admin_access_token_enc || !row.admin_refresh_token_enc || row.admin_user_id === row.token_user_id) return false;
    // A pair whose refresh token may have died (28 days in older docs, 180 in newer) would end the portal with
    // invalid_grant when used: such a pair is not promoted; the reports wait for a fresh visit instead.
    if (Number(row.admin_expires_at) < now - ADMIN_PAIR_MAX_AGE_MS) return false;
    const n = await db('portals')
      .where({ id: portalId, admin_user_id: row.admin_user_id })
      .andWhere((q) => q.whereNull('refresh_lock_until').orWhere('refresh_lock_until', '<', now))
      .update({
        access_token_enc: row.admin_access_token_enc, refresh_token_enc: row.admin_refresh_token_enc, access_expires_at: row.admin_expires_at,
        token_user_id: row.admin_user_id, admin_user_id: null, admin_access_token_enc: null, admin_refresh_token_enc: null, admin_expires_at: null,
        updated_at: now,
      });
    return n === 1;
  }

  /** Reports that no token could deliver: since when (null clears). Shown on the settings page and in the console. */
  async function setReportsWaiting(portalId: number, since: number | null): Promise<void> {
    if (since === null) await db('portals').where({ id: portalId }).whereNotNull('reports_waiting_since').update({ reports_waiting_since: null });
    else await db('portals').where({ id: portalId }).whereNull('reports_waiting_since').update({ reports_waiting_since: since });
  }

  async function reportsWaitingSince(portalId: number): Promise<number | null> {
    const row = await db('portals').where({ id: portalId }).first('reports_waiting_since');
    return row?.reports_waiting_since == null ? null : Number(row.reports_waiting_since);
  }

  return { rememberAuthor, authorToken, forgetAuthor, purgeExpired, rememberAdmin, setTokenUser, promoteAdmin, setReportsWaiting, reportsWaitingSince };
}

export type IdentityRepo = ReturnType<typeof createIdentityRepo>;
