// The DSO dashboard: requests and escrow (and a form to create one), offers, orders, delivery,
// money; redrawn live from the event stream.
import { el, eur, fillSessions, getJSON, markSession, hash, say, short, table, utc } from "/static/common.js";
import { showDrafts } from "/static/dso_drafts.js";
import { gridView } from "/static/dso_grid.js";
import { wireRequestForm } from "/static/dso_request.js";
import { follow } from "/static/live.js";
import { showStatements } from "/static/dso_statements.js";
import { wireSignInForm } from "/static/signin.js";

const PAGE_SIZE = 25;
const BEFORE_CLOSURE = ["PENDING", "OPEN"];
let names = {};
const who = (address) => names[String(address).toLowerCase()] || short(address, 6);
const energyWh = (isps, ispS) => isps.reduce((sum, i) => sum + Math.abs(i.power_w), 0) * ispS / 3600;

async function optional(path) {
  try { return await getJSON(path); } catch (error) {
    if (error.status === 404 || error.status === 401 || error.status === 503) return null;
    throw error;
  }
}

function summary(session, evidence) {
  return table("Session", ["what", "value"], [
    ["session", el("code", {}, session.id)],
    ["state (store / chain)", `${session.state} / ${evidence ? evidence.chain_state : "chain not reachable"}`],
    ["gate closure (UTC)", utc(session.gate_closure)],
    ["delivery (UTC)", `${utc(session.delivery_start)} → ${utc(session.delivery_end)}`],
    ["ISP", `${session.isp_s} s`],
    ["challenge window", `${session.challenge_window_s} s`],
  ], { id: "summary-table" });
}

function requests(rows, evidence) {
  const escrow = Object.fromEntries((evidence ? evidence.requests : []).map((r) => [r.request_id, r]));
  return table("Requests", ["request", "DSO", "congestion point", "direction", "ISPs", "max power",
    "max price / MWh", "budget", "escrow on-chain"],
  rows.map(({ body, submitter }) => {
    const e = escrow[body.request_id];
    const status = !e ? { text: "unknown (chain not read)", class: "muted" }
      : e.cancelled ? { text: `cancelled`, class: "bad" }
      : !e.hash_matches ? { text: "on-chain hash differs", class: "bad" }
      : { text: `escrowed ${eur(e.budget_units)}`, class: "ok" };
    return [el("code", {}, body.request_id), who(submitter), body.congestion_point, body.direction,
      body.isps.length, `${Math.max(...body.isps.map((i) => i.max_power_w))} W`,
      eur(body.max_price_per_mwh), eur(body.budget_units), status];
  }), { id: "requests-table" });
}

