import type { Knex } from 'knex';

// How far the holder of a job lease got (src/platform/leases.ts): the statuses job keeps each portal's polling
// position here, so the process that polls the portal next goes on from it, whichever process that is.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('job_leases', (t) => {
    t.bigInteger('mark').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('job_leases', (t) => {
    t.dropColumn('mark');
  });
}
