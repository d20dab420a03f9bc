import { html, type Html } from '../src/web/html.js';
import { t, type Lang } from '../src/web/i18n.js';
import type { Readiness } from '../src/web/readiness.js';
import { layout } from './layout.js';

const mark = (ok: boolean, text: string) => html`<span class="st ${ok ? 'st-delivered' : 'st-failed'}">${ok ? '✓' : '✗'} ${text}</span>`;

/** `GET /`: what this is, whether it is ready, what to enter in Bitrix24, how to try it. No secrets. */
export function homePage(p: { lang: Lang; readiness: Readiness; publicUrl: string; gateways: readonly string[] }): Html {
  const tx = t(p.lang);
  const h = tx.home;
  const r = p.readiness;
  const publicText = { ok: h.publicOk, local: h.publicLocal, http: h.publicHttp }[r.publicUrl];
  const kinds = Object.entries(r.portals ?? {});
  const total = kinds.reduce((n, [, k]) => n + k, 0);
  const portals = !r.portals ? '—' : total === 0 ? h.portalsNone : `${total} (${kinds.map(([kind, n]) => `${tx.gatewayNames[kind] ?? kind}: ${n}`).join(', ')})`;
  return layout({
    lang: p.lang,
    title: h.title,
    body: html`<h1>${h.title}</h1>
<p>${h.intro(p.gateways.map((g) => tx.gatewayNames[g] ?? g).join(', '))}</p>
<section class="card" id="readiness"><h2>${h.readiness}</h2>
<table><tbody>
<tr data-check="credentials" data-ok="${String(r.credentials)}"><th>${h.credentials}</th><td>${mark(r.credentials, r.credentials ? h.credentialsSet : h.credentialsMissing)}</td></tr>
<tr data-check="public-url" data-ok="${String(r.publicUrl === 'ok')}"><th>${h.publicUrl}</th><td><code>${p.publicUrl}</code><br>${mark(r.publicUrl === 'ok', publicText)}</td></tr>
<tr data-check="database" data-ok="${String(r.database)}"><th>${h.database}</th><td>${mark(r.database, r.database ? h.databaseOk : h.databaseDown)}</td></tr>
<tr data-check="portals"><th>${h.portals}</th><td id="portals">${portals}</td></tr>
</tbody></table>
</section>
<section class="card" id="bitrix24-form"><h2>${h.bitrixForm}</h2>
<p>${h.bitrixFormIntro}</p>
<table><tbody>
<tr><th>${h.handlerPath}</th><td><code id="app-url">${r.appUrl}</code></td></tr>
<tr><th>${h.installPath}</th><td><code id="install-url">${r.installUrl}</code></td></tr>
<tr><th>${h.scopes}</th><td><code id="scopes">messageservice</code>: ${h.scopeMessageservice}<div class="hint">${h.noOtherScopes}</div></td></tr>
</tbody></table>
<p class="hint" style="margin-top:12px">${h.afterForm}</p>
</section>
<section class="card" id="try"><h2>${h.tryIt}</h2>
<pre style="background:#f5f7f8;padding:10px;border-radius:4px">npm install
npm run demo</pre>
<p>${h.tryItText}</p>
</section>`,
  });
}
