import type { Knex } from 'knex';

// Kannel's delivery reports kept the SMS centre's receipt text (%A) as the status text and failure reason, shown in
// the portal's log to every user; an SMPP receipt's text ends with `text:` and the message's first characters (a
// one-time code as often as not). New reports keep the receipt without them (kannel.codes.ts); this erases them from
// what was stored before, a thousand rows at a time.
const withoutQuote = (s: string) => s.replace(/(^|[\s,;])text:[\s\S]*$/i, '$1').trim();

export async function up(knex: Knex): Promise<void> {
  for (let after = 0; ;) {
    const rows = await knex('messages')
      .where('id', '>', after)
      .andWhere((q) => q.whereRaw("lower(failure_reason) like '%text:%'").orWhereRaw("lower(gateway_status_text) like '%text:%'"))
      .orderBy('id').limit(1000)
      .select<{ id: number | string; failure_reason: string | null; gateway_status_text: string | null }[]>('id', 'failure_reason', 'gateway_status_text');
    if (!rows.length) return;
    for (const r of rows) {
      await knex('messages').where({ id: r.id }).update({
        failure_reason: r.failure_reason === null ? null : withoutQuote(r.failure_reason),
        gateway_status_text: r.gateway_status_text === null ? null : withoutQuote(r.gateway_status_text),
      });
    }
    after = Number(rows[rows.length - 1]!.id);
  }
}

export async function down(): Promise<void> {
  // What was erased is not brought back.
}
