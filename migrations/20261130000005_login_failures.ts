import type { Knex } from 'knex';

// The operator console's failed logins, shared by every web process (src/console/login-throttle.ts).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('login_failures', (t) => {
    t.bigIncrements('id').primary();
    t.string('key', 200).notNullable();
    t.bigInteger('at').notNullable();
    t.index(['key', 'at']);
    t.index(['at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('login_failures');
}
