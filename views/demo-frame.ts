import { html, type Html } from '../src/web/html.js';

/**
 * How Bitrix24 opens an app's page: a form POST into the frame with the portal's tokens in the body (reference §4).
 * Served by the simulated portal inside the frame; it submits itself at once.
 */
export function demoFramePost(p: { action: string; fields: Record<string, string> }): Html {
  return html`<!doctype html>
<html><head><meta charset="utf-8"><title>Bitrix24</title></head>
<body style="font:14px Arial,sans-serif;color:#80868e">
<form id="b24-frame-post" method="post" action="${p.action}">
${Object.entries(p.fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
<noscript><button type="submit">Continue</button></noscript>
</form>
<script>document.getElementById('b24-frame-post').submit();</script>
</body></html>`;
}
