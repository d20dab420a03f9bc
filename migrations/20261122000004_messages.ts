import type { Knex } from 'knex';

// The messages table is the queue. States: queued -> sending -> sent -> delivered | undelivered | failed.
// `sent` means accepted by the gateway, not delivered.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('messages', (t) => {
    t.bigIncrements('id').primary();
    t.integer('portal_id').notNullable().references('portals.id').onDelete('CASCADE');
    t.string('b24_message_id', 64).notNullable();
    t.string('code', 128).notNullable();
    t.string('module_id', 32);
    t.text('origin'); // JSON: bindings, workflow_id, document_id from Bitrix24
    t.string('message_to', 64).notNullable(); // as typed in CRM
    t.string('phone', 20); // E.164, null when the number could not be parsed
    t.text('body');
    t.string('state', 16).notNullable();
    t.string('failure_reason', 500);
    t.integer('attempts').notNullable().defaultTo(0);
    t.bigInteger('next_attempt_at').notNullable();
    t.bigInteger('lease_until');
    t.string('gateway', 32);
    t.string('gateway_message_id', 64);
    t.string('gateway_status', 32);
    t.string('gateway_status_text', 500);
    t.integer('segments');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.unique(['portal_id', 'b24_message_id']);
    t.index(['state', 'next_attempt_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('messages');
}
