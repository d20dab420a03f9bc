import { html } from '../src/web/html.js';
import { t, type Lang } from './i18n.js';
import { layout } from './layout.js';

export interface InstallFormView {
  lang: Lang;
  action: string;
  state: string;
  values: { provider?: string; sender?: string; kannel_url?: string; kannel_username?: string };
  providers: readonly string[];
  /** The provider whose secrets are already saved (they are never rendered back). */
  secretsSet?: string;
  errors?: Record<string, string>;
  alert?: string;
}

export function installForm(v: InstallFormView) {
  const tx = t(v.lang);
  const err = v.errors ?? {};
  const provider = v.values.provider || v.providers[0];
  const field = (name: string, label: string, input: unknown, hint?: string) => html`
<div class="${err[name] ? 'invalid' : ''}">
  <label for="${name}">${label}</label>
  ${input}
  ${hint ? html`<div class="hint">${hint}</div>` : ''}
  ${err[name] ? html`<div class="field-error" id="${name}-error">${err[name]}</div>` : ''}
</div>`;
  const secretHint = (p: string, hint: string) => (v.secretsSet === p ? tx.secretSet : hint);
  return layout({
    lang: v.lang,
    title: tx.installTitle,
    body: html`<h1>${tx.installTitle}</h1>
<p>${tx.installIntro}</p>
${v.alert ? html`<div class="alert" role="alert">${v.alert}</div>` : Object.keys(err).length ? html`<div class="alert" role="alert">${tx.fixFields}</div>` : ''}
<form class="card" method="post" action="${v.action}">
  <input type="hidden" name="state" value="${v.state}">
  ${field('provider', tx.provider, html`<select id="provider" name="provider">${v.providers.map(
    (p) => html`<option value="${p}" ${provider === p ? html`selected` : ''}>${tx.providers[p] ?? p}</option>`,
  )}</select>`)}
  <fieldset data-provider="smsru" ${provider === 'smsru' ? '' : html`hidden`}>
    ${field('api_key', tx.apiKey, html`<input id="api_key" name="api_key" type="password" autocomplete="off">`, secretHint('smsru', tx.apiKeyHint))}
  </fieldset>
  <fieldset data-provider="kannel" ${provider === 'kannel' ? '' : html`hidden`}>
    ${field('kannel_url', tx.kannelUrl, html`<input id="kannel_url" name="kannel_url" type="url" placeholder="http://kannel.example.com:13013" value="${v.values.kannel_url ?? ''}">`, tx.kannelUrlHint)}
    ${field('kannel_username', tx.kannelUsername, html`<input id="kannel_username" name="kannel_username" autocomplete="off" value="${v.values.kannel_username ?? ''}">`)}
    ${field('kannel_password', tx.kannelPassword, html`<input id="kannel_password" name="kannel_password" type="password" autocomplete="off">`, secretHint('kannel', ''))}
  </fieldset>
  ${field('sender', tx.sender, html`<input id="sender" name="sender" maxlength="15" value="${v.values.sender ?? ''}">`, tx.senderHint)}
  <button type="submit">${tx.save}</button>
</form>
<script>
  (function () {
    var select = document.getElementById('provider');
    function show() {
      document.querySelectorAll('fieldset[data-provider]').forEach(function (f) { f.hidden = f.getAttribute('data-provider') !== select.value; });
    }
    select.addEventListener('change', show);
  })();
</script>`,
  });
}
