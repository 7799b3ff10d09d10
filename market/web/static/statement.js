// The signed-in participant's netted settlement statement of a session (private: the page's
// SIWE token), as a table and downloads; shared by /dso and /fsp.
import { el, getJSON, say, table } from "/static/common.js";
import { authHeaders, download, signedIn } from "/static/signin.js";

/** A button that downloads ``path`` (with the token) as ``filename``; errors go to the status. */
export function downloadButton(id, label, path, filename) {
  return el("button", { type: "button", id,
    onclick: () => download(path, filename).catch((e) => say(e.message, "bad")) }, label);
}

/** The statement of ``sessionId`` with a download per format (``csv``, ``json``, ``xml``);
 * asked for only once the session is netted with a statement of the signed-in address (each
 * refused fetch is a console error). */
export async function nettedStatement(sessionId, formats, note = "") {
  const address = signedIn().address;
  const [netted, mine] = await Promise.all([getJSON("/statements"),
    getJSON(`/statements?participant=${encodeURIComponent(address)}`)]);
  if (!netted.includes(sessionId)) {
    return el("p", { id: "statement-none", class: "muted" },
      "No statement yet: statements follow the netting of the session's money.");
  }
  if (!mine.includes(sessionId)) {
    return el("p", { id: "statement-none", class: "muted" },
      `No statement for you in this session: ${address} took no part in its netting.`);
  }
  const base = `/statements/${sessionId}`;
  try {
    const st = await getJSON(base, { headers: authHeaders({ Accept: "application/json" }) });
    const lines = Object.entries(st).filter(([, v]) => typeof v !== "object");
    const buttons = formats.flatMap((f) => [downloadButton(`statement-${f}`, f.toUpperCase(),
      `${base}?format=${f}`, `statement-${sessionId}.${f}`), " "]);
    return el("div", {},
      table("Your statement for this session", ["field", "value"], lines, { id: "statement-table" }),
      el("p", {}, "Download: ", ...buttons, note));
  } catch (error) {
    return el("p", { id: "statement-none", class: "muted" },
      `No statement for you in this session: ${error.message}`);
  }
}
