import { timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from '../platform/db.js';
import { isPostgres } from '../platform/db.js';
import { AppError } from '../platform/errors.js';
import { FINAL_STATES } from '../messages/states.js';
import type { Crypto } from '../platform/crypto.js';
import { fingerprints, randomToken, safeEqual, sameDigest, sha256hex } from '../platform/crypto.js';
import type { TokenPair, TokenStore } from '../bitrix/token-store.js';

export type PortalStatus = 'active' | 'uninstalled' | 'inactive';

export interface Portal {
  id: number;
  memberId: string;
  domain: string;
  restEndpoint: string;
  status: PortalStatus;
  inactiveReason: string | null;
  defaultCountry: string;
  lastRestCallAt: number | null;
  installedAt: number;
  disabledAt: number | null;
  /** Since when status reports wait because no token we hold may set them (issue 10 §3); null when none wait. */
  reportsWaitingSince: number | null;
}

export type { TokenPair };

interface PortalRow {
  id: number;
  member_id: string;
  domain: string;
  rest_endpoint: string;
  status: PortalStatus;
  inactive_reason: string | null;
  access_token_enc: string | null;
  refresh_token_enc: string | null;
  access_expires_at: number | null;
  application_token_enc: string | null;
  /** One kept from the handler's calls while the portal had none (authenticate): good for /handler only. */
  learned_application_token_enc: string | null;
  handler_key_hash: string;
  handler_key_enc: string;
  /** The key before a rotation, good until handler_key_prev_until (null: until Bitrix24 has the new one). */
  handler_key_prev_hash: string | null;
  handler_key_prev_until: number | string | null;
  refresh_lock_until: number | null;
  updated_at: number;
  default_country: string;
  last_rest_call_at: number | null;
  installed_at: number;
  disabled_at: number | null;
  reports_waiting_since: number | string | null;
}

const toPortal = (r: PortalRow): Portal => ({
  id: r.id,
  memberId: r.member_id,
  domain: r.domain,
  restEndpoint: r.rest_endpoint,
  status: r.status,
  inactiveReason: r.inactive_reason,
  defaultCountry: r.default_country,
  lastRestCallAt: r.last_rest_call_at,
  installedAt: r.installed_at,
  disabledAt: r.disabled_at ?? null,
  reportsWaitingSince: r.reports_waiting_since == null ? null : Number(r.reports_waiting_since),
});

/**
 * How long the handler may answer from a portal read earlier. A change made by this process (an uninstall, an
 * operator's disable, a reinstall) clears the cache at once; other processes see it after at most this long.
 */
export const AUTH_CACHE_MS = 2000;

/** How long the handler key before a rotation stays good once Bitrix24 has the new one: SMS already on their way. */
export const HANDLER_KEY_GRACE_MS = 15 * 60_000;

/** What a request hears when its portal was uninstalled, whether it was found so at once or only as its row was written. */
export const appUninstalled = () => new AppError('unauthorized', 401, 'the app is uninstalled from this portal');

/**
 * Called in a transaction right after it wrote something of the portal's: whether the portal is still installed, so
 * that the caller rolls back what an uninstall would have erased. The handler authenticates from memory (other
 * processes see an uninstall up to AUTH_CACHE_MS late) and a request can be between its check and its write, so the
 * write itself must not outlive the uninstall's erase. On PostgreSQL the portal's row is share-locked: an uninstall
 * either committed first (read here as uninstalled) or waits for this transaction (and its erase then sees the row).
 * On SQLite the writer already holds the database's write lock, so what it reads is current.
 */
export async function stillInstalled(trx: Knex.Transaction, portalId: number): Promise<boolean> {
  const q = trx('portals').where({ id: portalId }).first('status');
  const row = (await (isPostgres(trx as unknown as Db) ? q.forShare() : q)) as { status: PortalStatus } | undefined;
  return row !== undefined && row.status !== 'uninstalled';
}

/**
 * What an uninstall with CLEAN erases of a portal's messages (texts, numbers, where the SMS came from, gateway answers
 * and reasons, which may quote the number), up to its `erase_through`, in short batches by id. The mark is cleared
 * once every one of them is final: a message still at its gateway gets its answer written after this, and the
 * retention job (which calls this for portals still marked) erases that too. Messages of a reinstall come after it.
 */
export async function eraseUninstalledMessages(db: Db, portalId: number, now: number, batch = 2_000): Promise<number> {
  const through = (await db('portals').where({ id: portalId }).first('erase_through'))?.erase_through;
  if (through == null) return 0;
  const upTo = (q: Knex.QueryBuilder) => q.where({ portal_id: portalId }).andWhere('id', '<=', through);
  let erased = 0;
  for (let cursor = 0; ; ) {
    const ids = (await upTo(db('messages')).andWhere('id', '>', cursor)
      .andWhere((q) => q.whereNotNull('body').orWhereNotNull('phone').orWhereNot('message_to', '').orWhereNotNull('origin').orWhereNotNull('failure_reason').orWhereNotNull('gateway_status_text'))
      .orderBy('id').limit(batch).select('id')).map((r: { id: number | string }) => Number(r.id));
    if (!ids.length) break;
    erased += await db('messages').whereIn('id', ids)
      .update({ body: null, phone: null, message_to: '', origin: null, failure_reason: null, gateway_status_text: null, updated_at: now });
    cursor = ids[ids.length - 1]!;
  }
  if (!(await upTo(db('messages')).whereNotIn('state', [...FINAL_STATES]).first('id'))) {
    await db('portals').where({ id: portalId, erase_through: through }).update({ erase_through: null });
  }
  return erased;
}

interface AuthEntry {
  portal: Portal;
  /** HMAC of the stored application token under a key that exists only in this process's memory. */
  tokenMac: Buffer | null;
  handlerKeyHash: string;
  /** The key before a rotation, and until when it is good (null: until the rotation is confirmed). */
  prevKey: { hash: string; until: number | null } | null;
  readAt: number;
}

export function createPortalRepo(db: Db, crypto: Crypto, now: () => number = Date.now) {
  const table = () => db<PortalRow>('portals');
  const seal = (v: string | null | undefined) => (v ? crypto.encrypt(v) : null);
  const macOf = fingerprints();
  const authCache = new Map<string, AuthEntry>();
  let generation = 0;
  /** Every write to a portal row goes through here: the handler must not answer from what was before. */
  const changed = <T>(result: T): T => {
    generation++;
    authCache.clear();
    byIdCache.clear();
    return result;
  };

  async function findByMemberId(memberId: string): Promise<Portal | undefined> {
    if (memberId.includes('\u0000')) return undefined; // no portal has one (PostgreSQL would refuse the query)
    const row = await table().where({ member_id: memberId }).first();
    return row && toPortal(row);
  }

  async function findById(id: number): Promise<Portal | undefined> {
    const row = await table().where({ id }).first();
    return row && toPortal(row);
  }

  /**
   * findById for the hot paths that only ask whether a portal may be served (the send worker per message, a delivery
   * report): served from memory for AUTH_CACHE_MS, cleared at once by this process's own writes, like authenticate.
   */
  const byIdCache = new Map<number, { portal: Portal | undefined; readAt: number }>();
  async function findByIdCached(id: number): Promise<Portal | undefined> {
    const hit = byIdCache.get(id);
    if (hit && now() - hit.readAt < AUTH_CACHE_MS && now() >= hit.readAt) return hit.portal;
    const readAt = now();
    const before = generation;
    const portal = await findById(id);
    if (byIdCache.size >= 10_000) byIdCache.clear();
    if (generation === before) byIdCache.set(id, { portal, readAt });
    return portal;
  }

  /**
   * Creates or refreshes the portal after a verified install or install event; it becomes active again. Without
   * `tokens` (an event whose refresh token could not be proven) the stored pair is kept.
   */
  async function upsertInstalled(p: {
    memberId: string;
    domain: string;
    restEndpoint: string;
    tokens?: TokenPair;
    applicationToken?: string;
    now: number;
  }): Promise<Portal> {
    const tokenFields = p.tokens
      // Whose pair it is, the caller tells when it knows (setTokenUser): an event's refresh does not say.
      ? { access_token_enc: seal(p.tokens.accessToken), refresh_token_enc: seal(p.tokens.refreshToken), access_expires_at: p.tokens.expiresAt, refresh_lock_until: null, token_user_id: null }
      : {};
    const fields = {
      domain: p.domain,
      rest_endpoint: p.restEndpoint,
      status: 'active' as const,
      inactive_reason: null,
      ...tokenFields,
      updated_at: p.now,
      uninstalled_at: null,
      ...(p.applicationToken ? { application_token_enc: seal(p.applicationToken) } : {}),
    };
    const key = randomToken(24);
    await db('portals')
      .insert({
        member_id: p.memberId,
        handler_key_hash: sha256hex(key),
        handler_key_enc: crypto.encrypt(key),
        installed_at: p.now,
        last_rest_call_at: p.now,
        ...fields,
      })
      .onConflict('member_id')
      .merge(fields);
    changed(undefined);
    return (await findByMemberId(p.memberId))!;
  }

  async function handlerKey(id: number): Promise<string> {
    const row = await table().where({ id }).first('handler_key_enc');
    return crypto.decrypt(row!.handler_key_enc);
  }

  async function tokens(id: number): Promise<TokenPair | undefined> {
    const row = await table().where({ id }).first('access_token_enc', 'refresh_token_enc', 'access_expires_at');
    if (!row?.access_token_enc || !row.refresh_token_enc) return undefined;
    return {
      accessToken: crypto.decrypt(row.access_token_enc),
      refreshToken: crypto.decrypt(row.refresh_token_enc),
      expiresAt: row.access_expires_at ?? 0,
    };
  }

  /** False when the portal was uninstalled meanwhile: it keeps no pair, not even one a refresh under way brought. */
  async function saveTokens(id: number, t: TokenPair, now: number, restEndpoint?: string, lease?: number): Promise<boolean> {
    const n = await table()
      .where({ id, ...(lease !== undefined ? { refresh_lock_until: lease } : {}) })
      .whereNot({ status: 'uninstalled' })
      .update({
        access_token_enc: crypto.encrypt(t.accessToken),
        refresh_token_enc: crypto.encrypt(t.refreshToken),
        access_expires_at: t.expiresAt,
        refresh_lock_until: null,
        updated_at: now,
        ...(restEndpoint ? { rest_endpoint: restEndpoint } : {}),
      } as Partial<PortalRow>);
    return n > 0;
  }

  /**
   * The handler's authentication: the portal named by member_id (or, for author-less messages, by the handler key),
   * with its application_token checked in constant time and the key's owner compared. Served from memory for
   * AUTH_CACHE_MS after one read; the stored token is decrypted once per read, a request's token is compared by HMAC.
   */
  async function authenticate(p: { memberId?: string; applicationToken?: string; handlerKey?: string }, adopting = true): Promise<
    { ok: true; portal: Portal } | { ok: false; why: string }
  > {
    const keyHash = p.handlerKey !== undefined ? sha256hex(p.handlerKey) : undefined;
    const cacheKey = p.memberId !== undefined ? `m:${p.memberId}` : keyHash !== undefined ? `k:${keyHash}` : undefined;
    if (cacheKey === undefined) return { ok: false, why: 'unknown handler key' };
    if (p.memberId?.includes('\u0000')) return { ok: false, why: 'unknown portal or wrong application_token' }; // as findByMemberId
    let entry = authCache.get(cacheKey);
    let cached = true;
    if (!entry || now() - entry.readAt >= AUTH_CACHE_MS || now() < entry.readAt) {
      cached = false;
      const readAt = now();
      const before = generation;
      const row = p.memberId !== undefined ? await table().where({ member_id: p.memberId }).first() : await byHandlerKey(keyHash!);
      if (!row) return { ok: false, why: p.memberId !== undefined ? 'unknown portal or wrong application_token' : 'unknown handler key' };
      const token = row.application_token_enc ?? row.learned_application_token_enc;
      const prevKey = row.handler_key_prev_hash
        ? { hash: row.handler_key_prev_hash, until: row.handler_key_prev_until === null ? null : Number(row.handler_key_prev_until) }
        : null;
      entry = { portal: toPortal(row), tokenMac: token ? macOf(crypto.decrypt(token)) : null, handlerKeyHash: row.handler_key_hash, prevKey, readAt };
      if (authCache.size >= 10_000) authCache.clear(); // unknown member ids are never cached, so this bounds real portals only
      // A write by this process while the row was being read may have changed it: that read is used once, not kept.
      if (generation === before) authCache.set(cacheKey, entry);
    }
    if (p.memberId === undefined && !keyMatches(entry, keyHash!)) return { ok: false, why: 'unknown handler key' }; // a previous key past its time
    if (p.memberId !== undefined) {
      if (!entry.tokenMac && adopting && p.applicationToken && p.applicationToken.length <= 256 && !p.applicationToken.includes('\u0000')
        && keyHash !== undefined && keyMatches(entry, keyHash) && entry.portal.status !== 'uninstalled') {
        // No application_token known yet: Bitrix24's frames carry none (core app.layout posts AUTH_ID, REFRESH_ID,
        // member_id, status, PLACEMENT), and ONAPPINSTALL may come late or not at all. The portal's own handler key,
        // which only Bitrix24 was given (in the registered HANDLER URL), proves the call: its token is kept, for
        // this route only. Whoever else holds the key (a proxy's access log) can send SMS with it anyway, but an
        // uninstall or a test event still needs the token a verified install or an administrator's event gave.
        if (await adoptApplicationToken(entry.portal.id, p.applicationToken)) return { ok: true, portal: entry.portal };
        return authenticate(p, false); // another request kept one first: checked against it
      }
      if (!entry.tokenMac || !p.applicationToken || !timingSafeEqual(entry.tokenMac, macOf(p.applicationToken))) {
        return { ok: false, why: 'unknown portal or wrong application_token' };
      }
      if (keyHash !== undefined && !keyMatches(entry, keyHash)) {
        // Another process may have rotated the key a moment ago, and Bitrix24 already calls with the new one: a key
        // that does not match what was remembered is checked once more against the row itself.
        if (cached) {
          authCache.delete(cacheKey);
          return authenticate(p, adopting);
        }
        return { ok: false, why: 'the handler key does not belong to this portal' };
      }
    }
    return { ok: true, portal: entry.portal };
  }

  /** The portal whose key, or key before a rotation, has this hash: one query (unknown keys are not cached). */
  async function byHandlerKey(keyHash: string): Promise<PortalRow | undefined> {
    const rows = await table().where({ handler_key_hash: keyHash }).orWhere({ handler_key_prev_hash: keyHash }).limit(2);
    return rows.find((r) => r.handler_key_hash === keyHash) ?? rows[0];
  }

  /** The portal's key, or the one before a rotation while it is still good. Both compared, in constant time. */
  function keyMatches(entry: AuthEntry, keyHash: string): boolean {
    const current = sameDigest(keyHash, entry.handlerKeyHash);
    const prev = entry.prevKey !== null && sameDigest(keyHash, entry.prevKey.hash) && (entry.prevKey.until === null || now() < entry.prevKey.until);
    return current || prev;
  }

  /**
   * A new handler key for the portal (a leaked handler URL: a proxy's access log, say). The key before stays good,
   * with no end, until confirmHandlerKey: Bitrix24 keeps calling the URL it was given until the providers are
   * registered again. A rotation that was not confirmed is not rotated again (the key Bitrix24 may still hold would
   * be lost): the pending new key is kept and returned as is. A rotation within the grace period of the one before
   * ends that period at once (the key two rotations old, which Bitrix24 no longer has).
   */
  async function rotateHandlerKey(id: number, at: number): Promise<'rotated' | 'pending'> {
    const key = randomToken(24);
    const n = await table()
      .where({ id })
      .andWhere((q) => q.whereNull('handler_key_prev_hash').orWhereNotNull('handler_key_prev_until'))
      .update({
        handler_key_prev_hash: db.ref('handler_key_hash') as unknown as string, handler_key_prev_until: null,
        handler_key_hash: sha256hex(key), handler_key_enc: crypto.encrypt(key), updated_at: at,
      });
    changed(undefined);
    return n === 1 ? 'rotated' : 'pending';
  }

  /**
   * Bitrix24 has the handler URL of the key whose hash is `registeredHash`: when that is still the current key, the one
   * before it stays good for `graceMs` more (SMS already on their way), and no longer.
   */
  async function confirmHandlerKey(id: number, at: number, graceMs: number, registeredHash: string): Promise<void> {
    const n = await table().where({ id, handler_key_hash: registeredHash }).whereNotNull('handler_key_prev_hash').whereNull('handler_key_prev_until')
      .update({ handler_key_prev_until: at + graceMs });
    if (n) changed(undefined);
  }

  /** Keeps `token` as the portal's application_token if it has none; whether it did. */
  async function adoptApplicationToken(id: number, token: string): Promise<boolean> {
    const n = await table().where({ id }).whereNull('application_token_enc').whereNull('learned_application_token_enc').whereNot('status', 'uninstalled')
      .update({ learned_application_token_enc: seal(token), updated_at: now() });
    changed(undefined);
    return n === 1;
  }

  async function hasApplicationToken(id: number): Promise<boolean> {
    const row = await table().where({ id }).first('application_token_enc');
    return Boolean(row?.application_token_enc);
  }

  async function matchesApplicationToken(id: number, candidate: string): Promise<boolean> {
    const row = await table().where({ id }).first('application_token_enc');
    if (!row?.application_token_enc) return false;
    return safeEqual(crypto.decrypt(row.application_token_enc), candidate);
  }

  /**
   * A lease on refreshing this portal's tokens, shared by every process: refresh tokens rotate
   * on use, so two concurrent refreshes would break the chain.
   */
  async function takeRefreshLease(id: number, now: number, ttlMs: number): Promise<boolean> {
    const n = await db('portals')
      .where({ id })
      .andWhere((q) => q.whereNull('refresh_lock_until').orWhere('refresh_lock_until', '<', now))
      .update({ refresh_lock_until: now + ttlMs });
    return n === 1;
  }

  async function releaseRefreshLease(id: number, lease?: number): Promise<void> {
    await db('portals').where({ id, ...(lease !== undefined ? { refresh_lock_until: lease } : {}) }).update({ refresh_lock_until: null });
  }

  /** An administrator's verified tokens revive a portal whose stored pair died (invalid_grant and the like). */
  async function reactivate(id: number, t: TokenPair, now: number): Promise<void> {
    changed(undefined);
    await db('portals').where({ id, status: 'inactive' }).update({
      status: 'active', inactive_reason: null, access_token_enc: crypto.encrypt(t.accessToken), refresh_token_enc: crypto.encrypt(t.refreshToken),
      access_expires_at: t.expiresAt, refresh_lock_until: null, last_rest_call_at: now, updated_at: now,
    });
  }

  /**
   * False when the portal was uninstalled meanwhile (a refresh under way when Bitrix24 revoked its tokens ends in
   * invalid_grant): an uninstalled portal stays uninstalled, so nothing is sent for it and its reports are dropped.
   * Fenced by the refresh lease that was taken (a refresh's answer), or by the access token Bitrix24 refused (a
   * call's answer): false when other tokens were stored meanwhile (an uninstall and a reinstall).
   */
  async function markInactive(id: number, reason: string, now: number, fence: { lease?: number; refusedAccessToken?: string } = {}): Promise<boolean> {
    const where: Record<string, unknown> = { id, ...(fence.lease !== undefined ? { refresh_lock_until: fence.lease } : {}) };
    if (fence.refusedAccessToken !== undefined) {
      // Compare-and-set on the sealed token: a reinstall meanwhile stored another pair, which this answer says nothing about.
      const row = await table().where({ id }).first('access_token_enc');
      if (!row?.access_token_enc || !safeEqual(crypto.decrypt(row.access_token_enc), fence.refusedAccessToken)) return false;
      where.access_token_enc = row.access_token_enc;
    }
    const n = await db('portals').where(where).whereNot({ status: 'uninstalled' }).update({ status: 'inactive', inactive_reason: reason.slice(0, 255), updated_at: now });
    changed(n);
    return n > 0;
  }

  async function touchRestCall(id: number, now: number): Promise<void> {
    await db('portals').where({ id }).update({ last_rest_call_at: now });
  }

  async function moveEndpoint(id: number, restEndpoint: string, domain: string, now: number): Promise<void> {
    changed(await db('portals').where({ id }).update({ rest_endpoint: restEndpoint, domain, updated_at: now }));
  }

  /**
   * Uninstall: stop accepting messages and keep no credential of the portal's (the marketplace's publication
   * requirements): OAuth pairs, the application token, authors' tokens, and the handler key, rotated so the old
   * handler URL opens nothing even after a reinstall (so every sender counts as unregistered). With clean, also forget
   * settings, gateway secrets and every trace of whom was written what (texts, numbers, where the SMS came from,
   * gateway answers and reasons, which may quote the number).
   */
  async function markUninstalled(id: number, clean: boolean, now: number): Promise<void> {
    const key = randomToken(24);
    await db.transaction(async (trx) => {
      await trx('portals').where({ id }).update({
        status: 'uninstalled', uninstalled_at: now, updated_at: now,
        access_token_enc: null, refresh_token_enc: null, access_expires_at: null, refresh_lock_until: null, application_token_enc: null, learned_application_token_enc: null, token_user_id: null,
        admin_user_id: null, admin_access_token_enc: null, admin_refresh_token_enc: null, admin_expires_at: null,
        handler_key_hash: sha256hex(key), handler_key_enc: crypto.encrypt(key), handler_key_prev_hash: null, handler_key_prev_until: null,
      });
      await trx('author_tokens').where({ portal_id: id }).delete();
      // Bitrix24 deletes the app's providers with it, and the key they were given is rotated above: a portal brought
      // back (a reinstall's ONAPPINSTALL, an uninstall that came late) gets every sender registered again by the
      // provider check, with the key it has then, whatever Bitrix24's provider list says.
      await trx('senders').where({ portal_id: id }).update({ registered_at: null });
      if (clean) {
        await trx('settings').where({ portal_id: id }).delete();
        await trx('retired_accounts').where({ portal_id: id }).delete();
        await trx('senders').where({ portal_id: id }).delete();
        // Every message stored before the status changed (a write that waited for it rolled back): erased below.
        const last = (await trx('messages').where({ portal_id: id }).max('id as last').first())?.last;
        if (last != null) await trx('portals').where({ id }).update({ erase_through: last });
      }
    });
    changed(undefined);
    // Outside the transaction: the portal's row (which every intake write share-locks) is not held meanwhile.
    if (clean) await eraseUninstalledMessages(db, id, now);
  }

  async function setDisabled(id: number, disabled: boolean, now: number): Promise<void> {
    changed(await db('portals').where({ id }).update({ disabled_at: disabled ? now : null, updated_at: now }));
  }

  async function setDefaultCountry(id: number, country: string, now: number): Promise<void> {
    changed(await db('portals').where({ id }).update({ default_country: country, updated_at: now }));
  }

  async function all(): Promise<Portal[]> {
    return (await table().orderBy('id')).map(toPortal);
  }

  /** Active portals whose last REST call is older than `before` (their refresh token needs exercise). */
  async function idleSince(before: number): Promise<Portal[]> {
    const rows = await table().where({ status: 'active' }).andWhere('last_rest_call_at', '<', before);
    return rows.map(toPortal);
  }

  const repo = {
    findByMemberId, findById, findByIdCached, authenticate, upsertInstalled, handlerKey, rotateHandlerKey, confirmHandlerKey, tokens, saveTokens,
    hasApplicationToken, matchesApplicationToken, takeRefreshLease, releaseRefreshLease, markInactive, reactivate, touchRestCall,
    moveEndpoint, markUninstalled, idleSince, setDisabled, setDefaultCountry, all,
  };
  return repo satisfies TokenStore; // the Bitrix24 client keeps its tokens in this table
}

export type PortalRepo = ReturnType<typeof createPortalRepo>;
