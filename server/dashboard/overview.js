// Slipway dashboard, overview page: the queue's history as uPlot charts and
// the images by failure rate. Loaded before app.js, which routes to it.
"use strict";

const WINDOW_KEY = "slipway.window";
const WINDOW_NAMES = { "1h": "last hour", "6h": "last 6 hours", "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days" };
// The images table changes slowly: every IMAGES_EVERY-th poll reads it
// instead of the history, so each poll stays one request and one query.
const IMAGES_EVERY = 5;

// charts holds the live uPlot instances by name; tests read their data.
const charts = {};
let overviewTick = 0;
let lastHistory = null;

function fmtSecs(s) {
  if (s == null || Number.isNaN(s)) return "—";
  if (s < 10) return (Math.round(s * 10) / 10) + "s";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h) return h + "h " + m + "m";
  if (m) return m + "m " + r + "s";
  return r + "s";
}

function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

function axis(opts = {}) {
  const fg = cssVar("--muted"), grid = cssVar("--line");
  return Object.assign({ stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } }, opts);
}

function chartWidth(id) { return Math.max(280, $(id).clientWidth || 600); }

// stacked turns counts into running totals, bottom series first, so bars
// drawn from the top total down show each outcome's share.
function stacked(rows) {
  const out = []; let acc = null;
  for (const r of rows) { acc = acc ? acc.map((v, i) => v + r[i]) : r.slice(); out.push(acc); }
  return out;
}

function makeCharts(h) {
  lastHistory = h;
  const xs = h.buckets.map((b) => Date.parse(b.start) / 1000);
  const pick = (k) => h.buckets.map((b) => b[k]);
  // Ticks at whole seconds, minutes and hours.
  const secs = { values: (u, vals) => vals.map(fmtSecs), size: 60,
    incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400] };
  const count = { values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? String(v) : "")) };
  const height = 220;
  const bars = uPlot.paths.bars({ size: [0.8, 40] });
  const ok = pick("succeeded"), bad = pick("failed"), canc = pick("canceled");
  const [sOk, sBad, sCanc] = stacked([ok, bad, canc]);
  const specs = {
    queue: {
      data: [xs, pick("queue_depth"), pick("queue_wait_p50_seconds"), pick("queue_wait_p95_seconds")],
      series: [{},
        { label: "queue depth (jobs)", stroke: cssVar("--c1"), width: 2, paths: uPlot.paths.stepped({ align: 1 }), scale: "jobs" },
        { label: "wait p50", stroke: cssVar("--c2"), width: 2, scale: "s", value: (u, v) => fmtSecs(v), spanGaps: false },
        { label: "wait p95", stroke: cssVar("--c3"), width: 2, dash: [6, 4], scale: "s", value: (u, v) => fmtSecs(v) }],
      axes: [axis(), axis(Object.assign({ scale: "jobs", label: "jobs" }, count)), axis(Object.assign({ scale: "s", side: 1, grid: { show: false } }, secs))],
      scales: { jobs: { range: (u, min, max) => [0, Math.max(1, max)] } },
    },
    duration: {
      data: [xs, pick("duration_p50_seconds"), pick("duration_p95_seconds")],
      series: [{},
        { label: "duration p50", stroke: cssVar("--c2"), width: 2, value: (u, v) => fmtSecs(v), points: { show: true, size: 4 } },
        { label: "duration p95", stroke: cssVar("--c3"), width: 2, dash: [6, 4], value: (u, v) => fmtSecs(v), points: { show: true, size: 4 } }],
      axes: [axis(), axis(secs)],
      scales: { y: { range: (u, min, max) => [0, Math.max(1, max || 1)] } },
    },
    outcomes: {
      // Drawn top total first so each lower band covers the rest of the bar;
      // the legend's values are the counts, not the running totals.
      data: [xs, sCanc, sBad, sOk],
      raw: [xs, canc, bad, ok],
      series: [{},
        { label: "canceled", fill: cssVar("--canceled"), stroke: cssVar("--canceled"), paths: bars, points: { show: false }, value: (u, v, si, i) => i == null ? "—" : String(canc[i]) },
        { label: "failed", fill: cssVar("--failed"), stroke: cssVar("--failed"), paths: bars, points: { show: false }, value: (u, v, si, i) => i == null ? "—" : String(bad[i]) },
        { label: "succeeded", fill: cssVar("--succeeded"), stroke: cssVar("--succeeded"), paths: bars, points: { show: false }, value: (u, v, si, i) => i == null ? "—" : String(ok[i]) }],
      axes: [axis(), axis(Object.assign({ label: "jobs" }, count))],
      scales: { y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    },
  };
  for (const [name, spec] of Object.entries(specs)) {
    const id = "chart-" + name;
    if (charts[name]) {
      charts[name].setData(spec.data);
      charts[name].counts = spec.raw || spec.data;
      continue;
    }
    const u = new uPlot({ width: chartWidth(id), height, series: spec.series, axes: spec.axes, scales: spec.scales,
      cursor: { points: { show: true } }, legend: { live: true } }, spec.data, $(id));
    u.counts = spec.raw || spec.data;
    charts[name] = u;
  }
  summarize(h);
}

