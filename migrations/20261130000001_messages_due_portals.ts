import type { Knex } from 'knex';

// The send worker looks for portals with due messages one index seek per portal (a loose index scan), so a
// portal with a huge backlog costs the others nothing when its gateway account has no free slot.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.index(['state', 'portal_id', 'next_attempt_at'], 'messages_state_portal_due_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropIndex(['state', 'portal_id', 'next_attempt_at'], 'messages_state_portal_due_index');
  });
}
