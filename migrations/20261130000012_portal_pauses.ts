import type { Knex } from 'knex';

// Portals (scope '*') and single methods that Bitrix24 asked us to stop calling for a while: PORTAL_DELETED,
// OVERLOAD_LIMIT, OPERATION_TIME_LIMIT (src/bitrix/pauses.ts). Shared by every process, so none of them calls a
// paused portal.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('portal_pauses', (t) => {
    t.integer('portal_id').notNullable().references('portals.id').onDelete('CASCADE');
    t.string('scope', 200).notNullable();
    t.string('reason', 64).notNullable();
    t.bigInteger('since').notNullable();
    t.integer('strikes').notNullable();
    t.bigInteger('until').notNullable();
    t.primary(['portal_id', 'scope']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('portal_pauses');
}
