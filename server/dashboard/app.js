// Slipway dashboard: plain JavaScript, no build step; the only third-party
// code is uPlot for the charts (see VENDORED.md). Every value from the API
// reaches the page as text (textContent), never as HTML.
"use strict";

const TOKEN_KEY = "slipway.token";
const POLL_MS = 2000;
const STATS_MS = 10000;   // the header's counts: a snapshot of the whole table, so less often
const MAX_BACKOFF_MS = 60000;
const SYMBOLS = { queued: "◷", running: "▶", succeeded: "✓", failed: "✗", canceled: "⊘" };
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

const $ = (id) => document.getElementById(id);
let me = null;          // what the token may do (GET /api/v1/whoami)
let logAbort = null;
const etags = new Map(); // URL -> [etag, parsed body]

class HTTPError extends Error {
  constructor(status, problem, url, method) {
    super((problem && (problem.detail || problem.title)) || ("HTTP " + status));
    this.status = status; this.url = url; this.method = method;
  }
}

function authHeaders() {
  const t = sessionStorage.getItem(TOKEN_KEY);
  return t ? { Authorization: "Bearer " + t } : {};
}

// api fetches JSON with the token; GETs send If-None-Match and reuse the
// cached body on 304, so polling costs almost nothing when nothing changed.
async function api(path, opts = {}) {
  const method = opts.method || "GET";
  const headers = Object.assign({ Accept: "application/json" }, authHeaders());
  const cached = method === "GET" ? etags.get(path) : null;
  if (cached) headers["If-None-Match"] = cached[0];
  const res = await fetch(path, { method, headers });
  if (res.status === 304 && cached) return { body: cached[1], changed: false, res };
  let body = null;
  const text = await res.text();
  if (text) { try { body = JSON.parse(text); } catch (e) { body = null; } }
  if (res.status === 401) {
    signOut(sessionStorage.getItem(TOKEN_KEY) ? "Your token was refused: " + ((body && body.detail) || "401") : "");
  }
  if (!res.ok) throw new HTTPError(res.status, body, path, method);
  const tag = res.headers.get("ETag");
  if (method === "GET" && tag) etags.set(path, [tag, body]);
  return { body, changed: true, res };
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function badge(state) {
  return el("span", { class: "badge " + state, "data-state": state, text: (SYMBOLS[state] || "•") + " " + state });
}

function safeURL(u) {
  try { const p = new URL(u); return (p.protocol === "https:" || p.protocol === "http:") ? p.href : null; } catch (e) { return null; }
}

function duration(j) {
  if (!j.started_at) return "";
  const end = j.finished_at ? new Date(j.finished_at) : new Date();
  let s = Math.max(0, Math.round((end - new Date(j.started_at)) / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60); s %= 60;
  return (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s" + (j.finished_at ? "" : " …");
}

function when(t) { return t ? new Date(t).toLocaleString() : "—"; }

function copyButton(value) {
  const b = el("button", { type: "button", class: "copy", text: "Copy", title: "Copy to clipboard" });
  b.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(value); b.textContent = "Copied"; }
    catch (e) { b.textContent = "Select and copy"; }
    setTimeout(() => { b.textContent = "Copy"; }, 1500);
  });
  return b;
}

function triggerCell(tr) {
  if (!tr || !tr.system) return "";
  const label = tr.system + (tr.job ? " " + tr.job : "") + (tr.build_number ? " #" + tr.build_number : "");
  const href = tr.url && safeURL(tr.url);
  return href ? el("a", { href, text: label, rel: "noopener noreferrer", target: "_blank" }) : label;
}

// ---- polling ----
// poll runs step now and then every ms until stopped: never while the tab is
// hidden (it resumes when the tab is shown again), and after an error (step
// throws or returns false) with doubling delays up to a minute. step returns
// "stop" to end. Each page's step makes one request, answered 304 while
// nothing changed.
const pagePollers = new Set();
let statsPoller = null;

function poll(step, ms = POLL_MS) {
  const p = { timer: null, stopped: false, waiting: false, delay: ms };
  p.tick = async () => {
    p.timer = null;
    if (p.stopped) return;
    if (document.hidden) { p.waiting = true; return; }
    let r;
    try { r = await step(); } catch (e) { r = false; }
    if (p.stopped || r === "stop") return;
    p.delay = r === false ? Math.min(p.delay * 2, MAX_BACKOFF_MS) : ms;
    p.timer = setTimeout(p.tick, p.delay);
  };
  p.stop = () => { p.stopped = true; clearTimeout(p.timer); };
  p.tick();
  return p;
}

function pagePoll(step, ms) { pagePollers.add(poll(step, ms)); }

document.addEventListener("visibilitychange", () => {
  if (document.hidden) return;
  for (const p of [...pagePollers, statsPoller]) {
    if (p && p.waiting) { p.waiting = false; p.tick(); }
  }
});

function stop() {
  for (const p of pagePollers) p.stop();
  pagePollers.clear();
  if (logAbort) { logAbort.abort(); logAbort = null; }
}

function show(id) {
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== id;
  $("nav").hidden = id === "login";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === id) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

