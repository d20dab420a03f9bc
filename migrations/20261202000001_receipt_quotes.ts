import type { Knex } from 'knex';

// Kannel's delivery reports kept the SMS centre's receipt text (%A) as the status text and failure reason, shown in
// the portal's log to every user; an SMPP receipt's text ends with `text:` and the message's first characters (a
// one-time code as often as not). New reports keep the receipt without them (kannel.codes.ts); this erases them from
// what was stored before. Not one transaction: ten thousand ids at a time, each range's changes committed on their
// own, so the other processes' writes (the handler's above all) never wait on it for long.
const withoutQuote = (s: string) => s.replace(/(^|[\s,;])text:[\s\S]*$/i, '$1').trim();
const RANGE = 10_000;

export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  const top = Number((await knex('messages').max({ top: 'id' }).first())?.top ?? 0);
  for (let from = 0; from < top; from += RANGE) {
    const rows = await knex('messages')
      .where('id', '>', from).andWhere('id', '<=', from + RANGE)
      .andWhere((q) => q.whereRaw("lower(failure_reason) like '%text:%'").orWhereRaw("lower(gateway_status_text) like '%text:%'"))
      .select<{ id: number | string; failure_reason: string | null; gateway_status_text: string | null }[]>('id', 'failure_reason', 'gateway_status_text');
    if (!rows.length) continue;
    await knex.transaction(async (trx) => {
      for (const r of rows) {
        await trx('messages').where({ id: r.id }).update({
          failure_reason: r.failure_reason === null ? null : withoutQuote(r.failure_reason),
          gateway_status_text: r.gateway_status_text === null ? null : withoutQuote(r.gateway_status_text),
        });
      }
    });
  }
}

export async function down(): Promise<void> {
  // What was erased is not brought back.
}
