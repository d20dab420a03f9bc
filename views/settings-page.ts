import { html, Html } from '../src/web/html.js';
import { t, type Lang } from '../src/web/i18n.js';
import { layout } from './layout.js';
import { fieldRenderer, gatewayFields, gatewayToggleScript } from './form-parts.js';
import { connectionCheckCard, type ConnectionView } from './connection-check.js';

/** A message in the log, as shown: `to` is already masked unless the page shows full numbers. */
export interface LogRow {
  createdAt: number;
  to: string;
  sender: string | null;
  segments: number | null;
  encoding?: string | null;
  state: string;
  reason: string | null;
  isTest: boolean;
  /** The sandbox's messages are marked: they were not really sent. */
  gateway?: string | null;
}

export interface SettingsView {
  lang: Lang;
  admin: boolean;
  /** One signed form token per action (each refused by every other route); admins only get the admin ones. */
  tokens: {
    log: string; gateway?: string; sendersAdd?: string; sendersRemove?: string; testSms?: string; message?: string;
    connection?: string; connectionStatus?: string;
  };
  /** Status reports wait for a token that may set them (issue 10 §3): the page asks for an administrator. */
  reportsWaiting?: boolean;
  /** The result of "Check the connection", when the page answers that form. */
  connection?: ConnectionView;
  flash?: string;
  alert?: string;
  errors?: Record<string, string>;
  gateway?: { kind: string; kannelUrl?: string; kannelUsername?: string; kannelMaxParts?: string; smscruLogin?: string; smpp?: Record<string, string>; balance?: number | null };
  values?: Record<string, string>;
  gateways: readonly string[];
  defaultCountry: string;
  senders: Array<{ code: string; name: string }>;
  /** `window`: set when the range holds more than the log's pages reach; how many of its newest messages are shown. */
  log: { entries: LogRow[]; total: number; window?: number; page: number; pageSize: number; filter: { status?: string; from?: string; to?: string }; full: boolean };
}

const STATES = ['queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed'];
/** The default countries the settings page offers (national numbers are read as this country's). */
export const COUNTRIES = ['RU', 'BY', 'KZ', 'UZ', 'UA', 'AM', 'GE', 'KG', 'AZ', 'DE', 'GB', 'US'] as const;

