import type { Knex } from 'knex';

// Facts about the deployment as a whole, one row each. `secret_key_check`: a value sealed with the SECRET_KEY of the
// first process that started on this database; a process whose key cannot open it refuses to start (boot.ts), instead
// of writing secrets that no other process can read and failing to read theirs.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('deployment_facts', (t) => {
    t.string('name', 64).primary();
    t.text('value').notNullable();
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('deployment_facts');
}
