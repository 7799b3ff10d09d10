// Live updates: the page follows GET /events (server-sent events) for the shown session and
// redraws when its state, orders or dispatch acknowledgements change. Starts "live" (no replay
// of the past: the page has just read it) and resumes by Last-Event-ID after a dropped link.

let source = null;
let timer = null;

/** Follow ``sessionId``; ``redraw(event)`` runs at most every ``quietMs`` after a burst. */
export function follow(sessionId, redraw, quietMs = 300) {
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
  for (const kind of ["session_state", "order", "dispatch_ack"]) source.addEventListener(kind, on);
}
