import type { Knex } from 'knex';

// Per-message secrets in delivery-report URLs (dlr-url.ts): a message sent with its own says so here, and then only
// that secret settles it; one sent before (null) still takes its portal's, which its URL carries.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.smallint('dlr_token_v').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropColumn('dlr_token_v');
  });
}
