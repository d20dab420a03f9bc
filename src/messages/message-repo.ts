import type { Knex } from 'knex';
import type { Db } from '../platform/db.js';
import { writeStatusReport, type OnFinal } from '../delivery/report-repo.js';
import type { MessageState } from './states.js';
import { createIntakeWriter } from './intake-writer.js';
import { appUninstalled, stillInstalled } from '../portals/portal-repo.js';

export interface NewMessage {
  portalId: number;
  b24MessageId: string;
  code: string;
  moduleId?: string;
  origin?: Record<string, unknown>;
  messageTo: string;
  phone: string | null;
  body: string | null;
  state: 'queued' | 'failed';
  failureReason?: string;
  isTest?: boolean;
  authorId?: number | null;
  now: number;
}

export interface MessageRow {
  id: number;
  portal_id: number;
  b24_message_id: string;
  code: string;
  module_id: string | null;
  message_to: string;
  phone: string | null;
  body: string | null;
  state: MessageState;
  failure_reason: string | null;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
  updated_at: number;
}

/** What Bitrix24 sends as a message's origin (a few CRM bindings, a business process's ids) fits many times over. */
export const ORIGIN_MAX_CHARS = 4096;

/**
 * The origin as stored: its JSON, or nothing when it is larger than ORIGIN_MAX_CHARS (the handler's 1 MB body could
 * otherwise put a megabyte into every stored row of a shared database; the message is taken all the same).
 */
function originJson(origin: Record<string, unknown> | undefined): string | null {
  if (!origin) return null;
  const json = JSON.stringify(origin);
  return json.length <= ORIGIN_MAX_CHARS ? json : null;
}

export function createMessageRepo(db: Db, opts: { onFinal?: OnFinal } = {}) {
  const writer = createIntakeWriter(db);

  /**
   * Stores a message once per (portal, Bitrix24 message id): Bitrix24's queue may deliver the same
   * message twice. Returns the new row's id, or undefined when it was a duplicate.
   */
  async function enqueue(m: NewMessage): Promise<number | undefined> {
    if (m.state === 'queued') {
      return writer.insert({
        portalId: m.portalId, b24MessageId: m.b24MessageId, code: m.code, moduleId: m.moduleId ?? null, origin: originJson(m.origin),
        messageTo: m.messageTo, phone: m.phone!, body: m.body!, isTest: m.isTest ?? false, authorId: m.authorId ?? null, now: m.now,
      });
    }
    // A number rejected at intake is final at once: its `failed` report goes into the outbox in the same transaction.
    const id = await db.transaction(async (trx) => {
      const inserted = await insert(trx, m);
      if (!(await stillInstalled(trx, m.portalId))) throw appUninstalled(); // rolls the row back
      if (inserted !== undefined) await writeStatusReport(trx, inserted, 'failed', m.now);
      return inserted;
    });
    if (id !== undefined) opts.onFinal?.('failed', '');
    return id;
  }

  async function insert(q: Db | Knex.Transaction, m: NewMessage): Promise<number | undefined> {
    const rows = await q('messages')
      .insert({
        portal_id: m.portalId,
        b24_message_id: m.b24MessageId,
        code: m.code,
        module_id: m.moduleId ?? null,
        origin: originJson(m.origin),
        message_to: m.messageTo,
        phone: m.phone,
        body: m.body,
        state: m.state,
        failure_reason: m.failureReason ?? null,
        is_test: m.isTest ?? false,
        author_id: m.authorId ?? null,
        final_at: m.state === 'failed' ? m.now : null,
        next_attempt_at: m.now,
        created_at: m.now,
        updated_at: m.now,
      })
      .onConflict(['portal_id', 'b24_message_id'])
      .ignore()
      .returning('id');
    const first = rows[0] as { id: number } | number | undefined;
    const id = typeof first === 'object' ? Number(first.id) : first;
    return id;
  }

  async function byB24Id(portalId: number, b24MessageId: string): Promise<MessageRow | undefined> {
    return db<MessageRow>('messages').where({ portal_id: portalId, b24_message_id: b24MessageId }).first();
  }

  return { enqueue, byB24Id };
}

export type MessageRepo = ReturnType<typeof createMessageRepo>;
