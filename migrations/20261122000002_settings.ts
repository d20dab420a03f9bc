import type { Knex } from 'knex';

// The gateway account of a portal. Credentials are one encrypted JSON blob, so each gateway
// can keep the fields it needs (SMS.ru: api_key; Kannel: url, username, password).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('settings', (t) => {
    t.integer('portal_id').primary().references('portals.id').onDelete('CASCADE');
    t.string('provider', 32).notNullable();
    t.text('credentials_enc').notNullable();
    t.bigInteger('updated_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('settings');
}