function offersTable(offers, session, page) {
  const box = el("div", { id: "offers-box" });
  const pages = Math.max(1, Math.ceil(offers.length / PAGE_SIZE));
  const render = (p) => {
    const slice = offers.slice(p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
    const rows = slice.map(({ body }) => {
      const prices = body.options.map((o) => o.price_per_mwh);
      const energy = Math.max(...body.options.map((o) => energyWh(o.isps, session.isp_s)));
      return [el("code", {}, short(body.offer_id, 8)), who(body.fsp), body.congestion_point,
        body.direction, body.options.length, `${Math.round(energy)} Wh`,
        `${eur(Math.min(...prices))} – ${eur(Math.max(...prices))}`];
    });
    const prev = el("button", { type: "button", id: "offers-prev", disabled: p === 0,
      onclick: () => render(p - 1) }, "Previous");
    const next = el("button", { type: "button", id: "offers-next", disabled: p >= pages - 1,
      onclick: () => render(p + 1) }, "Next");
    box.replaceChildren(
      table(`Offers ${p * PAGE_SIZE + 1}–${p * PAGE_SIZE + slice.length} of ${offers.length}`,
        ["offer", "FSP", "congestion point", "direction", "options", "max energy", "price / MWh"],
        rows, { id: "offers-table" }),
      el("div", { class: "pager" }, prev, `page ${p + 1} of ${pages}`, next),
    );
  };
  render(page);
  return box;
}

function orders(rows, dispatch, session) {
  const states = {};
  for (const d of dispatch) (states[d.order_id] ||= []).push(`${d.station_id || "?"}: ${d.state}`);
  return table("Orders", ["order", "FSP", "congestion point", "direction", "energy", "price / MWh",
    "payment cap", "dispatch"],
  rows.map((o) => [el("code", {}, short(o.order_id, 8)), who(o.fsp), o.congestion_point, o.direction,
    `${Math.round(energyWh(o.isps, session.isp_s))} Wh`, eur(o.price_per_mwh),
    eur(o.payment_cap_units), (states[o.order_id] || ["no status reported"]).join("; ")]),
  { id: "orders-table" });
}

function chart(order) {
  const box = el("div", { class: "chart", role: "img",
    "aria-label": `ordered, baseline and actual power of order ${order.order_id} per ISP` });
  if (typeof uPlot !== "function") return box;
  const x = order.isps.map((i) => i.start_ts);
  const data = [x, order.isps.map((i) => i.ordered_w), order.isps.map((i) => i.baseline_w),
    order.isps.map((i) => i.actual_w), order.isps.map((i) => i.delivered_w)];
  const opts = { width: 900, height: 260, axes: [{}, { size: 70 }],
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"), series: [{},
    { label: "ordered W", stroke: "#0b5cad" }, { label: "baseline W", stroke: "#888" },
    { label: "actual W", stroke: "#a4111b" }, { label: "delivered W", stroke: "#0a6b2d" }] };
  requestAnimationFrame(() => new uPlot(opts, data, box));
  return box;
}

function delivery(bundle) {
  if (!bundle) return [el("p", { class: "muted" }, "No delivery bundle published yet.")];
  return bundle.report.orders.flatMap((o) => [
    el("h3", {}, `Order ${short(o.order_id, 8)} (${who(o.fsp)}, ${o.direction}, baseline ${o.baseline_method})`),
    chart(o),
    table(`Per ISP: order ${o.order_id}`, ["ISP start (UTC)", "ordered W", "baseline W", "actual W",
      "delivered W", "credited W", "deficiency W", "status"],
    o.isps.map((i) => [utc(i.start_ts), i.ordered_w, i.baseline_w, i.actual_w, i.delivered_w,
      i.credited_w, i.deficiency_w, i.status]), { class: "delivery-table", "data-order": o.order_id }),
  ]);
}

function money(bundle) {
  if (!bundle) return [el("p", { class: "muted" }, "No delivery bundle published yet: its payout split shows here.")];
  const r = bundle.report;
  const budget = r.refunds.reduce((s, x) => s + x.budget_units, 0);
  const paid = r.payouts.reduce((s, x) => s + x.payout_units, 0);
  const refunded = r.refunds.reduce((s, x) => s + x.refund_units, 0);
  const penalties = r.orders.reduce((s, o) => s + o.penalty_units, 0);
  return [
    table("Budget split", ["budget escrowed", "paid to FSPs", "refunded to DSOs", "penalties"],
      [[eur(budget), eur(paid), eur(refunded), eur(penalties)]], { id: "money-split" }),
    table("Payouts", ["request", "FSP", "reserved", "payout"],
      r.payouts.map((p) => [el("code", {}, short(p.request_id, 8)), who(p.fsp), eur(p.reserved_units),
        eur(p.payout_units)]), { id: "payouts-table" }),
    table("Refunds", ["request", "budget", "payouts", "refund"],
      r.refunds.map((x) => [el("code", {}, short(x.request_id, 8)), eur(x.budget_units),
        eur(x.payouts_units), eur(x.refund_units)]), { id: "refunds-table" }),
    table("Per order", ["order", "ordered value", "penalty", "uncovered penalty", "payout"],
      r.orders.map((o) => [el("code", {}, short(o.order_id, 8)), eur(o.ordered_value_units),
        eur(o.penalty_units), eur(o.uncovered_penalty_units), eur(o.payout_units)]),
      { id: "order-money-table" }),
    el("p", {}, "Delivery root ", hash(r.root), " (checked on-chain by the ",
      el("a", { href: `/auditor?session=${bundle.inputs.session_id}` }, "auditor"), ")."),
  ];
}

