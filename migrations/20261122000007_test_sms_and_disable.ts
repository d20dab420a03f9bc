import type { Knex } from 'knex';

// is_test: a test SMS sent from the settings page; Bitrix24 has no such message, so it is never reported.
// disabled_at: the operator switched the portal off (intake refuses, the worker does not send).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.boolean('is_test').notNullable().defaultTo(false);
    t.index(['portal_id', 'created_at']);
  });
  await knex.schema.alterTable('portals', (t) => {
    t.bigInteger('disabled_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropIndex(['portal_id', 'created_at']);
    t.dropColumn('is_test');
  });
  await knex.schema.alterTable('portals', (t) => t.dropColumn('disabled_at'));
}
