import { Html, html } from '../src/web/html.js';
import { t, type Lang } from '../src/web/i18n.js';

/** One message in the card's timeline, as the portal shows it. */
export interface DemoSms {
  message_id: string;
  to: string;
  text: string;
  status: string;
}

export interface DemoRule {
  total: number;
  handedOver: number;
  final: number;
  counts: Record<string, number>;
  running: boolean;
}

export interface DemoPageView {
  lang: Lang;
  portalDomain: string;
  /** The app's origin: its frames post installFinish from there. */
  appOrigin: string;
  installed: boolean;
  providers: Array<{ code: string; name: string }>;
  messages: DemoSms[];
  rule: DemoRule;
  consoleUrl: string;
  homeUrl: string;
  adminPassword: string;
  error?: string;
  values?: { to?: string; text?: string; code?: string };
}

const css = `
  *{box-sizing:border-box}
  body{margin:0;font:14px/1.5 "Helvetica Neue",Arial,sans-serif;color:#333;background:#eef2f4}
  header.b24{display:flex;align-items:center;gap:14px;padding:10px 24px;background:linear-gradient(90deg,#1f5c9c,#2fc6f6);color:#fff}
  header.b24 .logo{font:700 20px Arial,sans-serif;letter-spacing:.5px}
  header.b24 .logo span{color:#bbed21}
  header.b24 .domain{opacity:.85}
  header.b24 .sim{margin-left:auto;font-size:12px;background:rgba(255,255,255,.2);padding:2px 8px;border-radius:10px}
  main{max-width:1020px;margin:0 auto;padding:20px}
  .banner{background:#fff8e1;border:1px solid #ffe08a;border-radius:6px;padding:10px 14px;margin-bottom:16px}
  section.card{background:#fff;border-radius:8px;padding:18px 20px;margin-bottom:16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
  h1{font-size:22px;font-weight:400;margin:0 0 12px}
  h2{font-size:17px;font-weight:600;margin:0 0 8px}
  p{margin:0 0 12px}
  .hint{color:#80868e;font-size:12px}
  button{background:#bbed21;color:#535c69;border:0;border-radius:2px;padding:9px 18px;font:600 12px Arial,sans-serif;text-transform:uppercase;cursor:pointer}
  button:hover{background:#d2f95f}
  button.secondary{background:#eef2f4}
  .row{display:flex;gap:10px;flex-wrap:wrap;align-items:center}
  #frame-box{margin-top:14px;border:1px solid #dfe4e8;border-radius:6px;overflow:hidden}
  #frame-box .bar{background:#f5f7f8;padding:6px 12px;font-size:12px;color:#80868e;border-bottom:1px solid #dfe4e8}
  iframe{display:block;width:100%;height:620px;border:0;background:#fff}
  .contact{display:flex;gap:14px;align-items:center;margin-bottom:14px}
  .avatar{width:48px;height:48px;border-radius:50%;background:#2fc6f6;color:#fff;display:flex;align-items:center;justify-content:center;font-weight:700}
  .contact b{font-size:16px}
  label{display:block;font-weight:600;font-size:12px;color:#535c69;margin:10px 0 4px}
  input,select,textarea{width:100%;padding:8px 10px;border:1px solid #c6cdd3;border-radius:3px;font:inherit;background:#fff}
  textarea{height:64px;resize:vertical}
  .grid{display:grid;grid-template-columns:1fr 1fr;gap:0 14px}
  .err{color:#c0392b;margin-top:8px}
  ul.timeline{list-style:none;padding:0;margin:14px 0 0}
  ul.timeline li{display:flex;gap:10px;align-items:baseline;padding:8px 0;border-top:1px solid #eef2f4}
  ul.timeline .to{white-space:nowrap;color:#535c69}
  ul.timeline .text{flex:1;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
  .st{padding:1px 8px;border-radius:10px;background:#eef2f4;white-space:nowrap;font-size:12px}
  .st-delivered{background:#eaf8e1;color:#2d6a0f}.st-undelivered,.st-failed{background:#fdecea;color:#922}.st-sent{background:#e5f6fd;color:#1f5c9c}
  .bar-out{height:14px;background:#eef2f4;border-radius:7px;overflow:hidden;margin:12px 0 8px}
  .bar-in{height:100%;background:#7bd500}
  .counts{display:flex;gap:10px;flex-wrap:wrap}
  code{background:#f5f7f8;padding:1px 5px;border-radius:3px}
  a{color:#2067b0}
`;

const FINAL_STATES = ['delivered', 'undelivered', 'failed'];
const json = (v: unknown) => new Html(JSON.stringify(v).replace(/</g, '\\u003c'));

/**
 * `GET /demo`: the simulated Bitrix24 portal's page, which plays the parts of Bitrix24 a person meets: the app's
 * frame (install page, settings page), a CRM contact card that sends SMS, and a "Send SMS" automation rule.
 * Works without script (forms post and the page comes back); with it, statuses update live.
 */
