// The dashboard page the admin API serves at /dashboard: one self-contained HTML file (no
// external script, style or font: the admin API may run where nothing else is reachable) that
// polls /stats each second and draws per-route requests/s, errors and p99 from the counters'
// differences, upstream health, the cache hit ratio, certificates and the reload history.
// A token (admin.token) comes in the URL fragment, /dashboard#token=…, which browsers never send.

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portcullis</title>
<link rel="icon" href="data:,">
<style>
  :root { --bg: #0f1419; --panel: #171e26; --line: #2a3440; --text: #d7dde4; --dim: #8a96a3; --ok: #3fb950; --bad: #f85149; --warn: #d29922; --accent: #58a6ff; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--text); }
  header { display: flex; gap: 16px; align-items: baseline; padding: 14px 20px; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  .badge { padding: 2px 8px; border-radius: 10px; font-size: 12px; background: var(--line); }
  .badge.serving { background: #1f3d28; color: var(--ok); }
  .badge.draining, .badge.error { background: #3d1f1f; color: var(--bad); }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; padding: 16px 20px; }
  section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
  section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--dim); margin: 0 0 10px; }
  section.wide { grid-column: 1 / -1; }
  table { width: 100%; border-collapse: collapse; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; }
  th { color: var(--dim); font-weight: normal; font-size: 12px; }
  td.num { text-align: right; }
  .chart { display: block; width: 100%; height: 60px; }
  .ok { color: var(--ok); } .bad { color: var(--bad); } .dim { color: var(--dim); }
  .big { font-size: 28px; font-weight: 600; }
</style>
</head>
<body>
<header>
  <h1>Portcullis</h1>
  <span id="status" class="badge" data-testid="status">connecting…</span>
  <span class="dim">config generation <b id="generation" data-testid="generation">–</b></span>
  <span class="dim">connections <b id="connections" data-testid="connections">–</b></span>
  <span class="dim">WebSockets <b id="websockets">–</b></span>
  <span class="dim" id="updated" data-testid="updated"></span>
</header>
<main>
  <section class="wide">
    <h2>Traffic per route</h2>
    <table data-testid="routes">
      <thead><tr><th>route</th><th class="num">requests/s</th><th class="num">5xx/s</th><th class="num">p99</th><th class="num">total</th><th style="width:30%">requests/s (last 2 min)</th><th style="width:20%">p99 (ms)</th></tr></thead>
      <tbody id="routes"></tbody>
    </table>
  </section>
  <section>
    <h2>Upstreams</h2>
    <table data-testid="upstreams"><thead><tr><th>upstream</th><th>target</th><th>health</th></tr></thead><tbody id="upstreams"></tbody></table>
  </section>
  <section>
    <h2>Cache</h2>
    <div class="big" id="hit-ratio" data-testid="hit-ratio">–</div>
    <div class="dim" id="cache-detail"></div>
  </section>
  <section>
    <h2>Certificates</h2>
    <table data-testid="certificates"><thead><tr><th>name</th><th>expires</th><th class="num">days</th></tr></thead><tbody id="certificates"></tbody></table>
  </section>
  <section>
    <h2>Workers</h2>
    <table><thead><tr><th>worker</th><th>state</th><th class="num">restarts</th></tr></thead><tbody id="workers"></tbody></table>
  </section>
  <section class="wide">
    <h2>Reload history</h2>
    <table data-testid="reloads"><thead><tr><th>when</th><th>trigger</th><th>result</th><th class="num">generation</th><th>changes</th></tr></thead><tbody id="reloads"></tbody></table>
  </section>
</main>
<script>
"use strict";
const token = new URLSearchParams(location.hash.slice(1)).get('token');
const HISTORY = 120;
const series = new Map();
let last = null;

function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
function row(cells) { const tr = el('tr'); for (const c of cells) { if (c instanceof Node) { const td = el('td'); td.appendChild(c); tr.appendChild(td); } else tr.appendChild(el('td', String(c.text), c.cls)); } return tr; }
function fill(id, rows) { const body = document.getElementById(id); body.replaceChildren(...rows); }

/** The q quantile of the observations between two cumulative histograms (linear in the bucket). */
function quantile(q, bounds, now, before) {
  const n = now.length;
  const delta = now.map((c, i) => c - (before ? before[i] : 0));
  const total = delta[n - 1];
  if (!(total > 0)) return null;
  const rank = q * total;
  for (let i = 0; i < n; i++) {
    if (delta[i] >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const lo = i === 0 ? 0 : bounds[i - 1];
      const below = i === 0 ? 0 : delta[i - 1];
      const inBucket = delta[i] - below;
      return lo + (bounds[i] - lo) * (inBucket > 0 ? (rank - below) / inBucket : 1);
    }
  }
  return null;
}

function spark(values, color) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('viewBox', '0 0 ' + HISTORY + ' 60');
  svg.setAttribute('preserveAspectRatio', 'none');
  const max = Math.max(1e-9, ...values.filter((v) => v !== null));
  const pts = [];
  values.forEach((v, i) => { if (v !== null) pts.push((HISTORY - values.length + i) + ',' + (58 - (v / max) * 54).toFixed(1)); });
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', pts.join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', color);
  line.setAttribute('stroke-width', '1.5');
  line.setAttribute('vector-effect', 'non-scaling-stroke');
  line.setAttribute('data-points', String(pts.length));
  svg.appendChild(line);
  return svg;
}

