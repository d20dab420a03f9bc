import { html } from '../src/web/html.js';
import { t, type Lang } from './i18n.js';
import { layout } from './layout.js';

export interface InstallFormView {
  lang: Lang;
  action: string;
  state: string;
  values: { provider?: string; sender?: string };
  providers: string[];
  apiKeySet: boolean;
  errors?: Record<string, string>;
  alert?: string;
}

export function installForm(v: InstallFormView) {
  const tx = t(v.lang);
  const err = v.errors ?? {};
  const field = (name: string, label: string, input: unknown, hint?: string) => html`
<div class="${err[name] ? 'invalid' : ''}">
  <label for="${name}">${label}</label>
  ${input}
  ${hint ? html`<div class="hint">${hint}</div>` : ''}
  ${err[name] ? html`<div class="field-error" id="${name}-error">${err[name]}</div>` : ''}
</div>`;
  return layout({
    lang: v.lang,
    title: tx.installTitle,
    body: html`<h1>${tx.installTitle}</h1>
<p>${tx.installIntro}</p>
${v.alert ? html`<div class="alert" role="alert">${v.alert}</div>` : Object.keys(err).length ? html`<div class="alert" role="alert">${tx.fixFields}</div>` : ''}
<form class="card" method="post" action="${v.action}">
  <input type="hidden" name="state" value="${v.state}">
  ${field('provider', tx.provider, html`<select id="provider" name="provider">${v.providers.map(
    (p) => html`<option value="${p}" ${v.values.provider === p ? html`selected` : ''}>${tx.providers[p] ?? p}</option>`,
  )}</select>`)}
  ${field('api_key', tx.apiKey, html`<input id="api_key" name="api_key" type="password" autocomplete="off" ${v.apiKeySet ? '' : html`required`}>`, v.apiKeySet ? tx.apiKeySet : tx.apiKeyHint)}
  ${field('sender', tx.sender, html`<input id="sender" name="sender" maxlength="11" value="${v.values.sender ?? ''}">`, tx.senderHint)}
  <button type="submit">${tx.save}</button>
</form>`,
  });
}
