import type { Knex } from 'knex';

// The last periodic provider check of each portal (src/portals/provider-check.ts): when, and what came of it.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('provider_checks', (t) => {
    t.integer('portal_id').primary().references('portals.id').onDelete('CASCADE');
    t.bigInteger('checked_at').notNullable();
    t.string('outcome', 16).notNullable(); // ok, repaired, error
    t.integer('providers_repaired').notNullable().defaultTo(0);
    t.integer('events_repaired').notNullable().defaultTo(0);
    t.string('error', 100);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('provider_checks');
}
