import type { Db } from '../platform/db.js';
import { createMetrics, sharedRead, type MetricsSnapshot } from '../platform/metrics.js';
import type { ReportRepo } from '../delivery/report-repo.js';
import { droppedLogLines } from '../platform/logger.js';

const LIVE_STATES = ['queued', 'sending', 'sent'];

/**
 * The service's metrics, served at GET /metrics in Prometheus text format.
 *
 * Scrapes must not load the database: SQLite has one connection, and a GROUP BY over the whole messages
 * table per scrape queued /handler behind it. So final states are counted as they happen
 * (`messagesFinal`), and the two gauges read only live rows through the (state, …) indexes, at most once per
 * `refreshMs` however many scrapers ask.
 */
export function createAppMetrics(db: Db, reports: ReportRepo, opts: { refreshMs?: number; now?: () => number } = {}) {
  const m = createMetrics();
  const every = { maxAgeMs: opts.refreshMs ?? 10_000, now: opts.now };

  const live = sharedRead(async () => {
    const rows: Array<{ state: string; gateway: string; n: number | string }> = await db('messages')
      .whereIn('state', LIVE_STATES)
      .select('state', db.raw("coalesce(gateway, '') as gateway"))
      .count({ n: '*' })
      .groupBy('state', 'gateway');
    return rows.map((r) => ({ labels: { state: String(r.state), gateway: String(r.gateway) }, value: Number(r.n) }));
  }, every);
  const pending = sharedRead(async () => [{ labels: {}, value: await reports.backlog() }], every);

  const staleness = `read at most every ${every.maxAgeMs / 1000} s`;
  m.gauge('sms_messages', `Messages in a live state (queued, sending, sent) by gateway, ${staleness}`, live);
  m.gauge('sms_status_reports_pending', `Status reports waiting to be sent to Bitrix24, ${staleness}`, pending);
  // Other processes of this service whose counts this one shows (npm start's background process).
  const peers: Array<() => Promise<MetricsSnapshot | undefined>> = [];
  // The log lines this process dropped (logger.ts), brought into the counter when it is read.
  const droppedLines = m.counter('log_lines_dropped_total', 'Log lines dropped because standard output was not being read');
  let droppedSeen = 0;
  const countDropped = () => {
    const now = droppedLogLines();
    if (now > droppedSeen) droppedLines.inc({}, now - droppedSeen);
    droppedSeen = now;
  };
  return {
    render: async () => {
      countDropped();
      return m.render((await Promise.all(peers.map((p) => p().catch(() => undefined)))).filter((s) => s !== undefined));
    },
    snapshot: () => (countDropped(), m.snapshot()),
    addPeer: (peer: () => Promise<MetricsSnapshot | undefined>) => void peers.push(peer),
    /** Call once per message that reaches delivered, undelivered or failed: `inc({ state, gateway: gateway ?? '' })`. */
    messagesFinal: m.counter('sms_messages_final_total', 'Messages that reached a final state (delivered, undelivered, failed), by gateway'),
    handlerLatency: m.histogram('sms_handler_duration_seconds', 'Time to answer Bitrix24 on /handler', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]),
    gatewayLatency: m.histogram('sms_gateway_send_duration_seconds', 'Gateway send request latency', [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15]),
    gatewaySends: m.counter('sms_gateway_sends_total', 'Gateway send attempts by outcome'),
    reports: m.counter('sms_status_reports_total', 'Status reports to Bitrix24 by outcome (reported, retry, dropped)'),
    restCalls: m.counter('b24_rest_calls_total', 'Bitrix24 REST calls by method and outcome'),
    tokenRefreshes: m.counter('b24_token_refreshes_total', 'Bitrix24 token refreshes by outcome'),
    tokenChecksRefused: m.counter('b24_token_checks_refused_total', 'OAuth checks of posted tokens refused before reaching the OAuth server, by reason (share: one address over its share; busy: too many waiting)'),
    providerRepairs: m.counter('b24_provider_repairs_total', 'Providers registered and events bound again by the provider check, by what (provider, event)'),
  };
}

export type AppMetrics = ReturnType<typeof createAppMetrics>;