function fmtMs(s) { return s === null ? '–' : (s * 1000 < 10 ? (s * 1000).toFixed(2) : (s * 1000).toFixed(0)) + ' ms'; }

function render(stats) {
  const status = document.getElementById('status');
  status.textContent = stats.status;
  status.className = 'badge ' + stats.status;
  document.getElementById('generation').textContent = stats.generation;
  document.getElementById('connections').textContent = stats.connections_open;
  document.getElementById('websockets').textContent = stats.websockets_open;
  document.getElementById('updated').textContent = 'updated ' + new Date(stats.at).toLocaleTimeString();
  const dt = last ? (stats.at - last.at) / 1000 : 0;
  const rows = [];
  for (const r of stats.routes) {
    const prev = last && last.routes.find((p) => p.route === r.route);
    let s = series.get(r.route);
    if (!s) { s = { rps: [], p99: [] }; series.set(r.route, s); }
    let rps = null, eps = null, p99 = null;
    if (prev && dt > 0) {
      rps = (r.requests - prev.requests) / dt;
      eps = (r.errors - prev.errors) / dt;
      if (r.latency) p99 = quantile(0.99, r.latency.bounds, r.latency.buckets, prev.latency ? prev.latency.buckets : null);
      s.rps.push(rps); s.p99.push(p99 === null ? null : p99 * 1000);
      if (s.rps.length > HISTORY) { s.rps.shift(); s.p99.shift(); }
    }
    const tr = row([
      { text: r.route },
      { text: rps === null ? '–' : rps.toFixed(1), cls: 'num' },
      { text: eps === null ? '–' : eps.toFixed(1), cls: 'num' + (eps > 0 ? ' bad' : '') },
      { text: fmtMs(p99), cls: 'num' },
      { text: r.requests, cls: 'num' },
      spark(s.rps, '#58a6ff'),
      spark(s.p99, '#d29922'),
    ]);
    tr.dataset.route = r.route;
    tr.dataset.rps = rps === null ? '' : String(rps);
    rows.push(tr);
  }
  fill('routes', rows);
  const ups = [];
  for (const u of stats.upstreams) for (const t of u.targets) {
    const h = u.health ? (u.health[t] || 'unknown') : 'not checked';
    ups.push(row([{ text: u.name }, { text: t }, { text: h, cls: h === 'up' ? 'ok' : h === 'down' ? 'bad' : 'dim' }]));
  }
  fill('upstreams', ups);
  const c = stats.cache;
  const lookups = c.hits + c.misses + c.revalidated;
  document.getElementById('hit-ratio').textContent = !c.enabled ? 'off' : lookups === 0 ? '–' : (100 * c.hits / lookups).toFixed(1) + ' %';
  document.getElementById('cache-detail').textContent = c.enabled ? c.hits + ' hits, ' + c.misses + ' misses, ' + c.revalidated + ' revalidated' : 'no route caches';
  fill('certificates', stats.certificates.length === 0
    ? [row([{ text: 'no HTTPS listener', cls: 'dim' }, { text: '' }, { text: '' }])]
    : stats.certificates.map((x) => { const days = (Date.parse(x.expires) - Date.now()) / 86400000; return row([{ text: x.name }, { text: x.expires }, { text: days.toFixed(0), cls: 'num ' + (days < 14 ? 'bad' : 'ok') }]); }));
  fill('workers', stats.workers.map((w) => row([{ text: w.id }, { text: w.state, cls: w.state === 'running' ? 'ok' : 'bad' }, { text: w.restarts, cls: 'num' }])));
  fill('reloads', stats.reloads.length === 0
    ? [row([{ text: 'no reload since start', cls: 'dim' }, { text: '' }, { text: '' }, { text: '' }, { text: '' }])]
    : stats.reloads.map((r) => row([{ text: new Date(r.at).toLocaleTimeString() }, { text: r.trigger }, { text: r.ok ? 'ok' : 'refused', cls: r.ok ? 'ok' : 'bad' }, { text: r.generation, cls: 'num' }, { text: r.summary }])));
  last = stats;
}

async function poll() {
  try {
    const res = await fetch('stats', { headers: token ? { authorization: 'Bearer ' + token } : {}, cache: 'no-store' });
    if (!res.ok) throw new Error(res.status === 401 ? 'token needed: open /dashboard#token=…' : 'HTTP ' + res.status);
    render(await res.json());
  } catch (err) {
    const status = document.getElementById('status');
    status.textContent = String(err.message || err);
    status.className = 'badge error';
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
`;
