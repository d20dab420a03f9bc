import type { Knex } from 'knex';

// Bitrix24's per-portal leaky buckets, shared by every process of the service (src/bitrix/limiter.ts), for
// deployments with several processes or machines.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('rate_limits', (t) => {
    t.string('bucket', 300).primary();
    t.bigInteger('tat').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('rate_limits');
}
