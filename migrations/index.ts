import type { Knex } from 'knex';
import * as portals from './20261122000001_portals.js';
import * as settings from './20261122000002_settings.js';
import * as senders from './20261122000003_senders.js';
import * as messages from './20261122000004_messages.js';
import * as messageDelivery from './20261122000005_message_delivery.js';
import * as statusReports from './20261122000006_status_reports.js';
import * as testSmsAndDisable from './20261122000007_test_sms_and_disable.js';
import * as messagesDuePortals from './20261130000001_messages_due_portals.js';
import * as settingsGateway from './20261130000002_settings_gateway.js';
import * as statusReportsOutcome from './20261130000003_status_reports_outcome.js';
import * as rateLimits from './20261130000004_rate_limits.js';
import * as loginFailures from './20261130000005_login_failures.js';
import * as consoleIndexes from './20261130000006_messages_console_indexes.js';
import * as jobLeases from './20261130000007_job_leases.js';
import * as reportIdentities from './20261130000008_report_identities.js';
import * as providerChecks from './20261130000010_provider_checks.js';
import * as connectionChecks from './20261130000011_connection_checks.js';
import * as portalPauses from './20261130000012_portal_pauses.js';
import * as outcomeResent from './20261130000013_outcome_resent.js';
import * as messageParts from './20261130000014_message_parts.js';
import * as jobLeaseHolders from './20261201000001_job_lease_holders.js';
import * as gatewayAccount from './20261201000002_gateway_account.js';
import * as consoleLogouts from './20261201000003_console_logouts.js';
import * as jobLeaseMarks from './20261201000004_job_lease_marks.js';
import * as receiptQuotes from './20261202000001_receipt_quotes.js';
import * as dlrMessageTokens from './20261202000002_dlr_message_tokens.js';
import * as learnedApplicationTokens from './20261202000003_learned_application_tokens.js';
import * as handlerKeyRotation from './20261202000004_handler_key_rotation.js';
import * as retiredAccounts from './20261202000005_retired_accounts.js';
import * as queueHealthIndexes from './20261203000001_messages_queue_health_indexes.js';
import * as deploymentFacts from './20261203000002_deployment_facts.js';
import * as portalEraseThrough from './20261203000003_portal_erase_through.js';

// Listed statically so the same migrations run under tsx, vitest and the knex CLI without a loader.
const all: Record<string, Knex.Migration> = {
  '20261122000001_portals': portals,
  '20261122000002_settings': settings,
  '20261122000003_senders': senders,
  '20261122000004_messages': messages,
  '20261122000005_message_delivery': messageDelivery,
  '20261122000006_status_reports': statusReports,
  '20261122000007_test_sms_and_disable': testSmsAndDisable,
  '20261130000001_messages_due_portals': messagesDuePortals,
  '20261130000002_settings_gateway': settingsGateway,
  '20261130000003_status_reports_outcome': statusReportsOutcome,
  '20261130000004_rate_limits': rateLimits,
  '20261130000005_login_failures': loginFailures,
  '20261130000006_messages_console_indexes': consoleIndexes,
  '20261130000007_job_leases': jobLeases,
  '20261130000008_report_identities': reportIdentities,
  '20261130000010_provider_checks': providerChecks,
  '20261130000011_connection_checks': connectionChecks,
  '20261130000012_portal_pauses': portalPauses,
  '20261130000013_outcome_resent': outcomeResent,
  '20261130000014_message_parts': messageParts,
  '20261201000001_job_lease_holders': jobLeaseHolders,
  '20261201000002_gateway_account': gatewayAccount,
  '20261201000003_console_logouts': consoleLogouts,
  '20261201000004_job_lease_marks': jobLeaseMarks,
  '20261202000001_receipt_quotes': receiptQuotes,
  '20261202000002_dlr_message_tokens': dlrMessageTokens,
  '20261202000003_learned_application_tokens': learnedApplicationTokens,
  '20261202000004_handler_key_rotation': handlerKeyRotation,
  '20261202000005_retired_accounts': retiredAccounts,
  '20261203000001_messages_queue_health_indexes': queueHealthIndexes,
  '20261203000002_deployment_facts': deploymentFacts,
  '20261203000003_portal_erase_through': portalEraseThrough,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(all).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => all[name]!,
};
