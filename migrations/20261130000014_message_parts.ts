import type { Knex } from 'knex';

// The ids an SMS centre gave each part of a message (SMPP: one submit_sm, and one id, per part). The message keeps
// the first part's in gateway_message_id; these rows let a receipt find its message by any part's id, written in
// either of the forms centres use (hex in one PDU, decimal in the other): `id_key` is one reading of the id
// (gateways/smpp/codec.ts idKeys), one row per reading.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('message_parts', (t) => {
    t.bigIncrements('id').primary();
    t.integer('portal_id').notNullable().references('portals.id').onDelete('CASCADE');
    t.bigInteger('message_id').notNullable().references('messages.id').onDelete('CASCADE');
    t.integer('part').notNullable(); // 0 = the first
    t.integer('parts').notNullable();
    t.string('gateway_id', 64).notNullable(); // as the centre wrote it
    t.string('id_key', 100).notNullable();
    t.bigInteger('created_at').notNullable();
    t.unique(['message_id', 'part', 'id_key']);
    t.index(['portal_id', 'id_key']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('message_parts');
}
