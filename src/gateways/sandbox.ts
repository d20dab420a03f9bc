import type { Dispatcher } from 'undici';
import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { httpRequest } from '../platform/http.js';
import type { CredentialCheck, Gateway, GatewayStatus, OutgoingSms, SendOutcome } from './gateway.js';

/** What the sandbox does with a number, by its last digits. */
export type SandboxFate = 'delivered' | 'undelivered' | 'refused';

/** …00: refused at once; …0: accepted, then not delivered; anything else: accepted, then delivered. */
export const sandboxFate = (e164: string): SandboxFate => (/00$/.test(e164) ? 'refused' : /0$/.test(e164) ? 'undelivered' : 'delivered');

/** The sandbox's delivery reports (the `status` field of its posts to /dlr/sandbox/…) → our states, in plain words. */
const REPORTS: Record<string, GatewayStatus> = {
  delivered: { state: 'delivered', code: 'delivered', text: 'delivered (sandbox: nothing was really sent)' },
  undelivered: { state: 'undelivered', code: 'undelivered', text: 'the phone is switched off (sandbox: nothing was really sent)' },
};

export const sandboxReport = (status: string): GatewayStatus | undefined => REPORTS[status];

const ID = /^sbx\.(d|u)\.(\d+)\.\d+$/;

/**
 * The sandbox gateway: sends nothing and costs nothing, so an administrator can try the whole flow from the CRM
 * before buying an SMS account (and `npm run demo` runs on it). Everything else is the real path: the same worker
 * claims and submits the message, and the fate comes back the way a push gateway's reports do, as an HTTP POST to
 * the message's report URL (`/dlr/sandbox/<portal>/<secret>/<message>`, dlr.routes.ts) `delayMs` (±50 %) later,
 * then the same reporter tells Bitrix24.
 *
 * Should that post be lost (the process stopped, or PUBLIC_URL cannot be reached from here), the statuses job's poll
 * settles the message all the same: the fate and the moment it is due travel in the gateway's message id.
 */
export function createSandboxGateway(opts: {
  dispatcher: Dispatcher;
  timeoutMs: number;
  delayMs: number;
  clock?: Clock;
  random?: () => number;
  log?: Log;
}): Gateway {
  const clock = opts.clock ?? Date.now;
  const random = opts.random ?? Math.random;
  const http = { dispatcher: opts.dispatcher, timeoutMs: opts.timeoutMs };

  function reportLater(url: string, status: 'delivered' | 'undelivered', delay: number, messageId: number) {
    const post = () =>
      httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ status }).toString() }, http)
        .then((res) => {
          if (res.status !== 200) opts.log?.warn({ gateway: 'sandbox', messageId, status: res.status }, 'gateway.sandbox.report_refused');
        })
        .catch((err) => opts.log?.warn({ gateway: 'sandbox', messageId, error: (err as { code?: string }).code ?? String(err) }, 'gateway.sandbox.report_lost'));
    // A pending report never holds the process open: the poll settles what a stopped process did not post.
    setTimeout(() => void post(), delay).unref();
  }

  async function send(sms: OutgoingSms): Promise<SendOutcome> {
    if (!/^\+\d{7,15}$/.test(sms.to)) return { kind: 'permanent', code: 'BAD_NUMBER', text: 'not a phone number' };
    const fate = sandboxFate(sms.to);
    if (fate === 'refused') return { kind: 'permanent', code: 'NO_ROUTE', text: 'no route (sandbox: nothing was sent)' };
    const delay = Math.round(opts.delayMs * (0.5 + random()));
    const dueAt = clock() + delay;
    reportLater(sms.dlrUrl, fate, delay, sms.id);
    return { kind: 'accepted', gatewayMessageId: `sbx.${fate === 'delivered' ? 'd' : 'u'}.${dueAt}.${sms.id}`, code: 'accepted', text: 'accepted by the sandbox (nothing is really sent)' };
  }

  /** The poll's answer, from the id alone: final once its moment has come, still `sent` before. */
  async function fetchStatuses(ids: string[]): Promise<Map<string, GatewayStatus>> {
    const out = new Map<string, GatewayStatus>();
    const now = clock();
    for (const id of ids) {
      const m = ID.exec(id);
      if (!m) continue;
      if (now < Number(m[2])) out.set(id, { state: 'sent', code: 'accepted', text: 'accepted by the sandbox (nothing is really sent)' });
      else out.set(id, REPORTS[m[1] === 'd' ? 'delivered' : 'undelivered']!);
    }
    return out;
  }

  const checkCredentials = async (): Promise<CredentialCheck> => ({ ok: true });

  return { name: 'sandbox', send, checkCredentials, fetchStatuses, statusBatchSize: 500, resolvesUnknownOutcome: false };
}
