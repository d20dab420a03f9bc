import type { Knex } from 'knex';

// The operator console's figures read recent rows only: today's and the last week's messages by created_at, the
// hourly chart by final_at, each portal's last error by id among rows that have one. Without these each page view
// walked the whole table (298 ms with 1,000,000 stored messages on the bench machine). Partial where the column is
// often empty, so intake writes no entry for them.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.index(['created_at'], 'messages_created_at_index');
    t.index(['final_at'], 'messages_final_at_index', { predicate: knex.whereNotNull('final_at') });
    t.index(['portal_id', 'id'], 'messages_portal_last_error_index', { predicate: knex.whereNotNull('failure_reason') });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropIndex(['created_at'], 'messages_created_at_index');
    t.dropIndex(['final_at'], 'messages_final_at_index');
    t.dropIndex(['portal_id', 'id'], 'messages_portal_last_error_index');
  });
}
