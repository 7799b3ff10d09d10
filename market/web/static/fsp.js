// The FSP and fleet desk: one FSP's assets, offers (and a form to make one), orders, dispatch,
// delivery, payouts and credits; redrawn live from the event stream.
import { el, eur, fillSessions, getJSON, markSession, hash, pagedTable, say, short, table, utc } from "/static/common.js";
import { offerDesk, wireOfferForm } from "/static/fsp_offer.js";
import { follow, SESSION_EVENTS } from "/static/live.js";
import { authHeaders, currentSigner, signedIn, wireSignInForm } from "/static/signin.js";
import { nettedStatement } from "/static/statement.js";
import { contracts } from "/static/wallet.js";

const fspSelect = document.getElementById("fsp");
const sessionSelect = document.getElementById("session");
const energyWh = (isps, ispS) => isps.reduce((sum, i) => sum + Math.abs(i.power_w), 0) * ispS / 3600;
const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();
const BEFORE_CLOSURE = ["PENDING", "OPEN"];
const SETTLED = ["VERIFIED", "DISPUTED", "FINAL"];
const LIVE_EVENTS = [...SESSION_EVENTS, "station_status"];
const signedInAs = (fsp) => signedIn() && same(signedIn().address, fsp);

async function optional(path, init) {
  try { return await getJSON(path, init); } catch (error) {
    if (error.status === 404 || error.status === 401 || error.status === 503) return null;
    throw error;
  }
}

function assetsTable(assets) {
  return table("Assets", ["asset", "station", "EVSE", "congestion point", "max import", "max export",
    "meter key"],
  assets.map((a) => [el("code", {}, a.asset_id), a.station_id, a.evse_id, a.congestion_point,
    `${a.max_import_w} W`, `${a.max_export_w} W`, a.meter_public_key ? hash(a.meter_public_key) : "none"]),
  { id: "assets-table" });
}

/** Each of the FSP's stations with the OCPP status its gateway last reported to the market. */
function stationsTable(assets, statuses) {
  const byStation = Object.fromEntries(statuses.map((s) => [s.station_id, s]));
  const stations = [...new Set(assets.map((a) => a.station_id).filter(Boolean))].sort();
  return table("Stations (OCPP status as the FSP's gateway reports it)", ["station", "EVSEs",
    "OCPP", "last seen (UTC)", "last setpoint", "reported (UTC)"],
  stations.map((id) => {
    const s = byStation[id];
    const state = !s ? { text: "not reported", class: "muted" }
      : s.connected ? { text: "connected", class: "ok" } : { text: "disconnected", class: "bad" };
    return [id, assets.filter((a) => a.station_id === id).length, state,
      s ? utc(s.last_seen_unix) || "never" : "", s && s.setpoint_w !== null ? `${s.setpoint_w} W` : "none",
      s ? utc(s.reported_at) : ""];
  }), { id: "stations-table" });
}

function offersTable(offers, session) {
  if (offers === null) {
    return el("p", { id: "offers-private", class: "muted" },
      "Offers stay private until gate closure (sign in as this FSP to see your own).");
  }
  return pagedTable("offers", (from, to) => `Offers ${from}–${to} of ${offers.length}`,
    ["offer", "congestion point", "direction", "options", "max energy", "price / MWh"],
    offers, ({ body }) => {
      const prices = body.options.map((o) => o.price_per_mwh);
      const energy = Math.max(...body.options.map((o) => energyWh(o.isps, session.isp_s)));
      return [el("code", { title: body.offer_id }, short(body.offer_id, 8)), body.congestion_point,
        body.direction, body.options.length, `${Math.round(energy)} Wh`,
        `${eur(Math.min(...prices))} – ${eur(Math.max(...prices))}`];
    });
}

function ordersTable(orders, acks, dispatch, session) {
  const acked = new Set(acks.flatMap((a) => a.acknowledged));
  const states = {};
  for (const d of dispatch) (states[d.order_id] ||= []).push(`${d.station_id || "?"}: ${d.state}`);
  return table(`Orders (${orders.length})`, ["order", "congestion point", "direction", "energy",
    "price / MWh", "payment cap", "acknowledged for dispatch", "dispatch status"],
  orders.map((o) => [el("code", { title: o.order_id }, short(o.order_id, 8)), o.congestion_point,
    o.direction, `${Math.round(energyWh(o.isps, session.isp_s))} Wh`, eur(o.price_per_mwh),
    eur(o.payment_cap_units), acked.has(o.order_id) ? "yes" : "no",
    (states[o.order_id] || ["no status reported"]).join("; ")]),
  { id: "orders-table" });
}

