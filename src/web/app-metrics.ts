import type { Db } from '../platform/db.js';
import { createMetrics } from '../platform/metrics.js';
import type { ReportRepo } from '../delivery/report-repo.js';

/** The service's metrics, served at GET /metrics in Prometheus text format. */
export function createAppMetrics(db: Db, reports: ReportRepo) {
  const m = createMetrics();
  m.gauge('sms_messages', 'Messages by state and gateway', async () => {
    const rows: Array<{ state: string; gateway: string; n: number | string }> = await db('messages')
      .select('state', db.raw("coalesce(gateway, '') as gateway"))
      .count({ n: '*' })
      .groupBy('state', 'gateway');
    return rows.map((r) => ({ labels: { state: String(r.state), gateway: String(r.gateway) }, value: Number(r.n) }));
  });
  m.gauge('sms_status_reports_pending', 'Status reports waiting to be sent to Bitrix24', async () => [{ labels: {}, value: await reports.backlog() }]);
  return {
    render: m.render,
    handlerLatency: m.histogram('sms_handler_duration_seconds', 'Time to answer Bitrix24 on /handler', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]),
    gatewayLatency: m.histogram('sms_gateway_send_duration_seconds', 'Gateway send request latency', [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15]),
    gatewaySends: m.counter('sms_gateway_sends_total', 'Gateway send attempts by outcome'),
    reports: m.counter('sms_status_reports_total', 'Status reports to Bitrix24 by outcome (sent, retry, dropped)'),
    restCalls: m.counter('b24_rest_calls_total', 'Bitrix24 REST calls by method and outcome'),
    tokenRefreshes: m.counter('b24_token_refreshes_total', 'Bitrix24 token refreshes by outcome'),
  };
}

export type AppMetrics = ReturnType<typeof createAppMetrics>;