export function settingsPage(v: SettingsView): Html {
  const tx = t(v.lang);
  const err = v.errors ?? {};
  const val = v.values ?? {};
  const chosen = val.provider || v.gateway?.kind || v.gateways[0]!;
  const hidden = (token: string | undefined) => html`<input type="hidden" name="state" value="${token ?? ''}">`;
  const field = fieldRenderer(err);

  const gateway = html`<section class="card">
<h2>${tx.gatewaySection}</h2>
${v.gateway?.balance !== undefined ? html`<p>${tx.balance}: <b id="balance">${v.gateway.balance === null ? tx.balanceUnavailable : v.gateway.balance.toFixed(2)}</b></p>` : ''}
<form method="post" action="/app/gateway">
  ${hidden(v.tokens.gateway)}
  ${gatewayFields({ tx, errors: err, gateways: v.gateways, chosen, kannelUrl: val.kannel_url ?? v.gateway?.kannelUrl, kannelUsername: val.kannel_username ?? v.gateway?.kannelUsername, kannelMaxParts: val.kannel_max_parts ?? v.gateway?.kannelMaxParts, smscruLogin: val.smscru_login ?? v.gateway?.smscruLogin, smpp: { ...v.gateway?.smpp, ...val }, secretsSet: v.gateway?.kind })}
  ${field('default_country', tx.defaultCountry, html`<select id="default_country" name="default_country">${COUNTRIES.map((c) => html`<option ${c === v.defaultCountry ? html`selected` : ''}>${c}</option>`)}</select>`, tx.defaultCountryHint)}
  <button type="submit">${tx.saveGateway}</button>
</form>
</section>`;

  const senders = html`<section class="card">
<h2>${tx.sendersSection}</h2>
<p class="hint">${tx.sendersHint}</p>
<ul class="senders">${v.senders.map((s) => html`<li><span>${s.name || tx.gatewayDefault}</span>
  <form method="post" action="/app/senders/remove" class="inline">${hidden(v.tokens.sendersRemove)}<input type="hidden" name="code" value="${s.code}"><button class="link" type="submit">${tx.remove}</button></form></li>`)}</ul>
<form method="post" action="/app/senders/add">
  ${hidden(v.tokens.sendersAdd)}
  ${field('sender_name', tx.sender, html`<input id="sender_name" name="sender_name" maxlength="15" value="${val.sender_name ?? ''}">`, tx.senderHint)}
  <button type="submit">${tx.addSender}</button>
</form>
</section>`;

  const test = html`<section class="card">
<h2>${tx.testSection}</h2>
<form method="post" action="/app/test-sms" id="test-form" data-status-state="${v.tokens.message ?? ''}">
  ${hidden(v.tokens.testSms)}
  ${field('phone', tx.testPhone, html`<input id="phone" name="phone" type="tel" value="${val.phone ?? ''}" placeholder="+7 999 123-45-67">`)}
  ${field('text', tx.testText, html`<input id="text" name="text" value="${val.text ?? tx.testDefaultText}">`)}
  <button type="submit">${tx.sendTest}</button>
</form>
<p id="test-status" role="status">${val.test_status ?? ''}</p>
</section>`;

  const l = v.log;
  const pages = Math.max(1, Math.ceil(l.total / l.pageSize));
  // Log navigation posts its token in the body: a token in a link would end up in histories and Referer headers.
  const filterFields = { status: l.filter.status, from: l.filter.from, to: l.filter.to, full: l.full ? '1' : undefined };
  const logButton = (label: string, extra: Record<string, string | number | undefined>, id?: string) => html`<form method="post" action="/app/log" class="inline">${hidden(v.tokens.log)}${Object.entries({ ...filterFields, ...extra }).map(
    ([k, x]) => (x === undefined || x === '' ? '' : html`<input type="hidden" name="${k}" value="${String(x)}">`),
  )}<button class="link" type="submit"${id ? html` id="${id}"` : ''}>${label}</button></form>`;
  const log = html`<section class="card" id="log">
<h2>${tx.logSection}</h2>
<div class="filters">
<form method="post" action="/app/log" class="filters" id="log-filter">
  ${hidden(v.tokens.log)}
  <select name="status" aria-label="${tx.status}"><option value="">${tx.anyStatus}</option>${STATES.map((s) => html`<option value="${s}" ${l.filter.status === s ? html`selected` : ''}>${tx.states[s]}</option>`)}</select>
  <label>${tx.from} <input type="date" name="from" value="${l.filter.from ?? ''}"></label>
  <label>${tx.to} <input type="date" name="to" value="${l.filter.to ?? ''}"></label>
  ${l.full ? html`<input type="hidden" name="full" value="1">` : ''}
  <button type="submit">${tx.filter}</button>
  <button class="link" type="submit" formaction="/app/log.csv" id="export-csv">${tx.exportCsv}</button>
</form>
${v.admin ? logButton(l.full ? tx.hideNumbers : tx.showNumbers, { full: l.full ? undefined : 1, page: undefined }, 'toggle-numbers') : ''}
</div>
${l.entries.length === 0 ? html`<p>${tx.noMessages}</p>` : html`<table>
<thead><tr><th>${tx.time}</th><th>${tx.recipient}</th><th>${tx.sender}</th><th>${tx.segments}</th><th>${tx.status}</th><th>${tx.reason}</th></tr></thead>
<tbody>${l.entries.map((e) => html`<tr>
  <td>${new Date(e.createdAt).toISOString().slice(0, 16).replace('T', ' ')}</td>
  <td>${e.to}${e.isTest ? html` <span class="tag">${tx.test}</span>` : ''}</td>
  <td>${e.sender || '—'}</td><td>${e.segments ?? '—'}${e.encoding ? html` <span class="hint">${e.encoding}</span>` : ''}</td>
  <td><span class="st st-${e.state}">${tx.states[e.state]}</span>${e.gateway === 'sandbox' ? html` <span class="tag sandbox-tag">${tx.sandbox.tag}</span>` : ''}</td><td>${e.reason === null ? '' : tx.logReason(e.reason)}</td></tr>`)}</tbody>
</table>
<p class="pager">${l.page > 1 ? logButton(tx.prev, { page: l.page - 1 }) : ''} ${tx.pageOf(l.page, pages)} ${l.page < pages ? logButton(tx.next, { page: l.page + 1 }) : ''}</p>
${l.window ? html`<p class="hint" id="log-windowed">${tx.logWindowed(l.window)}</p>` : ''}`}
</section>`;

  return layout({
    lang: v.lang,
    title: tx.settingsTitle,
    body: html`<h1>${tx.settingsTitle}</h1>
${v.gateway?.kind === 'sandbox' ? html`<div class="alert" role="alert" id="sandbox-notice">${tx.sandbox.notice}</div>` : ''}
${v.reportsWaiting ? html`<div class="alert" role="alert" id="reports-waiting">${v.admin ? tx.reportsWaitingAdmin : tx.reportsWaiting}</div>` : ''}
${v.flash ? html`<div class="ok" role="status">${v.flash}</div>` : ''}
${v.alert ? html`<div class="alert" role="alert">${v.alert}</div>` : Object.keys(err).length ? html`<div class="alert" role="alert">${tx.fixFields}</div>` : ''}
${v.admin ? html`${gateway}${senders}${test}${connectionCheckCard({ tx, token: v.tokens.connection, statusToken: v.tokens.connectionStatus, connection: v.connection })}` : html`<p class="hint">${tx.readOnly}</p>`}
${log}
${gatewayToggleScript}
<script>
(function () {
  // The test SMS goes through the same queue; its status is polled until it is final.
  var form = document.getElementById('test-form');
  var out = document.getElementById('test-status');
  var names = ${new Html(JSON.stringify(tx.states).replace(/</g, '\\u003c'))};
  if (form && window.fetch) form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    fetch(form.action, { method: 'POST', headers: { 'Accept': 'application/json' }, body: new URLSearchParams(new FormData(form)) })
      .then(function (r) { return r.json(); })
      .then(function (m) {
        if (!m.id) { out.textContent = m.message || 'error'; return; }
        var poll = function () {
          fetch('/app/messages/' + m.id, { method: 'POST', headers: { 'Accept': 'application/json' }, body: new URLSearchParams({ state: form.getAttribute('data-status-state') }) })
            .then(function (r) { return r.json(); })
            .then(function (s) {
              out.textContent = (names[s.state] || s.state) + (s.reason ? ' — ' + s.reason : '');
              out.setAttribute('data-state', s.state);
              if (['delivered', 'undelivered', 'failed'].indexOf(s.state) < 0) setTimeout(poll, 1000);
            });
        };
        poll();
      });
  });
})();
</script>`,
  });
}
