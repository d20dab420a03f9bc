import { html, type Html } from '../src/web/html.js';
import type { Texts } from './i18n.js';

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
 * rendered back: `secretsSet` names the provider whose secrets are saved.
 */
export function gatewayFields(p: {
  tx: Texts;
  errors: Record<string, string>;
  providers: readonly string[];
  provider: string;
  kannelUrl?: string;
  kannelUsername?: string;
  secretsSet?: string;
}): Html {
  const field = fieldRenderer(p.errors);
  const secretHint = (provider: string, hint: string) => (p.secretsSet === provider ? p.tx.secretSet : hint);
  return html`${field('provider', p.tx.provider, html`<select id="provider" name="provider">${p.providers.map(
    (x) => html`<option value="${x}" ${p.provider === x ? html`selected` : ''}>${p.tx.providers[x] ?? x}</option>`,
  )}</select>`)}
  <fieldset data-provider="smsru" ${p.provider === 'smsru' ? '' : html`hidden`}>
    ${field('api_key', p.tx.apiKey, html`<input id="api_key" name="api_key" type="password" autocomplete="off">`, secretHint('smsru', p.tx.apiKeyHint))}
  </fieldset>
  <fieldset data-provider="kannel" ${p.provider === 'kannel' ? '' : html`hidden`}>
    ${field('kannel_url', p.tx.kannelUrl, html`<input id="kannel_url" name="kannel_url" type="url" placeholder="http://kannel.example.com:13013" value="${p.kannelUrl ?? ''}">`, p.tx.kannelUrlHint)}
    ${field('kannel_username', p.tx.kannelUsername, html`<input id="kannel_username" name="kannel_username" autocomplete="off" value="${p.kannelUsername ?? ''}">`)}
    ${field('kannel_password', p.tx.kannelPassword, html`<input id="kannel_password" name="kannel_password" type="password" autocomplete="off">`, secretHint('kannel', ''))}
  </fieldset>`;
}

/** Shows only the chosen gateway's fields (without script, all stay usable). */
export const providerToggleScript = html`<script>
  (function () {
    var select = document.getElementById('provider');
    if (select) select.addEventListener('change', function () {
      document.querySelectorAll('fieldset[data-provider]').forEach(function (f) { f.hidden = f.getAttribute('data-provider') !== select.value; });
    });
  })();
</script>`;
