import { html } from '../src/web/html.js';
import { t, type Lang } from '../src/web/i18n.js';
import { layout } from './layout.js';

export function errorPage(p: { lang: Lang; message: string; detail?: string }) {
  const tx = t(p.lang);
  return layout({
    lang: p.lang,
    title: tx.errorTitle,
    body: html`<h1>${tx.errorTitle}</h1>
<div class="alert" role="alert">${p.message}${p.detail ? html`<br>${p.detail}` : ''}</div>`,
  });
}
