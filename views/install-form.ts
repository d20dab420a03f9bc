import { html } from '../src/web/html.js';
import { t, type Lang } from '../src/web/i18n.js';
import { layout } from './layout.js';
import { fieldRenderer, gatewayFields, gatewayToggleScript } from './form-parts.js';

export interface InstallFormView {
  lang: Lang;
  action: string;
  state: string;
  /** The fields as posted or saved (the SMPP ones, smpp_url…, among them); never a secret. */
  values: { provider?: string; sender?: string; kannel_url?: string; kannel_username?: string; smscru_login?: string } & Record<string, string | undefined>;
  gateways: readonly string[];
  /** The gateway whose secrets are already saved (they are never rendered back). */
  secretsSet?: string;
  errors?: Record<string, string>;
  alert?: string;
}

export function installForm(v: InstallFormView) {
  const tx = t(v.lang);
  const err = v.errors ?? {};
  const chosen = v.values.provider || v.gateways[0];
  const field = fieldRenderer(err);
  return layout({
    lang: v.lang,
    title: tx.installTitle,
    body: html`<h1>${tx.installTitle}</h1>
<p>${tx.installIntro}</p>
${v.alert ? html`<div class="alert" role="alert">${v.alert}</div>` : Object.keys(err).length ? html`<div class="alert" role="alert">${tx.fixFields}</div>` : ''}
<form class="card" method="post" action="${v.action}">
  <input type="hidden" name="state" value="${v.state}">
  ${gatewayFields({ tx, errors: err, gateways: v.gateways, chosen: chosen!, kannelUrl: v.values.kannel_url, kannelUsername: v.values.kannel_username, kannelMaxParts: v.values.kannel_max_parts, smscruLogin: v.values.smscru_login, smpp: v.values, secretsSet: v.secretsSet })}
  ${field('sender', tx.sender, html`<input id="sender" name="sender" maxlength="15" value="${v.values.sender ?? ''}">`, tx.senderHint)}
  <button type="submit">${tx.save}</button>
</form>
${gatewayToggleScript}`,
  });
}
