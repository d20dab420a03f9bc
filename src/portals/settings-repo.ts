import type { Db } from '../platform/db.js';
import type { Crypto } from '../platform/crypto.js';

export interface GatewaySettings {
  gateway: string; // the kind: smsru, kannel
  credentials: Record<string, string>;
  updatedAt: number;
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

  async function save(portalId: number, s: { gateway: string; credentials: Record<string, string> }, now: number) {
    const fields = { gateway: s.gateway, credentials_enc: crypto.encrypt(JSON.stringify(s.credentials)), updated_at: now };
    await db('settings').insert({ portal_id: portalId, ...fields }).onConflict('portal_id').merge(fields);
  }

  async function senders(portalId: number): Promise<Sender[]> {
    const rows = await db('senders').where({ portal_id: portalId }).orderBy('id');
    return rows.map((r) => ({ code: r.code, name: r.name, registeredAt: r.registered_at }));
  }

  async function addSender(portalId: number, s: { code: string; name: string }, now: number) {
    await db('senders')
      .insert({ portal_id: portalId, code: s.code, name: s.name, created_at: now })
      .onConflict(['portal_id', 'code'])
      .merge({ name: s.name });
  }

  async function removeSender(portalId: number, code: string) {
    await db('senders').where({ portal_id: portalId, code }).delete();
  }

  async function markRegistered(portalId: number, code: string, now: number) {
    await db('senders').where({ portal_id: portalId, code }).update({ registered_at: now });
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

  return { get, kindOf, allOfKind, save, gatewayKinds, configuredByGateway, senders, addSender, removeSender, markRegistered };
}

export type SettingsRepo = ReturnType<typeof createSettingsRepo>;
