import type { Knex } from 'knex';

// Delivery bookkeeping on the queue rows.
// lease_token: who holds the claim; every worker write checks it, so a reaped claim cannot be completed twice.
// submitted_at: written durably just before the request goes to the gateway. A claim that dies without it
// was never sent (safe to send again); one that dies with it has an unknown outcome (never resent blindly).
// unknown_since: the outcome is unknown and waits for the gateway (a DLR) to tell, or to time out as failed.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.string('lease_token', 32);
    t.bigInteger('submitted_at');
    t.bigInteger('unknown_since');
    t.string('sender', 20);
    t.string('encoding', 8);
    t.bigInteger('sent_at');
    t.bigInteger('final_at');
    t.index(['portal_id', 'gateway_message_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropIndex(['portal_id', 'gateway_message_id']);
    for (const c of ['lease_token', 'submitted_at', 'unknown_since', 'sender', 'encoding', 'sent_at', 'final_at']) t.dropColumn(c);
  });
}