// summarize says in words what each chart shows: screen readers get it, and
// nobody needs to tell colours apart to read the figures.
function summarize(h) {
  const sum = (k) => h.buckets.reduce((a, b) => a + b[k], 0);
  const max = (k) => h.buckets.reduce((a, b) => (b[k] != null && b[k] > a ? b[k] : a), null);
  const last = h.buckets[h.buckets.length - 1] || { queue_depth: 0 };
  const span = WINDOW_NAMES[$("window").value] || "";
  $("sum-queue").textContent = "Queue depth now " + last.queue_depth + ", at most " + (max("queue_depth") || 0) +
    " in the " + span + "; longest p95 wait " + fmtSecs(max("queue_wait_p95_seconds")) + ".";
  $("sum-duration").textContent = "Slowest p50 build " + fmtSecs(max("duration_p50_seconds")) + ", slowest p95 " +
    fmtSecs(max("duration_p95_seconds")) + " in the " + span + ".";
  $("sum-outcomes").textContent = sum("succeeded") + " succeeded, " + sum("failed") + " failed, " + sum("canceled") +
    " canceled; " + sum("queued") + " queued in the " + span + ".";
}

function renderImages(list) {
  const rows = list.images.map((i) => {
    const fails = i.success_rate == null ? null : 1 - i.success_rate;
    const lf = i.last_failure;
    return el("tr", { "data-image": i.image },
      el("td", { "data-label": "Image", class: "wrap" },
        el("a", { href: "#/", text: i.image, title: "Show this image's jobs", onclick: (ev) => { ev.preventDefault(); listImage(i.image); } })),
      el("td", { "data-label": "Runs", class: "num", text: String(i.runs) }),
      el("td", { "data-label": "Failure rate", class: "num", text: fails == null ? "—" : Math.round(fails * 100) + "% (" + i.failed + " failed)" }),
      el("td", { "data-label": "Duration p50", class: "num", text: fmtSecs(i.duration_p50_seconds) }),
      el("td", { "data-label": "Duration p95", class: "num", text: fmtSecs(i.duration_p95_seconds) }),
      el("td", { "data-label": "Last failure" }, lf ? el("a", { href: "#/jobs/" + lf.job_id, text: lf.code + ", " + when(lf.finished_at) }) : "—"));
  });
  document.querySelector("#images tbody").replaceChildren(...rows);
  $("images-empty").hidden = rows.length > 0;
}

// listImage opens the job list narrowed to one image.
function listImage(image) {
  $("search-field").value = "image";
  $("search").value = image;
  location.hash = "#/";
}

async function loadHistory() {
  const { body, changed } = await api("/api/v1/stats/history?window=" + encodeURIComponent($("window").value));
  if (changed) makeCharts(body);
}

async function loadImages() {
  const { body, changed } = await api("/api/v1/stats/images?window=" + encodeURIComponent($("window").value));
  if (changed) renderImages(body);
}

async function pollOverview() {
  overviewTick++;
  try {
    if (overviewTick % IMAGES_EVERY === 0) await loadImages(); else await loadHistory();
    $("overview-status").textContent = "";
  } catch (e) {
    $("overview-status").textContent = "Could not refresh (" + (e.status || e.message) + "); retrying.";
    throw e;
  }
}

async function openOverview() {
  stop();
  show("overview");
  const saved = sessionStorage.getItem(WINDOW_KEY);
  if (saved && WINDOW_NAMES[saved]) $("window").value = saved;
  overviewTick = 0;
  // The first view needs both; the polls after it read one at a time.
  try { await loadImages(); } catch (e) { $("overview-status").textContent = "Could not load the images (" + (e.status || e.message) + ")."; }
  pagePoll(pollOverview);
}

document.addEventListener("DOMContentLoaded", () => {
  $("window").addEventListener("change", () => {
    sessionStorage.setItem(WINDOW_KEY, $("window").value);
    openOverview();
  });
  // Colours come from CSS variables when a chart is made: make them anew
  // when the system's scheme changes.
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    for (const name of ["queue", "duration", "outcomes"]) {
      if (charts[name]) { charts[name].destroy(); delete charts[name]; }
    }
    if (lastHistory) makeCharts(lastHistory);
    runsLoadedFor = ""; // the job page's next poll draws its chart anew
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const [name, u] of Object.entries(charts)) u.setSize({ width: chartWidth("chart-" + name), height: 220 });
    }, 100);
  });
});
