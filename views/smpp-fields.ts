import { html, type Html } from '../src/web/html.js';
import type { Texts } from '../src/web/i18n.js';
import type { fieldRenderer } from './form-parts.js';

/**
 * The SMPP account's fields (gateway kind `smpp`), each with what it means and an example. `values` are the form's
 * (smpp_url, smpp_system_id, …: what was posted, or the saved account's); the password is never rendered back.
 */
export function smppFieldset(p: { tx: Texts; field: ReturnType<typeof fieldRenderer>; chosen: string; values?: Record<string, string | undefined>; passwordSaved: boolean }): Html {
  const field = p.field;
  const s = p.tx.smpp;
  const v = (name: string) => p.values?.[name] ?? '';
  const input = (name: string, o: { placeholder?: string; type?: string; inputmode?: string } = {}) =>
    html`<input id="${name}" name="${name}" type="${o.type ?? 'text'}" autocomplete="off" ${o.inputmode ? html`inputmode="${o.inputmode}"` : ''} placeholder="${o.placeholder ?? ''}" value="${v(name)}">`;
  return html`<fieldset data-gateway="smpp" ${p.chosen === 'smpp' ? '' : html`hidden`}>
    ${field('smpp_url', s.url, input('smpp_url', { placeholder: 'smpp://smpp.example.com:2775' }), s.urlHint)}
    ${field('smpp_system_id', s.systemId, input('smpp_system_id', { placeholder: 'shop01' }), s.systemIdHint)}
    ${field('smpp_password', s.password, html`<input id="smpp_password" name="smpp_password" type="password" autocomplete="off" maxlength="8">`, p.passwordSaved ? p.tx.secretSet : s.passwordHint)}
    ${field('smpp_system_type', s.systemType, input('smpp_system_type', { placeholder: 'VMA' }), s.systemTypeHint)}
    ${field('smpp_source_ton', s.sourceTon, input('smpp_source_ton', { inputmode: 'numeric' }))}
    ${field('smpp_source_npi', s.sourceNpi, input('smpp_source_npi', { inputmode: 'numeric' }), s.tonNpiHint)}
    ${field('smpp_tps', s.tps, input('smpp_tps', { placeholder: '50', inputmode: 'numeric' }), s.tpsHint)}
    ${field('smpp_window', s.window, input('smpp_window', { placeholder: '10', inputmode: 'numeric' }), s.windowHint)}
  </fieldset>`;
}
