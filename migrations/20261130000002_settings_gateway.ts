import type { Knex } from 'knex';

// "provider" is Bitrix24's word for what messageservice.sender.add registers; the column names the gateway kind.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('settings', (t) => {
    t.renameColumn('provider', 'gateway');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('settings', (t) => {
    t.renameColumn('gateway', 'provider');
  });
}
