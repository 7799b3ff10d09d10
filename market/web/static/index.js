// The index: the market's state at a glance from the public read endpoints.
import { el, getJSON, say, table, utc } from "/static/common.js";

async function main() {
  const [sessions, participants, points, assets] = await Promise.all([
    getJSON("/sessions"), getJSON("/participants"), getJSON("/congestion-points"),
    getJSON("/assets"),
  ]);
  const byState = {};
  for (const s of sessions) byState[s.state] = (byState[s.state] || 0) + 1;
  const card = (label, value, id) =>
    el("div", { class: "card", id }, el("div", { class: "value" }, value), el("div", {}, label));
  document.getElementById("cards").replaceChildren(
    card("sessions", sessions.length, "count-sessions"),
    ...Object.entries(byState).sort().map(([state, n]) =>
      card(`sessions ${state}`, n, `count-state-${state}`)),
    card("participants", participants.length, "count-participants"),
    card("congestion points", points.length, "count-congestion-points"),
    card("assets (EVSEs)", assets.length, "count-assets"),
  );
  sessions.sort((a, b) => b.gate_closure - a.gate_closure);
  const link = (href, text) => el("a", { href }, text);
  document.getElementById("sessions").replaceChildren(table(
    "Sessions",
    ["session", "state", "gate closure (UTC)", "delivery (UTC)", "ISP", "open as"],
    sessions.map((s) => [
      el("code", {}, s.id), s.state, utc(s.gate_closure),
      `${utc(s.delivery_start)} → ${utc(s.delivery_end)}`, `${s.isp_s} s`,
      el("span", {}, link(`/dso?session=${s.id}`, "DSO"), " · ",
        link(`/fsp?session=${s.id}`, "FSP"), " · ",
        link(`/auditor?session=${s.id}`, "auditor")),
    ]),
    { id: "sessions-table" },
  ));
  say(`${sessions.length} session(s)`, "ok");
}

main().catch((error) => say(`could not load the market's state: ${error.message}`, "bad"));
