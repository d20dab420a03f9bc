import type { Knex } from 'knex';

// Who holds each job lease (src/platform/leases.ts): only the holder renews or gives it back, so a process whose
// lease ran out while it worked cannot extend or end the lease another process took since.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('job_leases', (t) => {
    t.string('holder', 32).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('job_leases', (t) => {
    t.dropColumn('holder');
  });
}
