// Slipway dashboard, job page extras: the build's step timeline and the
// durations of the image's last 20 runs. app.js calls jobChanged after each
// poll of the job.
"use strict";

const RUNS = 20;
let timelineJob = null;   // the job whose runs chart is shown
let runsLoadedFor = "";   // "<job id>/<state>" the runs chart was last loaded for

// stepsOf turns BuildKit's result.steps (name, cached, duration) into the
// timeline's shape, laying the steps end to end: BuildKit gives no start
// times, and its steps may overlap, so this shows where time went, not when.
function stepsOf(list) {
  let at = 0;
  return list.map((s, i) => {
    const st = { n: i + 1, name: s.name, cached: !!s.cached, offset: at, seconds: (Number(s.duration_ms) || 0) / 1000, finished: true };
    at += st.seconds;
    return st;
  });
}

function renderSteps(steps, note) {
  const list = $("steps");
  const total = steps.reduce((a, s) => Math.max(a, s.offset + s.seconds), 0) || 1;
  list.replaceChildren(...steps.map((s) => {
    const bar = el("span", { class: "bar" + (s.cached ? " cached" : "") });
    bar.style.marginLeft = (100 * s.offset / total) + "%";
    bar.style.width = Math.max(0.5, 100 * s.seconds / total) + "%";
    return el("li", { "data-cached": String(s.cached), "data-step": String(s.n) },
      el("span", { class: "step-name" }, el("span", { class: "mono", text: s.name })),
      el("span", { class: "step-time", text: (s.cached ? "cached · " : "") + fmtSecs(s.seconds) + (s.finished ? "" : " …") +
        " · at +" + fmtSecs(s.offset) }),
      el("span", { class: "track", "aria-hidden": "true" }, bar));
  }));
  $("steps-status").textContent = steps.length ? note : "No build steps recorded for this job.";
}

async function loadSteps(j) {
  if (j.result && Array.isArray(j.result.steps) && j.result.steps.length) {
    renderSteps(stepsOf(j.result.steps), "Steps as BuildKit reported them, laid end to end.");
    return;
  }
  const { body, changed } = await api("/api/v1/jobs/" + encodeURIComponent(j.id) + "/steps");
  if (!changed && $("steps").children.length) return;
  const first = body.steps.length ? Date.parse(body.steps[0].started_at) : 0;
  renderSteps(body.steps.map((s) => ({ n: s.n, name: s.name, cached: s.cached, seconds: s.duration_seconds,
    offset: (Date.parse(s.started_at) - first) / 1000, finished: s.finished })),
  "From the builder's step lines and the times they were logged.");
}

function runSeconds(j) {
  if (!j.started_at || !j.finished_at) return null;
  return (Date.parse(j.finished_at) - Date.parse(j.started_at)) / 1000;
}

async function loadRuns(j) {
  const { body } = await api("/api/v1/jobs?image=" + encodeURIComponent(j.image.name) + "&limit=" + RUNS);
  const runs = body.jobs.filter((r) => TERMINAL.has(r.state)).reverse(); // oldest first
  const xs = runs.map((r, i) => i + 1);
  const ok = runs.map((r) => (r.state === "succeeded" ? runSeconds(r) : null));
  const bad = runs.map((r) => (r.state !== "succeeded" ? runSeconds(r) : null));
  const data = [xs, ok, bad];
  const label = (u, v) => (v == null ? "—" : String(v));
  const bars = uPlot.paths.bars({ size: [0.7, 30] });
  if (charts.runs) charts.runs.destroy();
  charts.runs = new uPlot({
    width: chartWidth("chart-runs"), height: 160,
    scales: { x: { time: false, range: [0.5, Math.max(RUNS, xs.length) + 0.5] }, y: { range: (u, min, max) => [0, Math.max(1, max || 1)] } },
    series: [{ label: "run", value: label },
      { label: "succeeded", fill: cssVar("--succeeded"), stroke: cssVar("--succeeded"), paths: bars, points: { show: false }, value: (u, v) => fmtSecs(v) },
      { label: "failed or canceled", fill: cssVar("--failed"), stroke: cssVar("--failed"), paths: bars, points: { show: false }, value: (u, v) => fmtSecs(v) }],
    axes: [axis({ values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? String(v) : "")) }),
      axis({ values: (u, vals) => vals.map(fmtSecs), size: 60 })],
  }, data, $("chart-runs"));
  const secs = runs.map(runSeconds).filter((v) => v != null).sort((a, b) => a - b);
  const median = secs.length ? secs[Math.floor((secs.length - 1) / 2)] : null;
  const mine = runs.findIndex((r) => r.id === j.id);
  $("sum-runs").textContent = runs.length + " finished run" + (runs.length === 1 ? "" : "s") + " of " + j.image.name +
    ", oldest first; median " + fmtSecs(median) + (mine >= 0 ? "; this job is run " + (mine + 1) + " and took " + fmtSecs(runSeconds(runs[mine])) : "") + ".";
}

// jobChanged runs after each poll of the job page: the steps while the job
// runs or when it changed, the runs chart when the job is first shown and
// when it ends.
async function jobChanged(j, changed) {
  if (timelineJob !== j.id) {
    timelineJob = j.id;
    $("steps").replaceChildren();
    $("steps-status").textContent = "";
    $("sum-runs").textContent = "";
  }
  if (changed || j.state === "running") await loadSteps(j);
  const key = j.id + "/" + (TERMINAL.has(j.state) ? "done" : "open");
  if (runsLoadedFor !== key) {
    runsLoadedFor = key;
    await loadRuns(j);
  }
}
