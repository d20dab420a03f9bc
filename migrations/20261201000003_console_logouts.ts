import type { Knex } from 'knex';

// Operator console sessions ended by "Sign out" before their cookie expires (src/console/console-sessions.ts): every
// web process refuses them. A row is kept until the session would have expired anyway.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('console_logouts', (t) => {
    t.string('session_id', 32).primary();
    t.bigInteger('until').notNullable();
    t.index(['until']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('console_logouts');
}
