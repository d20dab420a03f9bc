import type { Knex } from 'knex';

// Whose token a status report goes with (issue 10 §3). messageservice.message.status.update is allowed to the
// message's author or an administrator (core RestService::updateMessageStatus), so besides the stored pair the app
// keeps the pair of the latest verified administrator who opened its page, and each author's own short-lived token;
// `reports_waiting_since` marks a portal whose reports no token could deliver.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('portals', (t) => {
    t.integer('token_user_id').nullable();
    t.integer('admin_user_id').nullable();
    t.text('admin_access_token_enc').nullable();
    t.text('admin_refresh_token_enc').nullable();
    t.bigInteger('admin_expires_at').nullable();
    t.bigInteger('reports_waiting_since').nullable();
  });
  await knex.schema.alterTable('messages', (t) => {
    t.integer('author_id').nullable();
  });
  await knex.schema.alterTable('status_reports', (t) => {
    t.integer('author_id').nullable();
  });
  await knex.schema.createTable('author_tokens', (t) => {
    t.integer('portal_id').notNullable().references('portals.id').onDelete('CASCADE');
    t.integer('user_id').notNullable();
    t.text('access_token_enc').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.primary(['portal_id', 'user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('author_tokens');
  await knex.schema.alterTable('status_reports', (t) => t.dropColumn('author_id'));
  await knex.schema.alterTable('messages', (t) => t.dropColumn('author_id'));
  await knex.schema.alterTable('portals', (t) => {
    for (const c of ['token_user_id', 'admin_user_id', 'admin_access_token_enc', 'admin_refresh_token_enc', 'admin_expires_at', 'reports_waiting_since']) t.dropColumn(c);
  });
}
