import type { Knex } from 'knex';

/** Told once per message that reaches a final state, after its transaction committed (metrics count these). */
export type OnFinal = (state: string, gateway: string) => void;

/**
 * Writes a message's status report into the outbox (status_reports), inside the transaction that changed
 * the message, so no report is lost. Test SMS from the settings page are skipped: Bitrix24 knows nothing of them.
 */
export async function writeStatusReport(trx: Knex.Transaction, messageId: number, status: string, now: number): Promise<{ gateway: string | null } | undefined> {
  const m = await trx('messages').where({ id: messageId }).first('portal_id', 'code', 'b24_message_id', 'is_test', 'gateway');
  if (!m) return undefined;
  if (m.is_test) return { gateway: m.gateway };
  await trx('status_reports')
    .insert({ portal_id: m.portal_id, message_id: messageId, code: m.code, b24_message_id: m.b24_message_id, status, next_attempt_at: now, created_at: now, updated_at: now })
    .onConflict(['message_id', 'status'])
    .ignore();
  return { gateway: m.gateway };
}
