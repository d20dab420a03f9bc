import type { Knex } from 'knex';

// An uninstall with CLEAN erases the portal's message texts and numbers after it committed, in short batches, so the
// portal's row is not locked (and every batch of other portals' intake held behind it) while a long history is
// rewritten. erase_through: the portal's messages with ids up to it are still to be erased; null when done. The
// retention job finishes what a process that died left.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('portals', (t) => {
    t.bigInteger('erase_through').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('portals', (t) => {
    t.dropColumn('erase_through');
  });
}