function signOut(message) {
  stop();
  if (statsPoller) { statsPoller.stop(); statsPoller = null; }
  sessionStorage.removeItem(TOKEN_KEY);
  me = null; etags.clear();
  $("logout").hidden = true;
  $("stats").textContent = "";
  $("login-error").textContent = message || "";
  show("login");
}

// ---- header stats ----
async function refreshStats() {
  const { body, changed } = await api("/api/v1/stats");
  if (!changed) return;
  const box = $("stats"); box.textContent = "";
  for (const s of ["queued", "running", "succeeded", "failed", "canceled"]) {
    box.append(el("span", { "data-stat": s }, s + " ", el("b", { text: String(body.states[s] || 0) })));
  }
  if (body.queue_depth > 0) box.append(el("span", { text: "oldest queued " + Math.round(body.oldest_queued_age_seconds) + "s" }));
  const workers = Object.keys(body.running_by_worker || {}).length;
  box.append(el("span", { text: workers + " busy worker" + (workers === 1 ? "" : "s") }));
}

// ---- job list ----
let listPath = null;
let extraPages = [];

function currentListPath() {
  const q = new URLSearchParams();
  for (const c of document.querySelectorAll("#filters input[name=state]:checked")) q.append("state", c.value);
  const term = $("search").value.trim();
  if (term) q.set($("search-field").value, term);
  q.set("limit", "50");
  return "/api/v1/jobs?" + q.toString();
}

function jobRow(j) {
  const commit = (j.source && j.source.commit) || "";
  return el("tr", { "data-job": j.id },
    el("td", { "data-label": "State" }, badge(j.state)),
    el("td", { "data-label": "Job", class: "mono" }, el("a", { href: "#/jobs/" + j.id, text: j.id.slice(-12) })),
    el("td", { "data-label": "Repository", class: "wrap", text: (j.source && j.source.repository) || "" }),
    el("td", { "data-label": "Commit", class: "mono", text: commit.slice(0, 12), title: commit }),
    el("td", { "data-label": "Image", class: "wrap", text: (j.image && j.image.name) || "" }),
    el("td", { "data-label": "Trigger" }, triggerCell(j.trigger)),
    el("td", { "data-label": "Created", text: when(j.created_at) }),
    el("td", { "data-label": "Duration", text: duration(j) }));
}

function renderList(pages) {
  const tbody = document.querySelector("#jobs tbody");
  const rows = [];
  let next = null;
  for (const p of pages) { for (const j of p.jobs) rows.push(jobRow(j)); next = p.next; }
  tbody.replaceChildren(...rows);
  $("empty").hidden = rows.length > 0;
  $("more").hidden = !next;
  $("more").dataset.next = next || "";
}

async function pollList() {
  try {
    const { body } = await api(listPath);
    $("filter-error").textContent = "";
    // Re-rendered even when unchanged: running jobs' durations move on.
    renderList([body, ...extraPages]);
  } catch (e) {
    if (e.status === 400) { $("filter-error").textContent = e.message; return "stop"; }
    throw e;
  }
}

function openList() {
  stop();
  show("list");
  listPath = currentListPath();
  extraPages = [];
  pagePoll(pollList);
}

// ---- job page ----
let currentJob = null;

function detail(dl, name, ...value) {
  dl.append(el("dt", { text: name }), el("dd", {}, ...value));
}

function renderJob(j) {
  currentJob = j;
  $("job-id").textContent = j.id;
  $("job-state").replaceChildren(badge(j.state));
  const dl = $("job-details"); dl.replaceChildren();
  detail(dl, "Repository", j.source.repository);
  detail(dl, "Commit", el("span", { class: "mono", text: j.source.commit }), copyButton(j.source.commit));
  if (j.source.ref) detail(dl, "Ref", j.source.ref);
  detail(dl, "Image", (j.image.name || "") + (j.image.tags && j.image.tags.length ? " : " + j.image.tags.join(", ") : ""));
  if (j.result && j.result.images) {
    for (const ref of j.result.images) detail(dl, "Reference", el("span", { class: "mono", text: ref }), copyButton(ref));
  }
  if (j.result && j.result.digest) {
    detail(dl, "Digest", el("span", { class: "mono", id: "digest", text: j.result.digest }), copyButton(j.result.digest));
  }
  detail(dl, "Trigger", triggerCell(j.trigger) || "—");
  detail(dl, "Attempts", String(j.attempt) + (j.max_attempts ? " of " + j.max_attempts : ""));
  if (Array.isArray(j.attempts) && j.attempts.length) {
    const ol = el("ol", { class: "attempts" });
    for (const a of j.attempts) {
      ol.append(el("li", { text: a.outcome + (a.worker ? " on " + a.worker : "") +
        (a.error ? " — " + a.error.code + ": " + a.error.message : "") }));
    }
    detail(dl, "Attempt history", ol);
  }
  if (j.retry_of) detail(dl, "Retry of", el("a", { href: "#/jobs/" + j.retry_of, text: j.retry_of }));
  if (j.retried_by) detail(dl, "Retried by", el("a", { href: "#/jobs/" + j.retried_by, text: j.retried_by }));
  detail(dl, "Created", when(j.created_at));
  detail(dl, "Started", when(j.started_at));
  detail(dl, "Finished", when(j.finished_at));
  detail(dl, "Duration", duration(j) || "—");
  const err = $("job-error");
  err.hidden = !j.error;
  err.textContent = j.error ? "Error (" + j.error.code + "): " + j.error.message : "";
  const admin = me && me.scope === "admin";
  $("cancel").hidden = !admin || TERMINAL.has(j.state);
  $("retry").hidden = !admin || !TERMINAL.has(j.state);
}

