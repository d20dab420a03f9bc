import { html, type Html } from '../src/web/html.js';

type Slot = { at: number; delivered: number; undelivered: number; failed: number };
const COLORS = { delivered: '#7bd500', undelivered: '#ffa900', failed: '#ff5752' } as const;

/** Messages per hour by final status, as stacked bars: server-rendered SVG, no script, no CDN. */
export function hourlyChart(series: Slot[], labels: { title: string; delivered: string; undelivered: string; failed: string }): Html {
  const w = 840;
  const h = 200;
  const pad = { l: 36, b: 22, t: 10 };
  const max = Math.max(1, ...series.map((s) => s.delivered + s.undelivered + s.failed));
  const bw = (w - pad.l) / series.length;
  const y = (v: number) => ((h - pad.b - pad.t) * v) / max;
  const bars = series.map((s, i) => {
    let top = h - pad.b;
    return (['delivered', 'undelivered', 'failed'] as const).map((k) => {
      if (!s[k]) return '';
      const height = y(s[k]);
      top -= height;
      return html`<rect x="${(pad.l + i * bw).toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(1, bw - 0.5).toFixed(1)}" height="${height.toFixed(1)}" fill="${COLORS[k]}"><title>${new Date(s.at).toISOString().slice(0, 13).replace('T', ' ')}:00 — ${labels[k]}: ${s[k]}</title></rect>`;
    });
  });
  const days = series.filter((s) => new Date(s.at).getUTCHours() === 0).map((s) => {
    const x = pad.l + series.indexOf(s) * bw;
    return html`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${pad.t}" y2="${h - pad.b}" stroke="#e0e5e8"/><text x="${(x + 2).toFixed(1)}" y="${h - 6}" font-size="11" fill="#80868e">${new Date(s.at).toISOString().slice(5, 10)}</text>`;
  });
  const legend = (['delivered', 'undelivered', 'failed'] as const).map((k, i) => html`<rect x="${pad.l + i * 120}" y="0" width="10" height="10" fill="${COLORS[k]}"/><text x="${pad.l + 14 + i * 120}" y="9" font-size="11">${labels[k]}</text>`);
  return html`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h + 16}" width="100%" role="img" aria-label="${labels.title}" id="hourly-chart">
<g transform="translate(0,16)">${days}
<text x="0" y="${pad.t + 8}" font-size="11" fill="#80868e">${max}</text>
<line x1="${pad.l}" x2="${w}" y1="${h - pad.b}" y2="${h - pad.b}" stroke="#c6cdd3"/>${bars}</g>${legend}</svg>`;
}
