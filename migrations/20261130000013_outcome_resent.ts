import type { Knex } from 'knex';

// resent_at: a lost answer that the gateway, asked by our id (SMSC.ru), said it never received; the message was
// queued again at this time. Set once and never cleared: a message is sent again after an unknown outcome at most
// once (src/delivery/outcome-lookups.ts).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.bigInteger('resent_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropColumn('resent_at');
  });
}
