import { html, type Html } from '../src/web/html.js';
import type { Texts } from '../src/web/i18n.js';

/** The latest check as the page shows it: `state` is the connection check's (none, waiting, arrived, lost, failed). */
export interface ConnectionView {
  state: string;
  message: string;
}

/**
 * The settings page's "Check the connection" card (administrators only): the button asks Bitrix24 for a test event,
 * and the page polls until it arrived or the wait is over. Each request carries its own form token.
 */
export function connectionCheckCard(p: { tx: Texts; token?: string; statusToken?: string; connection?: ConnectionView }): Html {
  const tx = p.tx.onPremise;
  return html`<section class="card" id="connection">
<h2>${tx.connectionSection}</h2>
<p class="hint">${tx.connectionHint}</p>
<form method="post" action="/app/connection-check" id="connection-form" data-status-state="${p.statusToken ?? ''}">
  <input type="hidden" name="state" value="${p.token ?? ''}">
  <button type="submit">${tx.checkConnection}</button>
</form>
<p id="connection-status" role="status" data-state="${p.connection?.state ?? ''}">${p.connection?.message ?? ''}</p>
</section>
<script>
(function () {
  var form = document.getElementById('connection-form');
  var out = document.getElementById('connection-status');
  var show = function (s) { out.textContent = s.message || ''; out.setAttribute('data-state', s.state || 'failed'); return s; };
  var poll = function () {
    fetch('/app/connection-check/status', { method: 'POST', headers: { 'Accept': 'application/json' }, body: new URLSearchParams({ state: form.getAttribute('data-status-state') }) })
      .then(function (r) { return r.json(); }).then(show)
      .then(function (s) { if (s.state === 'waiting') setTimeout(poll, 1000); });
  };
  if (form && window.fetch) form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    fetch(form.action, { method: 'POST', headers: { 'Accept': 'application/json' }, body: new URLSearchParams(new FormData(form)) })
      .then(function (r) { return r.json(); }).then(show)
      .then(function (s) { if (s.state === 'waiting') setTimeout(poll, 1000); });
  });
})();
</script>`;
}
