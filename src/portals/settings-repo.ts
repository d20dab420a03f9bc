import type { Db } from '../platform/db.js';
import type { Crypto } from '../platform/crypto.js';
import { accountKey, accountMac } from '../delivery/accounts.js';
import { appUninstalled, stillInstalled } from './portal-repo.js';

export interface GatewaySettings {
  gateway: string; // the kind: smsru, kannel
  credentials: Record<string, string>;
  updatedAt: number;
}

/** Gateways whose earlier accounts are kept after a switch (settings-repo save): SMS.ru's callbacks and polls, SMSC.ru's polls. */
const RETIRES = new Set(['smsru', 'smscru']);

/** A gateway account the portal switched away from, kept while messages it took may still change. */
export interface RetiredAccount {
  gateway: string;
  credentials: Record<string, string>;
  /** accountKey: what the messages it took carry in gateway_account. */
  key: string;
  retiredAt: number;
}

export interface Sender {
  code: string;
  name: string;
  registeredAt: number | null;
}

/** The gateway account and the sender names (one Bitrix24 provider each) of a portal. */
export function createSettingsRepo(db: Db, crypto: Crypto) {
  async function get(portalId: number): Promise<GatewaySettings | undefined> {
    const row = await db('settings').where({ portal_id: portalId }).first();
    if (!row) return undefined;
    return { gateway: row.gateway, credentials: JSON.parse(crypto.decrypt(row.credentials_enc)), updatedAt: row.updated_at };
  }

  /** Every portal's credentials for one gateway kind, in one read. */
  async function allOfKind(kind: string): Promise<Map<number, Record<string, string>>> {
    const rows = await db('settings').where({ gateway: kind }).select('portal_id', 'credentials_enc');
    return new Map(rows.map((r) => [Number(r.portal_id), JSON.parse(crypto.decrypt(r.credentials_enc)) as Record<string, string>]));
  }

  /** The portal's gateway kind, without its credentials. */
  async function kindOf(portalId: number): Promise<string | undefined> {
    return (await db('settings').where({ portal_id: portalId }).first('gateway'))?.gateway;
  }

  const mac = accountMac(crypto);

  /**
   * Saves the portal's gateway account. The one it replaces, when it is another account (accountKey) of a gateway
   * that needs its credentials to tell the fate of what it took (RETIRES), is kept as retired (even with nothing
   * waiting now: another process may still send on it for a few seconds; the retention job erases it once nothing of
   * it waits): SMS.ru's callbacks for them are signed with its key, and they are asked about at it. An account
   * saved again is no longer retired. (A Kannel's DLRs carry each message's own secret; an SMPP account's receipts
   * come over its binds, which are not kept.)
   */
  async function save(portalId: number, s: { gateway: string; credentials: Record<string, string> }, now: number) {
    const fields = { gateway: s.gateway, credentials_enc: crypto.encrypt(JSON.stringify(s.credentials)), updated_at: now };
    const key = accountKey(s.gateway, s.credentials, mac);
    await db.transaction(async (trx) => {
      // A write first: it takes the row (PostgreSQL) or the database (SQLite: a read first would make the upgrade
      // to writing fail at once, SQLITE_BUSY_SNAPSHOT, when another process committed in between) before the read.
      await trx('settings').where({ portal_id: portalId }).update({ updated_at: now });
      const prev = await trx('settings').where({ portal_id: portalId }).first('gateway', 'credentials_enc');
      await trx('settings').insert({ portal_id: portalId, ...fields }).onConflict('portal_id').merge(fields);
      await trx('retired_accounts').where({ portal_id: portalId, account_key: key }).delete();
      // An uninstall that landed while the credentials were being checked erased them: nothing comes back.
      if (!(await stillInstalled(trx, portalId))) throw appUninstalled();
      if (!prev || !RETIRES.has(prev.gateway)) return;
      const prevKey = accountKey(prev.gateway, JSON.parse(crypto.decrypt(prev.credentials_enc)) as Record<string, string>, mac);
      if (prevKey === key) return;
      const retired = { gateway: prev.gateway, credentials_enc: prev.credentials_enc, retired_at: now };
      await trx('retired_accounts').insert({ portal_id: portalId, account_key: prevKey, ...retired }).onConflict(['portal_id', 'account_key']).merge(retired);
    });
  }

  /** The accounts the portal switched away from, of one gateway kind or all, most recently retired first. */
  async function retired(portalId: number, kind?: string): Promise<RetiredAccount[]> {
    const rows = await db('retired_accounts').where({ portal_id: portalId, ...(kind ? { gateway: kind } : {}) }).whereIn('gateway', [...RETIRES]).orderBy('retired_at', 'desc');
    return rows.map((r) => ({ gateway: r.gateway, credentials: JSON.parse(crypto.decrypt(r.credentials_enc)), key: r.account_key, retiredAt: Number(r.retired_at) }));
  }


  async function senders(portalId: number): Promise<Sender[]> {
    const rows = await db('senders').where({ portal_id: portalId }).orderBy('id');
    return rows.map((r) => ({ code: r.code, name: r.name, registeredAt: r.registered_at }));
  }

  async function addSender(portalId: number, s: { code: string; name: string }, now: number) {
    await db.transaction(async (trx) => {
      await trx('senders').insert({ portal_id: portalId, code: s.code, name: s.name, created_at: now }).onConflict(['portal_id', 'code']).merge({ name: s.name });
      if (!(await stillInstalled(trx, portalId))) throw appUninstalled();
    });
  }

  /**
   * The install form's sender under a new name, in place: it stays the portal's first sender (the one the form shows).
   * Unregistered until the caller registers it. A name another sender already has leaves that one and drops this one.
   */
  async function renameSender(portalId: number, oldCode: string, s: { code: string; name: string }) {
    await db.transaction(async (trx) => {
      const taken = await trx('senders').where({ portal_id: portalId, code: s.code }).first('id');
      const row = trx('senders').where({ portal_id: portalId, code: oldCode });
      await (taken ? row.delete() : row.update({ code: s.code, name: s.name, registered_at: null }));
      if (!(await stillInstalled(trx, portalId))) throw appUninstalled();
    });
  }

  async function removeSender(portalId: number, code: string) {
    await db('senders').where({ portal_id: portalId, code }).delete();
  }

  async function markRegistered(portalId: number, code: string, now: number) {
    await db('senders').where({ portal_id: portalId, code }).update({ registered_at: now });
  }

  /** Bitrix24 no longer has the senders as stored (their names changed with the gateway): the provider check registers them again. */
  async function markUnregistered(portalId: number) {
    await db('senders').where({ portal_id: portalId }).update({ registered_at: null });
  }

  /** Every portal's gateway kind (the operator console's list). */
  async function gatewayKinds(): Promise<Map<number, string>> {
    const rows = await db('settings').select('portal_id', 'gateway');
    return new Map(rows.map((r) => [Number(r.portal_id), String(r.gateway)]));
  }

  /** How many installed portals have each gateway kind configured (the start page's readiness). */
  async function configuredByGateway(): Promise<Record<string, number>> {
    const rows = await db('settings')
      .join('portals', 'portals.id', 'settings.portal_id')
      .where('portals.status', 'active')
      .groupBy('settings.gateway')
      .select('settings.gateway as gateway')
      .count<Array<{ gateway: string; n: number | string }>>({ n: '*' });
    return Object.fromEntries(rows.map((r) => [String(r.gateway), Number(r.n)]));
  }

  return { get, kindOf, allOfKind, save, retired, gatewayKinds, configuredByGateway, senders, addSender, renameSender, removeSender, markRegistered, markUnregistered };
}

export type SettingsRepo = ReturnType<typeof createSettingsRepo>;
