import type { Knex } from 'knex';

// A sender is one provider registered in Bitrix24 (one CODE); its name is the SMS sender name.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('senders', (t) => {
    t.increments('id').primary();
    t.integer('portal_id').notNullable().references('portals.id').onDelete('CASCADE');
    t.string('code', 128).notNullable();
    t.string('name', 64).notNullable();
    t.bigInteger('registered_at');
    t.bigInteger('created_at').notNullable();
    t.unique(['portal_id', 'code']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('senders');
}
