import type { Knex } from 'knex';

/**
 * Writes a message's status report into the outbox (status_reports), inside the transaction that changed
 * the message, so no report is lost. Test SMS from the settings page are skipped: Bitrix24 knows nothing of them.
 */
export async function writeStatusReport(trx: Knex.Transaction, messageId: number, status: string, now: number): Promise<void> {
  const m = await trx('messages').where({ id: messageId }).first('portal_id', 'code', 'b24_message_id', 'is_test');
  if (!m || m.is_test) return;
  await trx('status_reports')
    .insert({ portal_id: m.portal_id, message_id: messageId, code: m.code, b24_message_id: m.b24_message_id, status, next_attempt_at: now, created_at: now, updated_at: now })
    .onConflict(['message_id', 'status'])
    .ignore();
}
