"""The dashboard's page: one self-contained HTML file (no script or font from elsewhere).

A canvas chart, drawn at the screen's device-pixel ratio: memory in MB over clock time with round
ticks, the cache budget as a dashed step line, the level as bands, gaps where readings are
missing, a "stale" veil when readings stop, and the values under the pointer. `#at=-30` in the
address pins the readout 30 s before the latest reading. Its links are relative, so it works
mounted under any path. The level colours meet WCAG AA (4.5:1) with their text.
"""

from __future__ import annotations

# Level card colours and their text colour; contrast ratios (WCAG 2.x relative luminance):
# green #2e7d32 / white 5.1:1, yellow #f9a825 / #1d2330 9.0:1, red #c62828 / white 5.6:1,
# unknown #616161 / white 6.2:1 (tests/test_dashboard_page.py computes them).
LEVEL_CARD_COLOURS = {
    "green": ("#2e7d32", "#ffffff"),
    "yellow": ("#f9a825", "#1d2330"),
    "red": ("#c62828", "#ffffff"),
    "unknown": ("#616161", "#ffffff"),
}
SERIES_COLOURS = {
    "rss_mb": "#1f3b73",
    "uss_mb": "#8e24aa",
    "cache_mb": "#00838f",
    "budget_mb": "#bf360c",
    "gpu_mb": "#e65100",
}
BAND_COLOURS = {
    "green": "rgba(76,175,80,0.20)",
    "yellow": "rgba(255,193,7,0.28)",
    "red": "rgba(244,67,54,0.24)",
    "unknown": "rgba(158,158,158,0.20)",
}


def _level_css() -> str:
    return "\n".join(
        f"  .lv-{name} {{ background: {bg} !important; color: {fg} !important; }}"
        for name, (bg, fg) in LEVEL_CARD_COLOURS.items()
    )


def _js_object(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}: "{v}"' for k, v in mapping.items()) + "}"


