import type { Knex } from 'knex';

// The gateway accounts a portal switched away from, kept (encrypted, like settings.credentials_enc) while messages
// they took may still change: SMS.ru's callbacks for them are signed with the earlier key, and SMS.ru and SMSC.ru
// answer status requests only at the account that took the message. Erased STATUS_MAX_AGE after the switch (the
// retention job), and with the portal's settings on an uninstall that forgets them.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('retired_accounts', (t) => {
    t.integer('portal_id').notNullable().references('portals.id').onDelete('CASCADE');
    t.string('account_key', 16).notNullable();
    t.string('gateway', 16).notNullable();
    t.text('credentials_enc').notNullable();
    t.bigInteger('retired_at').notNullable();
    t.primary(['portal_id', 'account_key']);
    t.index(['retired_at'], 'retired_accounts_retired_at_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('retired_accounts');
}
