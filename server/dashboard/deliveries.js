// Slipway dashboard: the Deliveries page. What became of each webhook
// delivery, since Jenkins and Bamboo never show Slipway's answer. Uses the
// helpers of app.js (api, el, show, stop, pagePoll); loaded after it.
"use strict";

const OUTCOME_SYMBOLS = { created: "✓", shared: "⇆", ignored: "–", refused: "✗" };
let deliveriesPath = null;
let deliveryPages = [];

function outcomeBadge(outcome) {
  return el("span", { class: "badge outcome-" + outcome, "data-outcome": outcome, text: (OUTCOME_SYMBOLS[outcome] || "•") + " " + outcome });
}

function deliveryRow(d) {
  const jobCell = d.job_id ? el("a", { href: "#/jobs/" + d.job_id, text: d.job_id.slice(-12), title: d.job_id }) : "";
  const source = d.system + (d.job ? " " + d.job : "") + (d.build_number ? " #" + d.build_number : "");
  const tr = el("tr", { "data-delivery": String(d.id) },
    el("td", { "data-label": "Outcome" }, outcomeBadge(d.outcome), " ", el("span", { class: "hint", text: String(d.status) })),
    el("td", { "data-label": "Received", text: when(d.received_at) }),
    el("td", { "data-label": "From", class: "wrap", text: source }),
    el("td", { "data-label": "Commit", class: "mono", text: d.commit ? d.commit.slice(0, 12) : "" }),
    el("td", { "data-label": "Reason", class: "reason", text: d.reason || "" }),
    el("td", { "data-label": "Job" }, jobCell),
  );
  tr.title = d.endpoint + (d.delivery_id ? " · delivery " + d.delivery_id : "");
  return tr;
}

function currentDeliveriesPath() {
  const q = new URLSearchParams();
  for (const name of ["system", "outcome"]) {
    const v = $("deliveries-" + name).value;
    if (v) q.set(name, v);
  }
  q.set("limit", "50");
  return "/api/v1/deliveries?" + q.toString();
}

function renderDeliveries(pages) {
  const rows = [];
  let next = null;
  for (const p of pages) { for (const d of p.deliveries) rows.push(deliveryRow(d)); next = p.next; }
  $("deliveries-table").tBodies[0].replaceChildren(...rows);
  $("deliveries-empty").hidden = rows.length > 0;
  $("deliveries-more").hidden = !next;
  $("deliveries-more").dataset.next = next || "";
}

// pollDeliveries is the page's poll step: one request, answered 304 while
// nothing changed.
async function pollDeliveries() {
  try {
    const { body, changed } = await api(deliveriesPath);
    $("deliveries-error").textContent = "";
    if (changed || deliveryPages.length) renderDeliveries([body, ...deliveryPages]);
  } catch (e) {
    $("deliveries-error").textContent = e.status === 404 ? "This server keeps no deliveries log." : e.message;
    if (e.status === 400 || e.status === 404) return "stop";
    throw e;
  }
}

function openDeliveries() {
  stop();
  show("deliveries");
  deliveriesPath = currentDeliveriesPath();
  deliveryPages = [];
  etags.delete(deliveriesPath); // render at once, even when unchanged
  pagePoll(pollDeliveries);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const name of ["system", "outcome"]) $("deliveries-" + name).addEventListener("change", openDeliveries);
  $("deliveries-more").addEventListener("click", async () => {
    try { deliveryPages.push((await api($("deliveries-more").dataset.next)).body); } catch (e) { return; }
    renderDeliveries([etags.get(deliveriesPath)[1], ...deliveryPages]);
  });
});
