import { html, type Html } from '../src/web/html.js';
import { hourlyChart } from './chart.js';
import { layout } from './layout.js';

/** One portal's line: `status` is the portal's (active, inactive, uninstalled); `disabled` is the operator's switch. */
export interface ConsolePortal {
  id: number;
  domain: string;
  memberId: string;
  status: string;
  inactiveReason: string | null;
  disabled: boolean;
  gateway: string | null;
  today: number;
  deliveryRate: number | null;
  lastError: string | null;
  /** The periodic provider check's last result (src/portals/provider-check.ts); null before the first. */
  providerCheck?: { checkedAt: number; outcome: string; providersRepaired: number; eventsRepaired: number; error: string | null } | null;
  /** Bitrix24 asked us to leave the portal (scope `*`) or one of its methods alone until `until` (src/bitrix/pauses.ts). */
  paused?: Array<{ scope: string; reason: string; until: number }>;
  /** Since when status reports wait because no token we hold may set them (issue 10 §3). */
  reportsWaitingSince?: number | null;
}

export interface ConsoleView {
  csrf: string;
  flash?: string;
  portals: ConsolePortal[];
  health: {
    queued: number; sending: number; sent: number; oldestQueuedAgeMs: number | null; retrying: number;
    failures: Array<{ reason: string; n: number }>; reportsPending: number; reportsDropped: number;
  };
  hourly: Array<{ at: number; delivered: number; undelivered: number; failed: number }>;
}

const age = (ms: number | null) => (ms === null ? '—' : ms < 60_000 ? `${Math.round(ms / 1000)} s` : ms < 3_600_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`);

function stateOf(p: ConsolePortal): Html {
  if (p.disabled) return html`<span class="st st-failed">disabled</span>`;
  if (p.status === 'inactive') return html`<span class="st st-failed">inactive</span> <span class="hint">${p.inactiveReason ?? ''}</span>`;
  if (p.status === 'uninstalled') return html`<span class="st">uninstalled</span>`;
  if (p.reportsWaitingSince != null) {
    return html`<span class="st st-failed degraded">degraded</span> <span class="hint">status reports wait for a Bitrix24 administrator to open the app since ${new Date(p.reportsWaitingSince).toISOString().slice(0, 16).replace('T', ' ')} UTC</span>`;
  }
  return html`<span class="st st-delivered">active</span>`;
}

function pausedOf(paused: ConsolePortal['paused']): Html | string {
  if (!paused?.length) return '';
  return html`${paused.map((p) => html` <span class="st st-failed paused">paused: ${p.reason}${p.scope === '*' ? '' : ` (${p.scope})`}</span> <span class="hint">until ${new Date(p.until).toISOString().slice(0, 16).replace('T', ' ')} UTC</span>`)}`;
}

function providerCheckOf(c: ConsolePortal['providerCheck']): Html | string {
  if (!c) return '—';
  const n = (k: number, one: string) => `${k} ${one}${k === 1 ? '' : 's'}`;
  const repaired = c.providersRepaired || c.eventsRepaired ? `repaired ${n(c.providersRepaired, 'provider')}, ${n(c.eventsRepaired, 'event')}` : '';
  const what = c.outcome === 'error' ? `error ${c.error ?? ''}${repaired ? ` (${repaired})` : ''}` : repaired || 'ok';
  return html`<span class="${c.outcome === 'error' ? 'st st-failed' : 'st'}">${what}</span> <span class="hint">${new Date(c.checkedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC</span>`;
}

export function loginPage(p: { error?: string }) {
  return layout({
    lang: 'en',
    title: 'Operator console',
    body: html`<h1>Operator console</h1>
${p.error ? html`<div class="alert" role="alert">${p.error}</div>` : ''}
<form class="card" method="post" action="/admin/login">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
  <button type="submit">Sign in</button>
</form>`,
  });
}

export function consolePage(v: ConsoleView) {
  const action = (path: string, label: string) => html`<form method="post" action="${path}" class="inline"><input type="hidden" name="csrf" value="${v.csrf}"><button class="link" type="submit">${label}</button></form>`;
  const h = v.health;
  return layout({
    lang: 'en',
    title: 'Operator console',
    body: html`<h1>Operator console</h1>
${v.flash ? html`<div class="ok" role="status">${v.flash}</div>` : ''}
<section class="card"><h2>Queue health</h2>
<table><tbody>
<tr><th>queued</th><td id="h-queued">${h.queued}</td><th>oldest queued</th><td>${age(h.oldestQueuedAgeMs)}</td></tr>
<tr><th>sending</th><td>${h.sending}</td><th>waiting to retry</th><td>${h.retrying}</td></tr>
<tr><th>sent (awaiting a final status)</th><td>${h.sent}</td><th>status reports to Bitrix24</th><td id="h-reports">${h.reportsPending} pending, ${h.reportsDropped} dropped</td></tr>
</tbody></table>
${h.failures.length ? html`<h2 style="margin-top:12px">Failures in the last 24 h</h2><table><tbody>${h.failures.map((f) => html`<tr><td>${f.reason}</td><td>${f.n}</td></tr>`)}</tbody></table>` : ''}
</section>
<section class="card"><h2>Messages per hour, last 7 days (UTC)</h2>
${hourlyChart(v.hourly, { title: 'Messages per hour by final status', delivered: 'delivered', undelivered: 'not delivered', failed: 'failed' })}
</section>
<section class="card"><h2>Portals</h2>
<table><thead><tr><th>domain</th><th>member_id</th><th>state</th><th>gateway</th><th>today</th><th>delivery rate (7 d)</th><th>last error</th><th>provider check</th><th></th></tr></thead>
<tbody>${v.portals.map((p) => html`<tr>
<td>${p.domain}</td><td><code>${p.memberId}</code></td><td>${stateOf(p)}${pausedOf(p.paused)}</td><td>${p.gateway ?? '—'}</td><td>${p.today}</td>
<td>${p.deliveryRate === null ? '—' : `${(p.deliveryRate * 100).toFixed(1)} %`}</td><td>${p.lastError ?? ''}</td><td class="provider-check">${providerCheckOf(p.providerCheck)}</td>
<td>${action(`/admin/portals/${p.id}/reregister`, 'register providers again')}
${action(`/admin/portals/${p.id}/retry-reports`, 'retry failed reports')}
${action(`/admin/portals/${p.id}/rotate-key`, 'rotate handler key')}
${p.disabled ? action(`/admin/portals/${p.id}/enable`, 'enable') : action(`/admin/portals/${p.id}/disable`, 'disable')}</td></tr>`)}</tbody></table>
</section>
${action('/admin/logout', 'Sign out')}`,
  });
}
