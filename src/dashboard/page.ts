/**
 * The dashboard page and its script (plain browser JavaScript, no build step). The script polls
 * /api/cluster every POLL_MS while the tab is visible, takes rates from two reads of the
 * cumulative counters, and draws two uPlot charts. Every value is put in the page as text.
 */
export const POLL_MS = 2_000;

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wiremesh dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/uplot.css">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1b1f24; }
  header { background: #1b1f24; color: #fff; padding: 10px 20px; display: flex; gap: 20px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header .muted { color: #aab; }
  main { padding: 14px 20px; display: grid; gap: 14px; }
  section { background: #fff; border: 1px solid #dde; border-radius: 6px; padding: 10px 14px; }
  h2 { font-size: 14px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: #556; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef; white-space: nowrap; }
  th { font-weight: 600; color: #556; font-size: 12px; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
  .up { color: #137333; font-weight: 600; } .down { color: #c5221f; font-weight: 600; } .leaving { color: #b06000; font-weight: 600; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 14px; }
  .charts section, main > section { min-width: 0; }
  .scroll { overflow-x: auto; }
  #search-row { display: flex; gap: 8px; margin-bottom: 8px; }
  #channel-list li { cursor: pointer; } #channel-list li:hover { text-decoration: underline; }
  .cols { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
  ul { margin: 0; padding-left: 18px; max-height: 220px; overflow: auto; }
  #error { color: #c5221f; }
</style>
</head>
<body>
<header><h1>wiremesh</h1><span id="summary" class="muted">loading…</span><span id="updated" class="muted"></span><span id="error"></span></header>
<main>
  <section><h2>Nodes</h2>
    <table id="nodes"><thead><tr><th>Node</th><th>Region</th><th>Version</th><th>Health</th><th class="n">Uptime</th><th class="n">Connections</th><th class="n">Event-loop lag</th><th class="n">Last heartbeat</th></tr></thead><tbody></tbody></table>
  </section>
  <div class="charts">
    <section><h2>Connections (cluster)</h2><div id="chart-conns"></div></section>
    <section><h2>Messages per second (cluster)</h2><div id="chart-msgs"></div></section>
  </div>
  <section><h2>Apps (cluster-wide)</h2>
    <div class="scroll"><table id="apps"><thead><tr><th>App</th><th class="n">Connections</th><th class="n">Channels</th><th class="n">Presence channels</th><th class="n">Presence members</th><th class="n">Msgs in/s</th><th class="n">Msgs out/s</th><th class="n">API calls/s</th><th class="n">API errors</th></tr></thead><tbody></tbody></table></div>
  </section>
  <section><h2>Webhooks and Livewire tunnel</h2>
    <div class="scroll"><table id="delivery"><thead><tr><th>App</th><th class="n">Webhooks ok</th><th class="n">Webhooks failed</th><th class="n">Webhooks dropped</th><th class="n">Oldest queued</th><th class="n">Tunnel requests</th><th class="n">Fallbacks to HTTP</th><th class="n">Mean tunnel latency</th></tr></thead><tbody></tbody></table></div>
  </section>
  <section><h2>Channels and presence members</h2>
    <div id="search-row"><select id="app"></select><input id="q" placeholder="search channels (part of the name)" size="40"><span id="channel-total" class="muted"></span></div>
    <div class="cols"><ul id="channel-list"></ul><div><strong id="members-title"></strong><ul id="member-list"></ul></div></div>
  </section>
</main>
<script src="/uplot.js"></script>
<script src="/dashboard.js"></script>
</body>
</html>
`;

export const PAGE_SCRIPT = `'use strict';
(() => {
  const POLL_MS = ${POLL_MS};
  const KEEP = 180;
  const $ = (id) => document.getElementById(id);
  const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '–');
  const dur = (s) => (s >= 86400 ? fmt(s / 86400, 1) + ' d' : s >= 3600 ? fmt(s / 3600, 1) + ' h' : s >= 60 ? fmt(s / 60, 1) + ' min' : fmt(s) + ' s');
  const series = { t: [], conns: [], msgIn: [], msgOut: [] };
  let prev = null;
  let charts = null;
  let lastApps = '';

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  function makeCharts() {
    const w = Math.max(360, ($('chart-conns').clientWidth || 440) - 10);
    const opts = (labels, colors) => ({
      width: w, height: 180, legend: { show: true },
      scales: { x: { time: true } },
      series: [{}].concat(labels.map((l, i) => ({ label: l, stroke: colors[i], width: 2 }))),
      axes: [{}, { size: 60 }],
    });
    return {
      conns: new uPlot(opts(['connections'], ['#1a73e8']), [[], []], $('chart-conns')),
      msgs: new uPlot(opts(['in/s', 'out/s'], ['#137333', '#e37400']), [[], [], []], $('chart-msgs')),
    };
  }

  function render(snap) {
    const live = snap.nodes.filter((n) => n.health === 'up');
    const totalConns = snap.apps.reduce((a, x) => a + x.conns, 0);
    $('summary').textContent = live.length + ' of ' + snap.nodes.length + ' nodes up · ' + totalConns + ' connections';
    $('updated').textContent = 'updated ' + new Date(snap.time).toLocaleTimeString();
    const nb = $('nodes').tBodies[0];
    nb.replaceChildren();
    for (const n of snap.nodes) {
      const tr = document.createElement('tr');
      tr.dataset.node = n.id;
      cell(tr, n.id + (n.self ? ' (this node)' : ''));
      cell(tr, n.region || '–');
      cell(tr, n.version || '–');
      cell(tr, n.health, n.health);
      cell(tr, n.reporting ? dur(n.uptimeS) : '–', 'n');
      cell(tr, String(n.connections), 'n');
      cell(tr, n.reporting ? fmt(n.lagMs, 1) + ' ms' : '–', 'n');
      cell(tr, n.self ? 'now' : fmt(n.lastSeenMs / 1000, 1) + ' s ago', 'n');
      nb.appendChild(tr);
    }
    const dt = prev ? (snap.time - prev.time) / 1000 : 0;
    const before = new Map((prev ? prev.apps : []).map((a) => [a.id, a]));
    const rate = (a, k) => {
      const p = before.get(a.id);
      return p && dt > 0 ? Math.max(0, (a[k] - p[k]) / dt) : NaN;
    };
    const ab = $('apps').tBodies[0];
    const db = $('delivery').tBodies[0];
    ab.replaceChildren();
    db.replaceChildren();
    let inS = 0, outS = 0;
    for (const a of snap.apps) {
      const tr = document.createElement('tr');
      tr.dataset.app = a.id;
      const ri = rate(a, 'msgIn'), ro = rate(a, 'msgOut');
      if (Number.isFinite(ri)) inS += ri;
      if (Number.isFinite(ro)) outS += ro;
      cell(tr, a.id);
      cell(tr, String(a.conns), 'n conns');
      cell(tr, String(a.channels), 'n channels');
      cell(tr, String(a.presenceChannels), 'n');
      cell(tr, String(a.presenceMembers), 'n members');
      cell(tr, fmt(ri, 1), 'n');
      cell(tr, fmt(ro, 1), 'n');
      cell(tr, fmt(rate(a, 'api'), 1), 'n');
      cell(tr, String(a.apiErr), 'n');
      ab.appendChild(tr);
      const dr = document.createElement('tr');
      dr.dataset.app = a.id;
      cell(dr, a.id);
      cell(dr, String(a.whOk), 'n');
      cell(dr, String(a.whFail), 'n');
      cell(dr, String(a.whDropped), 'n');
      cell(dr, a.whAge > 0 ? fmt(a.whAge, 1) + ' s' : '–', 'n');
      cell(dr, String(a.lw), 'n');
      cell(dr, String(a.lwFb), 'n');
      cell(dr, a.lwN > 0 ? fmt((a.lwSum / a.lwN) * 1000, 1) + ' ms' : '–', 'n');
      db.appendChild(dr);
    }
    const ids = snap.apps.map((a) => a.id).join(',');
    if (ids !== lastApps) {
      lastApps = ids;
      $('app').replaceChildren(...snap.apps.map((a) => { const o = document.createElement('option'); o.value = a.id; o.textContent = a.id; return o; }));
    }
    series.t.push(snap.time / 1000);
    series.conns.push(totalConns);
    series.msgIn.push(prev ? inS : null);
    series.msgOut.push(prev ? outS : null);
    for (const k of Object.keys(series)) if (series[k].length > KEEP) series[k].shift();
    if (typeof uPlot === 'function') {
      charts ??= makeCharts();
      charts.conns.setData([series.t, series.conns]);
      charts.msgs.setData([series.t, series.msgIn, series.msgOut]);
    }
    prev = snap;
  }

  async function getJson(path) {
    const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) throw new Error(path + ': HTTP ' + res.status);
    return res.json();
  }

  let timer = null;
  async function poll() {
    timer = null;
    if (document.hidden) return; // resumed by visibilitychange: nothing runs while nobody looks
    try {
      render(await getJson('/api/cluster'));
      $('error').textContent = '';
      await refreshChannels();
    } catch (err) {
      $('error').textContent = String(err.message || err);
    }
    timer = setTimeout(poll, POLL_MS);
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden && timer === null) poll(); });

  let selected = null;
  async function refreshChannels() {
    const app = $('app').value;
    if (!app) return;
    const r = await getJson('/api/channels?app=' + encodeURIComponent(app) + '&q=' + encodeURIComponent($('q').value));
    $('channel-total').textContent = r.total + ' channel' + (r.total === 1 ? '' : 's');
    const ul = $('channel-list');
    ul.replaceChildren(...r.channels.map((c) => {
      const li = document.createElement('li');
      li.dataset.channel = c.name;
      li.textContent = c.name + ' — ' + c.subscriptionCount + ' subscriptions' + (c.name.startsWith('presence-') ? ', ' + c.userCount + ' members' : '');
      li.addEventListener('click', () => { selected = c.name; refreshMembers().catch((e) => { $('error').textContent = String(e.message || e); }); });
      return li;
    }));
    if (selected) await refreshMembers();
  }
  async function refreshMembers() {
    const r = await getJson('/api/members?app=' + encodeURIComponent($('app').value) + '&channel=' + encodeURIComponent(selected));
    $('members-title').textContent = r.channel + ': ' + r.total + ' member' + (r.total === 1 ? '' : 's');
    $('member-list').replaceChildren(...r.users.map((u) => { const li = document.createElement('li'); li.textContent = u; return li; }));
  }
  $('q').addEventListener('input', () => { refreshChannels().catch((e) => { $('error').textContent = String(e.message || e); }); });
  $('app').addEventListener('change', () => { selected = null; refreshChannels().catch((e) => { $('error').textContent = String(e.message || e); }); });
  poll();
})();
`;