function deliveryTables(bundle, fsp) {
  if (!bundle) return [el("p", { class: "muted" }, "No delivery bundle published yet.")];
  const mine = bundle.report.orders.filter((o) => same(o.fsp, fsp));
  if (!mine.length) return [el("p", { class: "muted" }, "No delivery for this FSP in this session.")];
  const sum = (o, key) => o.isps.reduce((s, i) => s + i[key], 0);
  return [
    table("Delivery per order", ["order", "direction", "baseline method", "ISPs", "ordered W (sum)",
      "delivered W (sum)", "credited W (sum)", "deficiency W (sum)"],
    mine.map((o) => [el("code", { title: o.order_id }, short(o.order_id, 8)), o.direction,
      o.baseline_method, o.isps.length, sum(o, "ordered_w"), sum(o, "delivered_w"),
      sum(o, "credited_w"), sum(o, "deficiency_w")]), { id: "delivery-table" }),
    ...mine.map((o) => table(`Per ISP: order ${o.order_id}`, ["ISP start (UTC)", "ordered W",
      "baseline W", "actual W", "delivered W", "status"],
    o.isps.map((i) => [utc(i.start_ts), i.ordered_w, i.baseline_w, i.actual_w, i.delivered_w,
      i.status]), { class: "delivery-isp-table", "data-order": o.order_id })),
  ];
}

function moneyTables(bundle, fsp) {
  if (!bundle) return [el("p", { class: "muted" }, "No delivery bundle published yet: its payout split shows here.")];
  const r = bundle.report;
  const payouts = r.payouts.filter((p) => same(p.fsp, fsp));
  const orders = r.orders.filter((o) => same(o.fsp, fsp));
  const total = payouts.reduce((s, p) => s + p.payout_units, 0);
  return [
    el("p", {}, "Total payout to this FSP: ",
      el("strong", { id: "payout-total", "data-units": total }, eur(total))),
    table("Payouts per request", ["request", "reserved", "payout"],
      payouts.map((p) => [el("code", {}, short(p.request_id, 8)), eur(p.reserved_units),
        eur(p.payout_units)]), { id: "payouts-table" }),
    table("Per order", ["order", "ordered value", "penalty", "uncovered penalty", "payout"],
      orders.map((o) => [el("code", {}, short(o.order_id, 8)), eur(o.ordered_value_units),
        eur(o.penalty_units), eur(o.uncovered_penalty_units), eur(o.payout_units)]),
      { id: "order-money-table" }),
    el("p", {}, "From the published delivery bundle, whose root ", hash(r.root),
      " is anchored on-chain (checked by the ",
      el("a", { href: `/auditor?session=${bundle.inputs.session_id}` }, "auditor"), ")."),
  ];
}

/** Payouts settled on-chain for this FSP (private: signed in as it) and its withdrawable credits. */
async function showSettled(session, fsp) {
  const box = document.getElementById("settled");
  const credits = document.getElementById("credits-box");
  credits.hidden = true;
  if (!signedInAs(fsp)) { box.replaceChildren(); return; }
  if (SETTLED.includes(session.state)) {
    const rows = await getJSON(`/sessions/${session.id}/settlements`,
      { headers: authHeaders({ Accept: "application/json" }) });
    const total = rows.reduce((sum, r) => sum + r.payout_units, 0);
    box.replaceChildren(el("p", {}, "Settled on-chain for you in this session: ",
      el("strong", { id: "settled-total", "data-units": total }, eur(total)),
      ` (${rows.length} settlement${rows.length === 1 ? "" : "s"}).`));
  } else {
    box.replaceChildren(el("p", { class: "muted" }, `Not settled yet (session ${session.state}).`));
  }
  const signer = currentSigner();
  if (signer && signer.provider) {
    const { market } = await contracts(signer);
    const units = await market.credits(fsp);
    document.getElementById("credits").replaceChildren("Credits withdrawable on-chain: ",
      el("strong", { id: "credits-units", "data-units": String(units) }, eur(units)));
    document.getElementById("withdraw").disabled = units === 0n;
    credits.hidden = false;
  }
}

