import type { Knex } from 'knex';

// The settings page's "Check the connection" (src/portals/connection-check.ts): the last test event asked of each
// portal (event.test) and when its ONAPPTEST arrived, readable by every web process.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('connection_checks', (t) => {
    t.integer('portal_id').primary().references('portals.id').onDelete('CASCADE');
    t.string('nonce', 64).notNullable();
    t.bigInteger('requested_at').notNullable();
    t.bigInteger('arrived_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('connection_checks');
}
