import { html, type Html } from '../src/web/html.js';
import type { Lang } from '../src/web/i18n.js';

// Light and plain, close to Bitrix24's own forms; everything inline, no external CDN.
const css = `
  *{box-sizing:border-box}
  body{margin:0;font:14px/1.5 "Helvetica Neue",Arial,sans-serif;color:#333;background:#f5f7f8}
  main{max-width:960px;margin:0 auto;padding:24px 20px}
  h1{font-size:22px;font-weight:400;margin:0 0 12px}
  p{margin:0 0 16px}
  .card{background:#fff;border-radius:6px;padding:20px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
  label{display:block;font-weight:600;margin:16px 0 4px}
  input,select{width:100%;padding:8px 10px;border:1px solid #c6cdd3;border-radius:3px;font:inherit;background:#fff}
  input:focus,select:focus{outline:none;border-color:#2fc6f6}
  .hint{color:#80868e;font-size:12px;margin-top:4px}
  .field-error{color:#c0392b;font-size:13px;margin-top:4px}
  .invalid input,.invalid select{border-color:#c0392b}
  button{margin-top:20px;background:#bbed21;color:#535c69;border:0;border-radius:2px;padding:10px 20px;font:600 13px Arial,sans-serif;text-transform:uppercase;cursor:pointer}
  button:hover{background:#d2f95f}
  .alert{padding:12px 14px;border-radius:4px;margin-bottom:16px;background:#fdecea;color:#922}
  .ok{padding:12px 14px;border-radius:4px;margin-bottom:16px;background:#eaf8e1;color:#2d6a0f}
  h2{font-size:16px;font-weight:600;margin:0 0 8px}
  section.card{margin-bottom:16px}
  fieldset{border:0;padding:0;margin:0}
  form.inline{display:inline}
  button.link{background:none;color:#2067b0;text-transform:none;font-weight:400;padding:0 0 0 8px;margin:0}
  ul.senders{list-style:none;padding:0;margin:0 0 8px}
  ul.senders li{padding:6px 0;border-bottom:1px solid #eef2f4}
  .filters{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-bottom:12px}
  .filters select,.filters input{width:auto}
  .filters label{display:inline;font-weight:400;margin:0}
  .filters button{margin:0}
  table{width:100%;border-collapse:collapse;font-size:13px}
  th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eef2f4;vertical-align:top}
  th{color:#80868e;font-weight:600}
  .st{padding:1px 6px;border-radius:8px;background:#eef2f4;white-space:nowrap}
  .st-delivered{background:#eaf8e1;color:#2d6a0f}.st-undelivered,.st-failed{background:#fdecea;color:#922}
  .tag{font-size:11px;color:#80868e;border:1px solid #c6cdd3;border-radius:3px;padding:0 3px}
  .pager{color:#80868e}
`;

export function layout(p: { lang: Lang; title: string; body: Html; head?: Html }): Html {
  return html`<!doctype html>
<html lang="${p.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${p.title}</title>
<style>${css}</style>
${p.head}
</head>
<body><main>${p.body}</main></body>
</html>`;
}
