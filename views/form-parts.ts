import { html, type Html } from '../src/web/html.js';
import type { Texts } from '../src/web/i18n.js';
import { smppFieldset } from './smpp-fields.js';

/** A labelled input with its hint and, when invalid, the message next to it. */
export const fieldRenderer = (errors: Record<string, string>) => (name: string, label: string, input: unknown, hint?: string) => html`
<div class="${errors[name] ? 'invalid' : ''}">
  <label for="${name}">${label}</label>
  ${input}
  ${hint ? html`<div class="hint">${hint}</div>` : ''}
  ${errors[name] ? html`<div class="field-error" id="${name}-error">${errors[name]}</div>` : ''}
</div>`;

/**
 * The gateway choice and each gateway's credentials (install page and settings page). Secrets are never
 * rendered back: `secretsSet` names the gateway whose secrets are saved. The select keeps the name `provider`
 * (the form's contract with its callers); it chooses a gateway kind.
 */
export function gatewayFields(p: {
  tx: Texts;
  errors: Record<string, string>;
  gateways: readonly string[];
  chosen: string;
  kannelUrl?: string;
  kannelUsername?: string;
  kannelMaxParts?: string;
  smscruLogin?: string;
  /** The SMPP fields' values (smpp_url, …), posted or saved. */
  smpp?: Record<string, string | undefined>;
  secretsSet?: string;
}): Html {
  const field = fieldRenderer(p.errors);
  const secretHint = (gateway: string, hint: string) => (p.secretsSet === gateway ? p.tx.secretSet : hint);
  return html`${field('provider', p.tx.gateway, html`<select id="provider" name="provider">${p.gateways.map(
    (x) => html`<option value="${x}" ${p.chosen === x ? html`selected` : ''}>${p.tx.gatewayNames[x] ?? x}</option>`,
  )}</select>`)}
  <fieldset data-gateway="smsru" ${p.chosen === 'smsru' ? '' : html`hidden`}>
    ${field('api_key', p.tx.apiKey, html`<input id="api_key" name="api_key" type="password" autocomplete="off">`, secretHint('smsru', p.tx.apiKeyHint))}
  </fieldset>
  <fieldset data-gateway="sandbox" ${p.chosen === 'sandbox' ? '' : html`hidden`}>
    <p class="hint" id="sandbox-hint">${p.tx.sandbox.hint}</p>
  </fieldset>
  <fieldset data-gateway="smscru" ${p.chosen === 'smscru' ? '' : html`hidden`}>
    ${field('smscru_login', p.tx.smscruLogin, html`<input id="smscru_login" name="smscru_login" autocomplete="off" placeholder="myshop" value="${p.smscruLogin ?? ''}">`, p.tx.smscruLoginHint)}
    ${field('smscru_password', p.tx.smscruPassword, html`<input id="smscru_password" name="smscru_password" type="password" autocomplete="off">`, secretHint('smscru', p.tx.smscruPasswordHint))}
  </fieldset>
  <fieldset data-gateway="kannel" ${p.chosen === 'kannel' ? '' : html`hidden`}>
    ${field('kannel_url', p.tx.kannelUrl, html`<input id="kannel_url" name="kannel_url" type="url" placeholder="http://kannel.example.com:13013" value="${p.kannelUrl ?? ''}">`, p.tx.kannelUrlHint)}
    ${field('kannel_username', p.tx.kannelUsername, html`<input id="kannel_username" name="kannel_username" autocomplete="off" value="${p.kannelUsername ?? ''}">`)}
    ${field('kannel_password', p.tx.kannelPassword, html`<input id="kannel_password" name="kannel_password" type="password" autocomplete="off">`, secretHint('kannel', ''))}
    ${field('kannel_max_parts', p.tx.kannelMaxParts, html`<input id="kannel_max_parts" name="kannel_max_parts" inputmode="numeric" placeholder="10" value="${p.kannelMaxParts ?? ''}">`, p.tx.kannelMaxPartsHint)}
  </fieldset>
  ${smppFieldset({ tx: p.tx, field, chosen: p.chosen, values: p.smpp, passwordSaved: p.secretsSet === 'smpp' })}`;
}

/** Shows only the chosen gateway's fields (without script, all stay usable). */
export const gatewayToggleScript = html`<script>
  (function () {
    var select = document.getElementById('provider');
    if (select) select.addEventListener('change', function () {
      document.querySelectorAll('fieldset[data-gateway]').forEach(function (f) { f.hidden = f.getAttribute('data-gateway') !== select.value; });
    });
  })();
</script>`;