function disputes(d, evidence) {
  const disputed = evidence ? evidence.events.filter((e) => e.event === "SessionDisputed") : [];
  const rows = d.evidence.map((e) => [who(e.submitter), utc(e.received_at),
    (e.body.readings || []).length, e.body.reason || ""]);
  return [
    table("Disputes", ["raised by", "received (UTC)", "readings", "reason"], rows, { id: "disputes-table" }),
    el("p", { id: "dispute-state" }, d.resolution
      ? ["Resolved by the arbiter: corrected root ", hash(d.resolution.corrected_root),
        " in transaction ", hash(d.resolution.tx_hash || "")]
      : disputed.length ? "Disputed on-chain, not resolved yet." : "No dispute was raised."),
  ];
}

let shown = null; // the session on screen (the request form creates requests in it)
let shownRequests = []; // its requests (the statements are their DSOs')

async function show(sessionId) {
  say("loading…");
  const session = await getJSON(`/sessions/${sessionId}`);
  shown = session;
  // Ask only for what exists: no offers before gate closure (private), no delivery bundle
  // before the evidence lists it (each refused fetch is an error in the browser's console).
  const gateOpen = BEFORE_CLOSURE.includes(session.state);
  const evidence = await optional(`/sessions/${sessionId}/evidence`);
  const published = !evidence || evidence.bundles.some((b) => b.kind === "delivery");
  const [reqs, offers, ords, dispatch, bundle] = await Promise.all([
    getJSON(`/sessions/${sessionId}/requests`),
    gateOpen ? null : optional(`/sessions/${sessionId}/offers`),
    getJSON(`/sessions/${sessionId}/orders`),
    getJSON(`/sessions/${sessionId}/dispatch`),
    published ? optional(`/sessions/${sessionId}/bundles/delivery`) : null,
  ]);
  const disputed = await getJSON(`/sessions/${sessionId}/disputes`);
  document.getElementById("grid").replaceChildren(...await gridView(session, reqs, ords, bundle));
  document.getElementById("summary").replaceChildren(summary(session, evidence));
  document.getElementById("requests").replaceChildren(requests(reqs, evidence));
  document.getElementById("offers").replaceChildren(offers === null
    ? el("p", { class: "muted" }, "Offers stay private to their FSPs until gate closure.")
    : offersTable(offers, session, 0));
  document.getElementById("orders").replaceChildren(orders(ords, dispatch, session));
  document.getElementById("delivery").replaceChildren(...delivery(bundle));
  document.getElementById("money").replaceChildren(...money(bundle), ...disputes(disputed, evidence));
  shownRequests = reqs;
  await showStatements(session, reqs);
  await showDrafts(sessionId, () => show(sessionId));
  document.querySelector("main").dataset.state = session.state; // for tests and scripts
  markSession(document.getElementById("session"), session);
  say(`session ${session.state}`, "ok");
}

function showLive(sessionId) {
  follow(sessionId, () => show(sessionId).catch((e) => say(e.message, "bad")));
  return show(sessionId);
}

async function main() {
  const participants = await getJSON("/participants");
  names = Object.fromEntries(participants.map((p) => [p.address.toLowerCase(), p.name || p.address]));
  const select = document.getElementById("session");
  const sessions = await fillSessions(select);
  wireSignInForm(() => Promise.all([showStatements(shown, shownRequests),
    showDrafts(select.value, () => show(select.value))]));
  if (!sessions.length) { say("no sessions yet"); return; }
  await wireRequestForm(() => shown, () => show(shown.id));
  document.getElementById("session-form").addEventListener("submit", (event) => {
    event.preventDefault();
    history.replaceState(null, "", `?session=${select.value}`);
    showLive(select.value).catch((e) => say(e.message, "bad"));
  });
  await showLive(select.value);
}

main().catch((error) => say(`could not load: ${error.message}`, "bad"));