async function pollJob(id) {
  try {
    const { body, changed } = await api("/api/v1/jobs/" + encodeURIComponent(id));
    if (changed) renderJob(body);
    if (typeof jobChanged === "function") await jobChanged(body, changed);
  } catch (e) {
    if (e.status === 404) { $("log-status").textContent = "No such job."; return "stop"; }
    throw e;
  }
}

// followLog reads the SSE stream with fetch, since EventSource cannot send
// the Authorization header. It resumes after the last line it showed.
async function followLog(id) {
  const pre = $("log");
  let last = 0;
  while (true) {
    logAbort = new AbortController();
    try {
      const headers = Object.assign({ Accept: "text/event-stream" }, authHeaders());
      if (last > 0) headers["Last-Event-ID"] = String(last);
      const res = await fetch("/api/v1/jobs/" + encodeURIComponent(id) + "/logs?follow=true", { headers, signal: logAbort.signal });
      if (!res.ok) { $("log-status").textContent = "Log unavailable (" + res.status + ")."; return; }
      $("log-status").textContent = "Live";
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const ev = parseEvent(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
          if (ev.event === "end") {
            const end = JSON.parse(ev.data);
            $("log-status").textContent = "Finished: " + end.state + " (" + end.lines + " lines)";
            pollJob(id).catch(() => {});
            return;
          }
          if (ev.event === "message" && ev.id) {
            last = Number(ev.id);
            pre.append(document.createTextNode(ev.data + "\n"));
            pre.scrollTop = pre.scrollHeight;
          }
        }
      }
    } catch (e) {
      if (e.name === "AbortError") return;
    }
    $("log-status").textContent = "Reconnecting…";
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function parseEvent(block) {
  const ev = { event: "message", id: "", data: [] };
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    let val = i < 0 ? "" : line.slice(i + 1);
    if (val.startsWith(" ")) val = val.slice(1);
    if (field === "event") ev.event = val;
    else if (field === "id") ev.id = val;
    else if (field === "data") ev.data.push(val);
  }
  ev.data = ev.data.join("\n");
  return ev;
}

function openJob(id) {
  stop();
  show("job");
  currentJob = null;
  $("log").textContent = "";
  $("log-status").textContent = "Connecting…";
  $("action-result").textContent = "";
  $("job-details").replaceChildren();
  $("job-state").replaceChildren();
  $("cancel").hidden = true; $("retry").hidden = true;
  etags.delete("/api/v1/jobs/" + encodeURIComponent(id));
  pagePoll(() => pollJob(id));
  followLog(id);
}

async function jobAction(action) {
  if (!currentJob) return;
  const path = "/api/v1/jobs/" + encodeURIComponent(currentJob.id) + "/" + action;
  $("action-result").textContent = action === "cancel" ? "Cancelling…" : "Retrying…";
  try {
    const { body } = await api(path, { method: "POST" });
    if (action === "retry" && body && body.id) {
      location.hash = "#/jobs/" + body.id;
      return;
    }
    $("action-result").textContent = action === "cancel" ? "Cancel requested." : "Done.";
    if (body && body.id) renderJob(body);
  } catch (e) {
    $("action-result").textContent = (action === "cancel" ? "Cancel" : "Retry") + " failed: " +
      e.message + " (" + e.status + ", POST " + path + ")";
  }
}

// ---- routing and start ----
async function route() {
  if (!me) {
    try { me = (await api("/api/v1/whoami")).body; }
    catch (e) { if (e.status !== 401) $("login-error").textContent = e.message; signOut($("login-error").textContent); return; }
    $("logout").hidden = !sessionStorage.getItem(TOKEN_KEY);
  }
  if (!statsPoller) statsPoller = poll(refreshStats, STATS_MS);
  const m = location.hash.match(/^#\/jobs\/([0-9A-Za-z-]+)$/);
  if (m) openJob(m[1]);
  else if (location.hash === "#/overview") openOverview();
  else if (location.hash === "#/deliveries") openDeliveries();
  else openList();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    $("login-error").textContent = "";
    route();
  });
  $("logout").addEventListener("click", () => signOut("Token forgotten."));
  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); openList(); });
  for (const c of document.querySelectorAll("#filters input[name=state]")) c.addEventListener("change", openList);
  $("more").addEventListener("click", async () => {
    try { extraPages.push((await api($("more").dataset.next)).body); } catch (e) { return; }
    stop();
    pagePoll(pollList);
  });
  $("cancel").addEventListener("click", () => jobAction("cancel"));
  $("retry").addEventListener("click", () => jobAction("retry"));
  window.addEventListener("hashchange", route);
  route();
});
