// The signed-in DSO's statements on /dso: the clearing house's netted statement of the session,
// and the DSO statement read from the chain (GET /dso-statements/{period}) per session and per
// month, as CSV or UFTP FlexSettlement XML. Every download is fetched with the page's SIWE
// token and saved from a blob: nothing leaves the service's host.
import { el } from "/static/common.js";
import { signedIn } from "/static/signin.js";
import { downloadButton, nettedStatement } from "/static/statement.js";

/** The session's delivery month (UTC), the period of its month statement. */
const monthOf = (unixSeconds) => new Date(unixSeconds * 1000).toISOString().slice(0, 7);

/** CSV and UFTP XML buttons of one period (a session id or a month). */
function periodButtons(kind, period) {
  const path = `/dso-statements/${period}`;
  return [
    downloadButton(`dso-statement-${kind}-csv`, "CSV", `${path}?format=csv`, `dso-statement-${period}.csv`),
    " ",
    downloadButton(`dso-statement-${kind}-xml`, "UFTP XML", `${path}?format=xml`, `dso-statement-${period}.xml`),
  ];
}

/** Downloads of the DSO statements of the session and of its month; only for a DSO that posted
 * a request in it (anyone else is refused, and a refused fetch is a console error). */
function dsoDownloads(session, requests, address) {
  const mine = requests.some((r) => String(r.submitter).toLowerCase() === address.toLowerCase());
  if (!mine) {
    return el("p", { id: "dso-statement-none", class: "muted" },
      "No DSO statement: you posted no request in this session.");
  }
  const month = monthOf(session.delivery_start);
  return el("div", { id: "dso-statement" },
    el("p", {}, "Your DSO statement (escrowed, paid to FSPs, refunded, penalties; each line with ",
      "its on-chain transaction). This session: ", ...periodButtons("session", session.id)),
    el("p", {}, `Month ${month} (UTC, by delivery start): `, ...periodButtons("month", month)));
}

/** Redraw the signed-in party's statements of ``session`` (its ``requests`` name their DSOs). */
export async function showStatements(session, requests) {
  const box = document.getElementById("statement");
  const who = signedIn();
  if (!who || !session) { box.replaceChildren(); return; }
  box.replaceChildren(await nettedStatement(session.id, ["csv", "json"],
    "(its UFTP FlexSettlement XML is addressed to FSPs)"), dsoDownloads(session, requests, who.address));
}
