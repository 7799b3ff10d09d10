// The FSP's fleet desk: reads GET /desk/state with the operator token (kept in memory, sent
// only in the Authorization header) and draws it as sortable tables; Refresh reads it again
// (no timer: a redraw would undo the operator's sorting).

let token = null;
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const utc = (s) => (s ? new Date(s * 1000).toISOString().replace(".000Z", "Z").replace("T", " ") : "—");
const dash = (v) => (v === null || v === undefined ? "—" : v);

/** Sort by column ``index`` (numbers by value), toggling the direction; aria-sort follows. */
function sortBy(tableNode, index) {
  const cells = tableNode.tHead.rows[0].cells;
  const ascending = cells[index].getAttribute("aria-sort") !== "ascending";
  for (const c of cells) c.setAttribute("aria-sort", "none");
  cells[index].setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const key = (row) => {
    const raw = row.cells[index].textContent.trim();
    return /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  };
  const rows = [...tableNode.tBodies[0].rows].sort((a, b) => {
    const x = key(a); const y = key(b);
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return ascending ? order : -order;
  });
  tableNode.tBodies[0].append(...rows);
}

/** A table whose column headers are buttons (click or Enter sorts). */
function table(caption, headers, rows, attrs = {}) {
  const heads = headers.map((h, i) => el("th", { scope: "col", "aria-sort": "none" },
    el("button", { type: "button", class: "sort",
      onclick: (e) => sortBy(e.currentTarget.closest("table"), i) }, h)));
  const body = rows.length
    ? rows.map((r) => el("tr", {}, r.map((c) => el("td", { class: typeof c === "number" ? "num" : undefined }, c))))
    : [el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, "none"))];
  return el("table", attrs, el("caption", {}, caption), el("thead", {}, el("tr", {}, heads)),
    el("tbody", {}, body));
}

function stations(list) {
  const rows = list.flatMap((s) => s.evses.map((e) => [s.station_id,
    s.connected ? "connected" : "not connected", dash(s.protocol), utc(s.last_heartbeat_unix), e.evse_id, e.congestion_point,
    dash(e.status), dash(e.transaction_id), e.plugged ? "yes" : "no", utc(e.last_reading_unix),
    dash(e.power_w), dash(e.soc_pct)]));
  return table("Stations and EVSEs", ["station", "connection", "protocol", "last heartbeat (UTC)", "EVSE",
    "congestion point", "OCPP status", "transaction", "EV plugged", "last meter value (UTC)",
    "power W", "SoC %"], rows, { id: "stations-table" });
}

function fleet(list) {
  return table("EV users and their bookings", ["user", "station", "EVSE", "consent", "bid (consent and opt-in)",
    "departure (UTC)", "min SoC %", "min price / MWh"],
  list.map((b) => [b.user_id, b.station_id, b.evse_id, b.consent ? "given" : "not given",
    b.bid ? "yes" : "no", utc(b.departure_unix), b.min_soc_pct, b.min_price_per_mwh]),
  { id: "fleet-table" });
}

function envelope(next) {
  if (!next) return [el("p", { class: "muted", id: "envelope-none" }, "No upcoming session.")];
  const parts = [el("p", { id: "envelope-session" }, `Session ${next.session_id} (${next.state}), `,
    `delivery ${utc(next.delivery_start)} → ${utc(next.delivery_end)}, ${next.evs} EV(s) plugged in.`)];
  if (!next.envelopes.length) parts.push(el("p", { class: "muted" }, "No flexible EV plugged in."));
  for (const env of next.envelopes) {
    parts.push(table(`Envelope at ${env.congestion_point} (W)`, ["ISP", "start (UTC)", "UP W", "DOWN W"],
      env.isps.map((i) => [i.isp_index, utc(next.delivery_start + i.isp_index * next.isp_s), i.up_w, i.down_w]),
      { class: "envelope-table", "data-point": env.congestion_point }));
  }
  return parts;
}

function trading(sessions) {
  if (!sessions.length) return [el("p", { class: "muted" }, "No offers or orders yet.")];
  return sessions.flatMap((s) => [
    el("h3", {}, `Session ${s.session_id} (${s.state})`),
    el("p", {}, `Offers: ${dash(s.offers_status)}`, s.offers_root ? ` (root ${s.offers_root})` : ""),
    table("Offers", ["offer", "congestion point", "direction", "options"],
      s.offers.map((o) => [o.offer_id, o.congestion_point, o.direction, o.options]),
      { class: "offers-table", "data-session": s.session_id }),
    table("Orders and dispatch per station", ["order", "congestion point", "direction", "max power W",
      "verified", "acknowledged", "dispatch"],
    s.orders.map((o) => [o.order_id, o.congestion_point, o.direction, o.power_w,
      o.verified ? "yes" : `no: ${o.reason}`, o.acked ? "yes" : "no",
      Object.entries(o.dispatch).map(([st, state]) => `${st}: ${state}`).join("; ") || "not dispatched"]),
    { class: "orders-table", "data-session": s.session_id }),
  ]);
}

async function load() {
  const response = await fetch("/desk/state", {
    headers: { Accept: "application/json", Authorization: `Bearer ${token}` } });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(`${response.status}: ${(body && (body.detail || body.title)) || "refused"}`);
  $("stations").replaceChildren(stations(body.stations));
  $("fleet").replaceChildren(fleet(body.bookings));
  $("envelope").replaceChildren(...envelope(body.next_session));
  $("trading").replaceChildren(...trading(body.sessions));
  $("status").textContent = `FSP ${body.fsp}; as of ${utc(body.now)}.`;
  $("status").className = "";
}

const failed = (error) => { $("status").textContent = error.message; $("status").className = "error"; };

$("desk-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("desk-token").value.trim();
  $("desk-token").value = "";
  load().then(() => { $("desk-refresh").hidden = false; }).catch(failed);
});
$("desk-refresh").addEventListener("click", () => load().catch(failed));