async function show() {
  const fsp = fspSelect.value;
  const sessionId = sessionSelect.value;
  say("loading…");
  const session = await getJSON(`/sessions/${sessionId}`);
  // Ask only for what exists or may be read: each refused fetch is a console error.
  const gateOpen = BEFORE_CLOSURE.includes(session.state);
  const evidence = await optional(`/sessions/${sessionId}/evidence`);
  const published = !evidence || evidence.bundles.some((b) => b.kind === "delivery");
  const own = { headers: authHeaders({ Accept: "application/json" }) };
  const [assets, statuses, offers, orders, acks, dispatch, bundle, requests] = await Promise.all([
    getJSON(`/assets?owner=${encodeURIComponent(fsp)}`),
    getJSON(`/station-status?fsp=${encodeURIComponent(fsp)}`),
    gateOpen && !signedInAs(fsp) ? null
      : optional(`/sessions/${sessionId}/offers${gateOpen ? `?fsp=${fsp}` : ""}`, own),
    getJSON(`/sessions/${sessionId}/orders`),
    getJSON(`/sessions/${sessionId}/dispatch-acks`),
    getJSON(`/sessions/${sessionId}/dispatch`),
    published ? optional(`/sessions/${sessionId}/bundles/delivery`) : null,
    getJSON(`/sessions/${sessionId}/requests`),
  ]);
  const mine = orders.filter((o) => same(o.fsp, fsp));
  const ids = new Set(mine.map((o) => o.order_id));
  offerDesk(session, fsp, assets, requests);
  document.getElementById("assets").replaceChildren(stationsTable(assets, statuses), assetsTable(assets));
  document.getElementById("offers").replaceChildren(offersTable(
    offers && offers.filter(({ body }) => same(body.fsp, fsp)), session));
  document.getElementById("orders").replaceChildren(ordersTable(mine,
    acks.filter((a) => same(a.fsp, fsp)), dispatch.filter((d) => ids.has(d.order_id)), session));
  document.getElementById("delivery").replaceChildren(...deliveryTables(bundle, fsp));
  document.getElementById("money").replaceChildren(...moneyTables(bundle, fsp));
  await showSettled(session, fsp);
  await showStatement(sessionId);
  const main = document.querySelector("main");
  main.dataset.shown = `${fsp} ${sessionId}`; // for tests and scripts
  main.dataset.state = session.state;
  markSession(sessionSelect, session);
  say(`session ${session.state}`, "ok");
}

// The signed-in participant's own settlement statement (private: SIWE token required).
async function showStatement(sessionId) {
  const box = document.getElementById("statement");
  if (!signedIn()) { box.replaceChildren(); return; }
  box.replaceChildren(await nettedStatement(sessionId, ["csv", "json", "xml"], "(UFTP FlexSettlement)"));
}

async function main() {
  const participants = await getJSON("/participants");
  const fsps = participants.filter((p) => p.roles.some((r) => r.toLowerCase() === "fsp"));
  fspSelect.replaceChildren(...fsps.map((p) =>
    el("option", { value: p.address.toLowerCase() }, `${p.name || "unnamed"} (${p.address})`)));
  const wanted = new URLSearchParams(location.search).get("fsp");
  if (wanted && fsps.some((p) => same(p.address, wanted))) fspSelect.value = wanted.toLowerCase();
  const sessions = await fillSessions(sessionSelect);
  const redraw = () => show().catch((e) => say(e.message, "bad"));
  wireSignInForm(redraw);
  if (!fsps.length) { say("no FSP registered yet"); return; }
  if (!sessions.length) { say("no sessions yet"); return; }
  wireOfferForm(redraw);
  document.getElementById("withdraw").addEventListener("click", async () => {
    try {
      const { market } = await contracts(currentSigner());
      const receipt = await (await market.withdraw()).wait();
      say(`Withdrawn (transaction ${receipt.hash}).`, "ok");
      await show();
    } catch (error) { say(`Not withdrawn: ${error.shortMessage || error.message}`, "bad"); }
  });
  document.getElementById("pick-form").addEventListener("submit", (event) => {
    event.preventDefault();
    history.replaceState(null, "", `?fsp=${fspSelect.value}&session=${sessionSelect.value}`);
    follow(sessionSelect.value, redraw, { kinds: LIVE_EVENTS });
    redraw();
  });
  follow(sessionSelect.value, redraw, { kinds: LIVE_EVENTS });
  await show();
}

main().catch((error) => say(`could not load: ${error.message}`, "bad"));