PAGE = (
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ironcliw-mem</title>
<style>
  html, body { height: 100%; margin: 0; }
  body { font: 14px system-ui, sans-serif; background: #f6f7f9; color: #1d2330;
         display: flex; flex-direction: column; padding: 12px 20px; box-sizing: border-box; }
  h1 { font-size: 18px; margin: 0 0 10px; }
  .row { display: flex; gap: 10px; flex-wrap: wrap; margin-bottom: 8px; }
  .card { background: #fff; border-radius: 8px; padding: 8px 12px;
          box-shadow: 0 1px 3px #0002; min-width: 120px; }
  .card b { display: block; font-size: 19px; margin-top: 2px; }
"""
    + _level_css()
    + """
  #reasons { color: #3a4150; margin: 0 0 6px; }
  #plot { flex: 1 1 auto; min-height: 240px; position: relative; background: #fff;
          border-radius: 8px; box-shadow: 0 1px 3px #0002; }
  canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
  .legend { margin-top: 6px; color: #3a4150; }
  .legend span { margin-right: 14px; white-space: nowrap; }
  .sw { display: inline-block; width: 16px; height: 0; border-top: 3px solid; margin-right: 4px;
        vertical-align: middle; }
  .dash { border-top-style: dashed; }
  .band { display: inline-block; width: 12px; height: 12px; vertical-align: middle;
          margin-right: 3px; border: 1px solid #0002; }
</style>
</head>
<body>
<h1>ironcliw-mem &mdash; memory pressure</h1>
<div class="row">
  <div class="card lv-unknown" id="level">level<b id="level-text">&hellip;</b></div>
  <div class="card">available<b id="available">&ndash;</b></div>
  <div class="card">process RSS / USS<b id="rss">&ndash;</b></div>
  <div class="card">cache / entries<b id="cache">&ndash;</b></div>
  <div class="card">budget / quality<b id="budget">&ndash;</b></div>
  <div class="card">captures<b id="captures">&ndash;</b></div>
  <div class="card">user<b id="user">&ndash;</b></div>
  <div class="card lv-unknown" id="gpu" hidden>GPU<b id="gpu-text"></b></div>
</div>
<div id="reasons"></div>
<div id="plot"><canvas id="chart" aria-label="memory over time"></canvas></div>
<div class="legend">
  <span><i class="sw" style="color:#1f3b73"></i>RSS</span>
  <span><i class="sw dash" style="color:#8e24aa"></i>USS</span>
  <span><i class="sw" style="color:#00838f"></i>cache</span>
  <span><i class="sw dash" style="color:#bf360c"></i>cache budget</span>
  <span id="gpu-legend" hidden><i class="sw" style="color:#e65100"></i>GPU (this process)</span>
  <span>level:
    <i class="band" style="background:rgba(76,175,80,0.4)"></i>green
    <i class="band" style="background:rgba(255,193,7,0.5)"></i>yellow
    <i class="band" style="background:rgba(244,67,54,0.45)"></i>red
    <i class="band" style="background:rgba(158,158,158,0.4)"></i>unknown</span>
</div>
<script>
"use strict";
const BAND = """
    + _js_object(BAND_COLOURS)
    + """;
const COLOUR = """
    + _js_object(SERIES_COLOURS)
    + """;
// key, label, dashed, stepped
const SERIES = [["budget_mb", "budget", true, true], ["rss_mb", "RSS", false, false],
                ["uss_mb", "USS", true, false], ["cache_mb", "cache", false, false],
                ["gpu_mb", "GPU", false, false]];
const STALE_AFTER_INTERVALS = 3;
let points = [], interval = 1, hoverX = null, now = Date.now() / 1000;
function text(id, value) { document.getElementById(id).textContent = value; }
function mb(v) { return v == null ? "\\u2013" : v.toFixed(1) + " MB"; }
function niceStep(span, count) {
  const raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
function clock(t, withSeconds) {
  const d = new Date(t * 1000), p = n => String(n).padStart(2, "0");
  return p(d.getHours()) + ":" + p(d.getMinutes()) + (withSeconds ? ":" + p(d.getSeconds()) : "");
}
function pinnedAt() {
  const m = /^#at=(-?\\d+(?:\\.\\d+)?)$/.exec(location.hash);
  return m && points.length ? points[points.length - 1].t + Number(m[1]) : null;
}
function draw() {
  const c = document.getElementById("chart"), box = c.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  // The backing store in device pixels: sharp on HiDPI screens, not a stretched bitmap.
  const bw = Math.round(box.width * dpr), bh = Math.round(box.height * dpr);
  if (c.width !== bw || c.height !== bh) { c.width = bw; c.height = bh; }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  const W = box.width, H = box.height, L = 70, R = 16, T = 14, B = 30;
  g.clearRect(0, 0, W, H);
  g.font = "12px system-ui, sans-serif"; g.fillStyle = "#3a4150";
  if (points.length === 0) { g.fillText("waiting for readings\\u2026", L, H / 2); return; }
  const last = points[points.length - 1].t;
  // At least a minute wide, the first reading at the left: a new chart fills from the left.
  const t0 = points[0].t, t1 = Math.max(last, now, t0 + 60);
  let ymax = 1;
  for (const p of points) for (const [k] of SERIES) if (p[k] != null) ymax = Math.max(ymax, p[k]);
  const ystep = niceStep(ymax * 1.05, 5), ytop = Math.ceil(ymax * 1.05 / ystep) * ystep;
  const x = t => L + (t - t0) / (t1 - t0) * (W - L - R);
  const y = v => H - B - v / ytop * (H - T - B);
  const gap = STALE_AFTER_INTERVALS * interval;
  // One band per run of a level (whole pixels: no seams between readings), ended by a gap.
  for (let i = 0; i < points.length;) {
    let j = i;
    while (j + 1 < points.length && points[j + 1].level === points[i].level &&
           points[j + 1].t - points[j].t <= gap) j++;
    const end = j + 1 < points.length && points[j + 1].t - points[j].t <= gap
      ? points[j + 1].t : points[j].t + interval;
    const a = Math.round(x(points[i].t)), b = Math.round(x(Math.min(end, t1)));
    g.fillStyle = BAND[points[i].level] || BAND.unknown;
    g.fillRect(a, T, Math.max(1, b - a), H - T - B);
    i = j + 1;
  }
  g.lineWidth = 1; g.strokeStyle = "#d5d8de"; g.fillStyle = "#3a4150";
  g.textAlign = "right"; g.textBaseline = "middle";
  for (let v = 0; v <= ytop + 1e-9; v += ystep) {
    const yy = Math.round(y(v)) + 0.5;
    g.beginPath(); g.moveTo(L, yy); g.lineTo(W - R, yy); g.stroke();
    const label = ytop >= 4096 ? (v / 1024).toFixed(ystep >= 1024 ? 0 : 1) + " GB"
                               : v.toFixed(ystep < 1 ? 1 : 0) + " MB";
    g.fillText(label, L - 6, yy);
  }
  const tstep = TIME_STEPS.find(s => (t1 - t0) / s <= 8) || 3600;
  g.textAlign = "center"; g.textBaseline = "top";
  for (let t = Math.ceil(t0 / tstep) * tstep; t <= t1; t += tstep) {
    const xx = Math.round(x(t)) + 0.5;
    g.beginPath(); g.moveTo(xx, H - B); g.lineTo(xx, H - B + 5); g.stroke();
    const label = clock(t, tstep < 60), half = g.measureText(label).width / 2;
    g.fillText(label, Math.min(xx, W - half - 2), H - B + 8);
  }
  g.strokeStyle = "#8a90a0"; g.beginPath(); g.moveTo(L + 0.5, T); g.lineTo(L + 0.5, H - B + 0.5);
  g.lineTo(W - R, H - B + 0.5); g.stroke();
  for (const [k, , dashed, stepped] of SERIES) {
    g.strokeStyle = COLOUR[k]; g.lineWidth = 2; g.setLineDash(dashed ? [6, 4] : []);
    g.beginPath(); let prev = null;
    for (const p of points) {
      const v = p[k];
      // A missing value or a gap in the readings breaks the line: nothing is drawn as if known.
      if (v == null || (prev && p.t - prev.t > gap)) { prev = v == null ? null : p;
        if (v != null) g.moveTo(x(p.t), y(v)); continue; }
      if (!prev) g.moveTo(x(p.t), y(v));
      else if (stepped) { g.lineTo(x(p.t), y(prev[k])); g.lineTo(x(p.t), y(v)); }
      else g.lineTo(x(p.t), y(v));
      prev = p;
    }
    g.stroke();
  }
  g.setLineDash([]);
  if (now - last > gap) {  // readings stopped: veil what follows the last one, and say so
    g.fillStyle = "rgba(97,97,97,0.25)";
    const from = Math.round(x(last + interval));
    g.fillRect(from, T, Math.round(x(t1)) - from, H - T - B);
    g.fillStyle = "#1d2330"; g.textAlign = "left"; g.textBaseline = "top";
    g.font = "bold 13px system-ui, sans-serif";
    g.fillText("stale: no reading for " + (now - last).toFixed(0) + " s", from + 6, T + 6);
    g.font = "12px system-ui, sans-serif";
  }
  const at = hoverX != null ? t0 + (hoverX - L) / (W - L - R) * (t1 - t0) : pinnedAt();
  if (at != null) readout(g, at, x, T, H - B, W - R);
}
function readout(g, at, x, top, bottom, right) {
  let p = points[0];
  for (const q of points) if (Math.abs(q.t - at) < Math.abs(p.t - at)) p = q;
  const xx = Math.round(x(p.t)) + 0.5;
  g.strokeStyle = "#1d2330"; g.lineWidth = 1;
  g.beginPath(); g.moveTo(xx, top); g.lineTo(xx, bottom); g.stroke();
  const lines = [clock(p.t, true) + "  " + p.level];
  for (const [k, label] of SERIES) if (p[k] != null) lines.push(label + " " + mb(p[k]));
  const w = 150, h = 18 * lines.length + 10, left = xx + w + 12 > right ? xx - w - 8 : xx + 8;
  g.fillStyle = "rgba(29,35,48,0.92)"; g.fillRect(left, top + 4, w, h);
  g.fillStyle = "#ffffff"; g.textAlign = "left"; g.textBaseline = "top";
  lines.forEach((line, i) => g.fillText(line, left + 8, top + 10 + 18 * i));
}
function show(s) {
  const level = s.level || "unknown";
  document.getElementById("level").className = "card lv-" + level;
  text("level-text", level + (s.forced ? " (forced)" : ""));
  const gb = s.available_gb;
  text("available", gb == null ? "\\u2013" : gb.toFixed(2) + " GB");
  const last = points.length ? points[points.length - 1] : null;
  text("rss", last ? mb(last.rss_mb) + " / " + mb(last.uss_mb) : "\\u2013");
  const c = s.cache;
  text("cache", c ? mb(c.bytes / 1048576) + " / " + c.entries : "\\u2013");
  text("captures", c ? String(c.captures_made) : "\\u2013");
  text("budget", s.recommended_cache_mb + " MB / " + s.recommended_quality);
  const u = s.activity || {}, idle = u.idle_seconds;
  text("user", (u.state || "unknown") + (idle == null ? "" : " " + idle.toFixed(0) + " s"));
  showGpu(s.gpu);
  const why = (s.reasons || []).join("; ") || "none (no signal past a threshold)";
  text("reasons", "reasons: " + why);
}
function showGpu(devices) {
  const card = document.getElementById("gpu"), has = Array.isArray(devices) && devices.length > 0;
  card.hidden = !has;
  document.getElementById("gpu-legend").hidden = !has;
  if (!has) return;
  const worst = ["red", "yellow", "green"].find(l => devices.some(d => d.level === l)) || "unknown";
  card.className = "card lv-" + worst;
  text("gpu-text", devices.map(d => d.level + " " + (d.used_bytes / 2 ** 30).toFixed(1) + " / " +
    (d.total_bytes / 2 ** 30).toFixed(1) + " GB").join(", "));
}
async function tick() {
  try {
    const get = path => fetch(path, {cache: "no-store"}).then(r => r.json());
    const [stats, hist] = await Promise.all([get("stats"), get("history")]);
    points = hist.points; interval = stats.sample_interval_s || 1;
    now = stats.served_at || Date.now() / 1000;
    show(stats); draw();
  } catch (e) { text("reasons", "dashboard unreachable: " + e); }
}
const chart = document.getElementById("chart");
chart.addEventListener("mousemove", e => {
  hoverX = e.clientX - chart.getBoundingClientRect().left; draw();
});
chart.addEventListener("mouseleave", () => { hoverX = null; draw(); });
window.addEventListener("resize", draw);
window.addEventListener("hashchange", draw);
tick(); setInterval(tick, 1000);
</script>
</body>
</html>
"""
)
