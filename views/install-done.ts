import { html } from '../src/web/html.js';
import { t, type Lang } from '../src/web/i18n.js';
import { layout } from './layout.js';

// BX24.installFinish() tells Bitrix24 the install page is done; until then the app is "not installed".
export function installDone(p: { lang: Lang; senders: string[]; balance?: number; sdkUrl?: string; sandbox?: boolean }) {
  const tx = t(p.lang);
  return layout({
    lang: p.lang,
    title: tx.doneTitle,
    head: html`<script src="${p.sdkUrl ?? '//api.bitrix24.com/api/v1/'}"></script>`,
    body: html`<h1>${tx.doneTitle}</h1>
<div class="ok" role="status">${tx.doneText}</div>
${p.sandbox ? html`<div class="alert" id="sandbox-notice">${tx.sandbox.done}</div>` : ''}
<ul>${p.senders.map((s) => html`<li>${s}</li>`)}</ul>
${p.balance !== undefined ? html`<p>${tx.balance}: <b>${p.balance.toFixed(2)}</b></p>` : ''}
<script>window.BX24 && BX24.init(function () { BX24.installFinish(); });</script>`,
  });
}
