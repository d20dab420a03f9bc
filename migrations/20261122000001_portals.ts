import type { Knex } from 'knex';

// A portal is one Bitrix24 installation of the app, keyed by member_id (stable across domain renames).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('portals', (t) => {
    t.increments('id').primary();
    t.string('member_id', 64).notNullable().unique();
    t.string('domain', 255).notNullable();
    t.string('rest_endpoint', 512).notNullable();
    t.string('status', 16).notNullable().defaultTo('active'); // active | uninstalled | inactive
    t.string('inactive_reason', 255);
    t.text('access_token_enc');
    t.text('refresh_token_enc');
    t.bigInteger('access_expires_at');
    t.text('application_token_enc');
    t.string('handler_key_hash', 64).notNullable().unique();
    t.text('handler_key_enc').notNullable();
    t.string('default_country', 2).notNullable().defaultTo('RU');
    t.bigInteger('refresh_lock_until');
    t.bigInteger('last_rest_call_at');
    t.bigInteger('installed_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('uninstalled_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('portals');
}
