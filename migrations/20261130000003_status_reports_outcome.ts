import type { Knex } from 'knex';

// A status report's own progress gets its own word: `outcome` pending -> reported | dropped. ("state" is a message's
// place in the state machine, and "sent" means accepted by the gateway.)
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('status_reports', (t) => {
    t.renameColumn('state', 'outcome');
  });
  await knex('status_reports').where({ outcome: 'sent' }).update({ outcome: 'reported' });
}

export async function down(knex: Knex): Promise<void> {
  await knex('status_reports').where({ outcome: 'reported' }).update({ outcome: 'sent' });
  await knex.schema.alterTable('status_reports', (t) => {
    t.renameColumn('outcome', 'state');
  });
}
