import type { Db } from '../platform/db.js';
import { idKeys } from '../gateways/smpp/codec.js';

export interface PartMatch {
  portalId: number;
  messageId: number;
  part: number;
  parts: number;
  /** The id as the centre wrote it in its answer to the part. */
  gatewayId: string;
  state: string;
  phone: string | null;
}

/**
 * The `message_parts` table: each accepted part's id at an SMS centre, so that a receipt finds its message by any
 * part's id and in either form (hex or decimal) the centre writes it. Also the other way a receipt can find a
 * message: by the number, among messages whose outcome is unknown; and what a late SMPP answer does to one.
 */
export function createPartRepo(db: Db) {
  async function record(portalId: number, p: { messageId: number; part: number; parts: number; smscId: string }, now: number) {
    const rows = idKeys(p.smscId).map((key) => ({
      portal_id: portalId, message_id: p.messageId, part: p.part, parts: p.parts, gateway_id: p.smscId.slice(0, 64), id_key: key, created_at: now,
    }));
    await db('message_parts').insert(rows).onConflict(['message_id', 'part', 'id_key']).ignore();
  }

  /**
   * Parts of the portals' messages whose id reads as `id` in some form, newest message first (a few at most). Several
   * portals: those that share one SMPP account (smpp-receipts.ts).
   */
  async function find(portalIds: number[], id: string): Promise<PartMatch[]> {
    const rows = await db('message_parts as p')
      .join('messages as m', 'm.id', 'p.message_id')
      .whereIn('p.portal_id', portalIds)
      .whereIn('p.id_key', idKeys(id))
      .orderBy('p.message_id', 'desc')
      .limit(20)
      .select('p.portal_id', 'p.message_id', 'p.part', 'p.parts', 'p.gateway_id', 'm.state', 'm.phone');
    return rows.map((r) => ({
      portalId: Number(r.portal_id), messageId: Number(r.message_id), part: Number(r.part), parts: Number(r.parts), gatewayId: String(r.gateway_id),
      state: String(r.state), phone: r.phone ?? null,
    }));
  }

  /** The first part's id of a message, as the centre wrote it. */
  async function firstId(messageId: number): Promise<string | undefined> {
    const row = await db('message_parts').where({ message_id: messageId, part: 0 }).first('gateway_id');
    return row ? String(row.gateway_id) : undefined;
  }

  /**
   * The portals' messages at `gateway` to `phone` (E.164) submitted by `submittedBy` that wait for the centre, with
   * their texts: their outcome unknown, or (`inFlight`) their submit's answer not heard yet.
   */
  async function awaitingOutcome(portalIds: number[], gateway: string, phone: string, submittedBy: number) {
    const rows = await db('messages')
      .whereIn('portal_id', portalIds)
      .where({ gateway, phone, state: 'sending' })
      .whereNull('gateway_message_id')
      .andWhere('submitted_at', '<=', submittedBy)
      .orderBy('id', 'desc')
      .limit(20)
      .select('id', 'portal_id', 'body', 'unknown_since');
    return rows.map((r) => ({ id: Number(r.id), portalId: Number(r.portal_id), body: (r.body as string | null) ?? null, inFlight: r.unknown_since === null }));
  }

  /** A message whose outcome is unknown (sending, unknown_since set, no lease), as a late answer finds it. */
  async function unknownOutcome(id: number): Promise<{ unknownSince: number; attempts: number; createdAt: number } | undefined> {
    const r = await db('messages').where({ id, state: 'sending' }).whereNotNull('unknown_since').whereNull('lease_token').first('unknown_since', 'attempts', 'created_at');
    return r && { unknownSince: Number(r.unknown_since), attempts: Number(r.attempts), createdAt: Number(r.created_at) };
  }

  /**
   * The centre refused it late, "not now": back to the queue until `nextAttemptAt`, only while it is still the unknown
   * outcome read (same unknown_since, no lease). One another process settled, or took again, is left alone.
   */
  async function requeueUnknown(id: number, unknownSince: number, now: number, nextAttemptAt: number, fields: { gateway_status: string; gateway_status_text: string }) {
    const n = await db('messages')
      .where({ id, state: 'sending', unknown_since: unknownSince })
      .whereNull('lease_token')
      .update({ state: 'queued', unknown_since: null, submitted_at: null, lease_until: null, next_attempt_at: nextAttemptAt, updated_at: now, ...fields });
    return n === 1;
  }

  return { record, find, firstId, awaitingOutcome, unknownOutcome, requeueUnknown };
}

export type PartRepo = ReturnType<typeof createPartRepo>;
