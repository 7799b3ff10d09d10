// Live updates: the page follows GET /events (server-sent events) for the shown session and
// redraws when its state, orders or dispatch acknowledgements change (and, where asked, when an
// FSP's gateway reports its stations' OCPP status: a market-wide event). Starts "live" (no replay
// of the past: the page has just read it) and resumes by Last-Event-ID after a dropped link.

let source = null;
let timer = null;

export const SESSION_EVENTS = ["session_state", "order", "dispatch_ack"];

/** Follow ``sessionId``'s ``kinds`` of event; ``redraw(event)`` runs at most every ``quietMs``
 * after a burst. */
export function follow(sessionId, redraw, { kinds = SESSION_EVENTS, quietMs = 300 } = {}) {
  if (source) source.close();
  const note = document.getElementById("live");
  const said = (text, kind) => { if (note) { note.textContent = text; note.className = kind; } };
  source = new EventSource(`/events?live=true&session_id=${encodeURIComponent(sessionId)}`);
  source.onopen = () => said("Live: following the market's events.", "ok");
  source.onerror = () => said("Live updates interrupted; reconnecting…", "muted");
  const on = (event) => {
    const data = JSON.parse(event.data);
    said(`Live: ${event.type}${data.state ? ` ${data.state}` : ""} (event ${event.lastEventId}).`, "ok");
    clearTimeout(timer);
    timer = setTimeout(() => redraw(event.type, data), quietMs);
  };
  for (const kind of kinds) source.addEventListener(kind, on);
}
