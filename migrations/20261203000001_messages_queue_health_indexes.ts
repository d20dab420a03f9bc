import type { Knex } from 'knex';

// The console's queue health reads the oldest queued message and counts the queued ones being retried. Through
// (state, next_attempt_at) both read every queued row (~120 ms with a backlog of 100,000). Partial on the queued
// rows, so only they have entries: the oldest is one seek, the retrying count reads the retrying rows only. state
// leads although it is fixed: SQLite, without statistics, prefers an index with an equality on state to one without.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.index(['state', 'created_at'], 'messages_queued_created_at_index', { predicate: knex.whereRaw("state = 'queued'") });
    t.index(['state', 'attempts'], 'messages_queued_attempts_index', { predicate: knex.whereRaw("state = 'queued'") });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropIndex(['state', 'created_at'], 'messages_queued_created_at_index');
    t.dropIndex(['state', 'attempts'], 'messages_queued_attempts_index');
  });
}