export function demoPage(v: DemoPageView): Html {
  const tx = t(v.lang);
  const d = tx.demo;
  const state = (s: string) => html`<span class="st st-${s} sms-status">${tx.states[s] ?? s}</span>`;
  const val = v.values ?? {};
  const percent = v.rule.total ? Math.round((v.rule.final / v.rule.total) * 100) : 0;

  const install = html`<section class="card" id="install">
<h2>${d.step1}</h2>
<p>${d.step1Text}</p>
<div class="row">
  <button type="button" id="install-btn">${d.install}</button>
  <button type="button" class="secondary" id="open-app-btn">${d.openApp}</button>
  <span id="install-state" data-installed="${String(v.installed)}">${v.installed ? d.installed : d.notInstalled}</span>
</div>
<div id="frame-box" hidden><div class="bar">${d.frameTitle}</div><iframe id="app-frame" name="app-frame" title="${d.frameTitle}"></iframe></div>
</section>`;

  const card = html`<section class="card" id="card">
<h2>${d.step2}</h2>
<div class="contact"><div class="avatar">${d.contactName.split(' ').map((w) => w[0]).join('')}</div><div><b>${d.contactName}</b><div class="hint">${d.contactRole}</div></div></div>
<form method="post" action="/demo/send" id="sms-form">
  <div class="grid">
    <div><label for="sms-to">${d.phone}</label><input id="sms-to" name="to" type="tel" value="${val.to ?? '+7 999 123-45-67'}"></div>
    <div><label for="sms-sender">${d.sender}</label><select id="sms-sender" name="code">${v.providers.map(
      (p) => html`<option value="${p.code}" ${val.code === p.code ? html`selected` : ''}>${p.name}</option>`,
    )}</select></div>
  </div>
  <label for="sms-text">${d.text}</label>
  <textarea id="sms-text" name="text">${val.text ?? d.defaultText}</textarea>
  <p class="hint">${d.cardHint}</p>
  <button type="submit" id="sms-send">${d.send}</button>
  <div class="err" id="sms-error" role="alert">${v.error ?? (v.providers.length ? '' : d.noProviders)}</div>
</form>
<h2 style="margin-top:16px">${d.timeline}</h2>
<p class="hint">${d.timelineHint}</p>
<ul class="timeline" id="timeline">${v.messages.length === 0 ? html`<li class="hint" id="no-sms">${d.noSms}</li>` : ''}${[...v.messages].reverse().map(
    (m) => html`<li data-id="${m.message_id}" data-status="${m.status}"><span class="to">${m.to}</span><span class="text">${m.text}</span>${state(m.status)}</li>`,
  )}</ul>
</section>`;

  const rule = html`<section class="card" id="rule">
<h2>${d.step3}</h2>
<p>${d.ruleText}</p>
<form method="post" action="/demo/rule" id="rule-form">
  <label for="rule-text">${d.text}</label>
  <input id="rule-text" name="text" value="${d.ruleDefault}">
  <p style="margin-top:12px"><button type="submit" id="rule-run">${d.runRule}</button></p>
</form>
<div class="bar-out"><div class="bar-in" id="rule-bar" style="width:${percent}%"></div></div>
<p id="rule-final" data-final="${v.rule.final}" data-total="${v.rule.total}">${v.rule.total ? d.ruleProgress(v.rule.final, v.rule.total) : ''}</p>
<div class="counts" id="rule-counts">${['sent', 'delivered', 'undelivered', 'failed'].map(
    (s) => html`<span class="st st-${s}">${tx.states[s]}: <b data-count="${s}">${v.rule.counts[s] ?? 0}</b></span>`,
  )}</div>
</section>`;

  const links = html`<section class="card" id="links">
<h2>${d.step4}</h2>
<ul>
  <li><a href="#install" id="settings-link">${d.settingsLink}</a></li>
  <li><a href="${v.consoleUrl}" target="_blank" rel="noopener" id="console-link">${d.consoleLink}</a> (${d.consolePassword}: <code id="console-password">${v.adminPassword}</code>)</li>
  <li><a href="${v.homeUrl}" target="_blank" rel="noopener" id="home-link">${d.homeLink}</a></li>
</ul>
</section>`;

  return html`<!doctype html>
<html lang="${v.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${d.title}</title>
<style>${css}</style>
</head>
<body>
<header class="b24"><div class="logo">Bitrix<span>24</span></div><div class="domain">${v.portalDomain}</div><div class="sim">${d.simulated}</div></header>
<main>
<h1>${d.title}</h1>
<div class="banner">${d.banner}</div>
${install}${card}${rule}${links}
</main>
<script>
(function () {
  var APP = ${json(v.appOrigin)};
  var NAMES = ${json(tx.states)};
  var TEXT = ${json({ installed: d.installed, installFinished: d.installFinished, notInstalled: d.notInstalled, noSms: d.noSms, noProviders: d.noProviders, badInput: d.badInput, ruleBusy: d.ruleBusy })};
  var FINAL = ['delivered', 'undelivered', 'failed'];
  var $ = function (id) { return document.getElementById(id); };
  var post = function (url, body) {
    return fetch(url, { method: 'POST', headers: { 'Accept': 'application/json' }, body: body })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); });
  };

  // The app's frame: Bitrix24 opens the install page and the app page with a POST carrying the portal's tokens.
  var openFrame = function (path) { $('frame-box').hidden = false; $('app-frame').src = path; $('frame-box').scrollIntoView({ behavior: 'smooth' }); };
  $('install-btn').addEventListener('click', function () { openFrame('/demo/frame/install'); });
  $('open-app-btn').addEventListener('click', function () { openFrame('/demo/frame/app'); });
  $('settings-link').addEventListener('click', function (ev) { ev.preventDefault(); openFrame('/demo/frame/app'); });

  var finished = false; // BX24.installFinish() was heard from the app's frame
  var refreshState = function () {
    return fetch('/demo/state').then(function (r) { return r.json(); }).then(function (s) {
      var el = $('install-state');
      el.setAttribute('data-installed', String(s.installed));
      el.textContent = s.installed ? (finished ? TEXT.installFinished : TEXT.installed) : TEXT.notInstalled;
      var select = $('sms-sender');
      var chosen = select.value;
      select.textContent = '';
      s.providers.forEach(function (p) {
        var o = document.createElement('option');
        o.value = p.code; o.textContent = p.name; o.selected = p.code === chosen;
        select.appendChild(o);
      });
      $('sms-error').textContent = s.providers.length ? '' : TEXT.noProviders;
    });
  };
  // The SDK in the app's frame tells the page around it, as Bitrix24's does (postMessage).
  window.addEventListener('message', function (ev) {
    if (ev.origin !== APP || !ev.data || ev.data.bx24 !== 'installFinish') return;
    finished = true;
    fetch('/demo/install-finish', { method: 'POST' }).then(refreshState);
  });
  $('app-frame').addEventListener('load', refreshState);

  // The card: its SMS and the status the portal shows for each, polled until all are final.
  var render = function (list) {
    var ul = $('timeline');
    ul.textContent = '';
    if (!list.length) {
      var none = document.createElement('li'); none.className = 'hint'; none.id = 'no-sms'; none.textContent = TEXT.noSms; ul.appendChild(none);
    }
    list.slice().reverse().forEach(function (m) {
      var li = document.createElement('li');
      li.setAttribute('data-id', m.message_id); li.setAttribute('data-status', m.status);
      [['to', m.to], ['text', m.text]].forEach(function (p) { var s = document.createElement('span'); s.className = p[0]; s.textContent = p[1]; li.appendChild(s); });
      var st = document.createElement('span'); st.className = 'st st-' + m.status + ' sms-status'; st.textContent = NAMES[m.status] || m.status; li.appendChild(st);
      ul.appendChild(li);
    });
  };
  var polling = false;
  var pollMessages = function () {
    if (polling) return;
    polling = true;
    var tick = function () {
      fetch('/demo/messages').then(function (r) { return r.json(); }).then(function (list) {
        render(list);
        if (list.some(function (m) { return FINAL.indexOf(m.status) < 0; })) setTimeout(tick, 400); else polling = false;
      }, function () { polling = false; });
    };
    tick();
  };
  $('sms-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    $('sms-error').textContent = '';
    post('/demo/send', new URLSearchParams(new FormData($('sms-form')))).then(function (x) {
      if (!x.ok) { $('sms-error').textContent = x.body.message || TEXT.badInput; return; }
      polling = false;
      pollMessages();
    });
  });

  // The rule: a progress bar and the counts by status (its words come with them), polled until all 100 are final.
  var showRule = function (p) {
    $('rule-bar').style.width = (p.total ? Math.round(100 * p.final / p.total) : 0) + '%';
    var f = $('rule-final');
    f.setAttribute('data-final', p.final); f.setAttribute('data-total', p.total);
    f.textContent = p.text || '';
    Object.keys(p.counts).forEach(function (k) { var b = document.querySelector('[data-count="' + k + '"]'); if (b) b.textContent = p.counts[k]; });
    return p;
  };
  var pollRule = function () {
    fetch('/demo/rule').then(function (r) { return r.json(); }).then(showRule).then(function (p) {
      if (p.running || p.final < p.total) setTimeout(pollRule, 400);
    });
  };
  $('rule-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    post('/demo/rule', new URLSearchParams(new FormData($('rule-form')))).then(function (x) {
      if (!x.ok) { $('rule-final').textContent = x.body.message || TEXT.ruleBusy; }
      pollRule();
    });
  });

  if (${json(v.messages.some((m) => !FINAL_STATES.includes(m.status)))}) pollMessages();
  if (${json(v.rule.running || v.rule.final < v.rule.total)}) pollRule();
})();
</script>
</body>
</html>`;
}
