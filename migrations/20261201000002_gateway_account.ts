import type { Knex } from 'knex';

// gateway_account: which account at the gateway took the message (src/delivery/accounts.ts accountKey, a 64-bit hash of what
// identifies it there). The statuses job and the lookups ask only that account; rows from
// before this column (NULL) are asked at the portal's current account, as they were.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.string('gateway_account', 16);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropColumn('gateway_account');
  });
}
