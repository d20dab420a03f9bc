import type { Knex } from 'knex';

// The application_token a portal's handler calls carried, kept when the portal had none yet (portal-repo.ts
// authenticate): good for /handler only. An uninstall or a test event is proven by application_token_enc alone,
// which only a verified install or an administrator's event sets.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('portals', (t) => {
    t.text('learned_application_token_enc').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('portals', (t) => {
    t.dropColumn('learned_application_token_enc');
  });
}
