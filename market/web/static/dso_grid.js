// The DSO's grid view: the congestion points as a single-line view (feeder -> points, with their
// limits), and per point the forecast loading per ISP before and after the ordered flexibility
// (and after the delivered flexibility, once the delivery bundle has verified it).
//
// Why from these routes: everything here is public (congestion points, the FSPs' D-prognoses,
// the requests, the orders, the published delivery bundle); the page only adds them up per ISP.
import { el, getJSON, table, utc } from "/static/common.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const limits = (p) => (p.max_increase_w === null && p.max_decrease_w === null ? "no limits registered"
  : `limits +${p.max_increase_w ?? "none"} W / −${p.max_decrease_w ?? "none"} W`);
const labelOf = (p) => `${p.code}${p.name ? ` (${p.name})` : ""}: ${limits(p)}`;

/** The points in feeder order: depth-first from the roots (a point without a known parent
 * hangs off the feeder). Returns [{point, depth}]. */
export function feederOrder(points) {
  const known = new Set(points.map((p) => p.code));
  const children = {};
  for (const p of points) (children[known.has(p.parent_code) ? p.parent_code : ""] ||= []).push(p);
  const out = [];
  const walk = (code, depth) => {
    for (const p of children[code] || []) { out.push({ point: p, depth }); walk(p.code, depth + 1); }
  };
  walk("", 1);
  return out;
}

/** The single-line view: a busbar for the feeder, one box per point, a line to its parent. */
function singleLine(points) {
  const rows = feederOrder(points);
  const rowH = 46; const indent = 40;
  const boxW = (p) => Math.max(240, 7.5 * labelOf(p).length + 16); // ~7.5 px per 13 px glyph
  const width = Math.max(320, ...rows.map(({ point, depth }) => 8 + depth * indent + boxW(point) + 8));
  const height = 40 + rows.length * rowH;
  const drawing = svg("svg", { id: "grid-single-line", role: "img", width, height,
    viewBox: `0 0 ${width} ${height}`,
    "aria-label": `single-line view: feeder with ${rows.length} congestion points` });
  drawing.append(svg("title", {}, "Feeder and its congestion points with their limits"));
  drawing.append(svg("rect", { x: 8, y: 8, width: 150, height: 22, fill: "#333" }),
    svg("text", { x: 16, y: 24, fill: "#fff", "font-size": 13 }, "feeder (substation)"));
  const yOf = {};
  rows.forEach(({ point, depth }, i) => {
    const y = 40 + i * rowH; const x = 8 + depth * indent;
    yOf[point.code] = { x, y };
    const parent = yOf[point.parent_code] || { x: 8, y: 8 };
    const px = parent.x + 20; const py = parent.y + 22;
    drawing.append(
      svg("path", { d: `M${px} ${py} V${y + 16} H${x}`, stroke: "#555", fill: "none", "stroke-width": 2 }),
      svg("g", { class: "cp", "data-code": point.code },
        svg("rect", { x, y, width: boxW(point), height: 32, rx: 4, fill: "#eef4fb", stroke: "#0b5cad" }),
        svg("text", { x: x + 8, y: y + 20, "font-size": 13 }, labelOf(point))),
    );
  });
  return drawing;
}

/** Per ISP at one point: the D-prognoses' sum (forecast), the DSOs' requested maximum and the
 * ordered flexibility (signed: UP lowers the net power, as settlement counts it), and the
 * delivered flexibility once verified. */
export function loading(code, prognoses, requests, orders, bundle) {
  const perIsp = {};
  const at = (i) => (perIsp[i] ||= { forecast_w: 0, requested_w: 0, ordered_w: 0, delivered_w: 0, orders: 0, verified: false });
  for (const { body } of prognoses) {
    if (body.congestion_point !== code) continue;
    for (const i of body.isps) at(i.isp_index).forecast_w += i.power_w;
  }
  for (const { body } of requests) {
    if (body.congestion_point !== code) continue;
    const s = body.direction === "UP" ? -1 : 1;
    for (const i of body.isps) at(i.isp_index).requested_w += s * i.max_power_w;
  }
  const sign = {};
  for (const o of orders) {
    if (o.congestion_point !== code) continue;
    sign[o.order_id] = o.direction === "UP" ? -1 : 1;
    for (const i of o.isps) { at(i.isp_index).ordered_w += sign[o.order_id] * i.power_w; at(i.isp_index).orders += 1; }
  }
  for (const o of bundle ? bundle.report.orders : []) {
    if (!(o.order_id in sign)) continue;
    for (const i of o.isps) {
      if (i.status !== "verified") continue;
      const row = at(i.isp_index);
      row.delivered_w += sign[o.order_id] * i.delivered_w;
      row.verified = true;
    }
  }
  // Once the bundle is out, an ISP without orders delivered (exactly) nothing.
  if (bundle) for (const row of Object.values(perIsp)) if (!row.orders) row.verified = true;
  return Object.keys(perIsp).map(Number).sort((a, b) => a - b).map((i) => ({ isp_index: i, ...perIsp[i] }));
}

function chart(point, rows, session) {
  const box = el("div", { class: "chart", role: "img",
    "aria-label": `forecast loading of ${point.code} per ISP before and after flexibility` });
  if (typeof uPlot !== "function" || !rows.length) return box;
  const x = rows.map((r) => session.delivery_start + r.isp_index * session.isp_s);
  const series = [{}, { label: "forecast W", stroke: "#888" },
    { label: "after order W", stroke: "#0b5cad" }, { label: "after delivery W", stroke: "#0a6b2d" }];
  const data = [x, rows.map((r) => r.forecast_w), rows.map((r) => r.forecast_w + r.ordered_w),
    rows.map((r) => (r.verified ? r.forecast_w + r.delivered_w : null))];
  if (point.max_increase_w !== null) {
    series.push({ label: "limit W", stroke: "#a4111b", dash: [6, 4] });
    data.push(rows.map(() => point.max_increase_w));
  }
  const opts = { width: 900, height: 240, axes: [{}, { size: 70 }],
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"), series };
  requestAnimationFrame(() => new uPlot(opts, data, box));
  return box;
}

/** The grid section's content for a session (fetches the points and the prognoses). */
export async function gridView(session, requests, orders, bundle) {
  const [points, prognoses] = await Promise.all([
    getJSON("/congestion-points"), getJSON(`/sessions/${session.id}/prognoses`)]);
  if (!points.length) return [el("p", { class: "muted" }, "No congestion points registered.")];
  const parts = [singleLine(points)];
  for (const { point } of feederOrder(points)) {
    const rows = loading(point.code, prognoses, requests, orders, bundle);
    if (!rows.length) continue;
    parts.push(el("h3", {}, `${point.code}: loading per ISP (${limits(point)})`), chart(point, rows, session),
      table(`Forecast loading at ${point.code} per ISP (W; UP flexibility lowers the net power)`,
        ["ISP", "start (UTC)", "forecast W", "requested W (max)", "ordered W", "after order W", "delivered W", "after delivery W"],
        rows.map((r) => [r.isp_index, utc(session.delivery_start + r.isp_index * session.isp_s),
          r.forecast_w, r.requested_w, r.ordered_w, r.forecast_w + r.ordered_w,
          r.verified ? r.delivered_w : "not verified", r.verified ? r.forecast_w + r.delivered_w : "—"]),
        { class: "loading-table", "data-point": point.code }));
  }
  return parts;
}
