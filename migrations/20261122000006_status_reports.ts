import type { Knex } from 'knex';

// The outbox of statuses to report to Bitrix24 (messageservice.message.status.update). A row is written in
// the same transaction as the message's state change, so no report is lost while Bitrix24 is down.
// state: pending -> sent | dropped (permanent error, e.g. ERROR_MESSAGE_NOT_FOUND after Bitrix24's purge).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('status_reports', (t) => {
    t.bigIncrements('id').primary();
    t.integer('portal_id').notNullable().references('portals.id').onDelete('CASCADE');
    t.bigInteger('message_id').notNullable().references('messages.id').onDelete('CASCADE');
    t.string('code', 128).notNullable();
    t.string('b24_message_id', 64).notNullable();
    t.string('status', 16).notNullable();
    t.string('state', 12).notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.bigInteger('next_attempt_at').notNullable();
    t.bigInteger('lease_until');
    t.string('last_error', 500);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.unique(['message_id', 'status']);
    t.index(['state', 'next_attempt_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('status_reports');
}
