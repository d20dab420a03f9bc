import type { Knex } from 'knex';

// A rotated handler key (the operator console's "rotate handler key"): the one before stays good while Bitrix24 is
// told the new handler URL (until null: not confirmed yet) and for a grace period after, so no SMS Bitrix24 already
// has on its way is refused. Indexed: a call with a key nobody has must not cost a scan of every portal.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('portals', (t) => {
    t.string('handler_key_prev_hash', 64).nullable();
    t.bigInteger('handler_key_prev_until').nullable();
    t.index(['handler_key_prev_hash'], 'portals_handler_key_prev_hash_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('portals', (t) => {
    t.dropIndex(['handler_key_prev_hash'], 'portals_handler_key_prev_hash_index');
    t.dropColumn('handler_key_prev_hash');
    t.dropColumn('handler_key_prev_until');
  });
}
