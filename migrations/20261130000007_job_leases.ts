import type { Knex } from 'knex';

// Named leases for periodic jobs that must not run twice at once across processes (src/platform/leases.ts): the
// statuses job polls each portal's gateway from one process at a time.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('job_leases', (t) => {
    t.string('name', 200).primary();
    t.bigInteger('until').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('job_leases');
}
