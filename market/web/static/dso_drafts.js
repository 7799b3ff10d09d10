// Requests the DSO gateway drafted (dso.yaml requests.approval: manual), for the signed-in DSO
// to approve or reject. Approve signs the decision (EIP-712), then this page escrows and posts the
// drafted request from the same wallet, exactly as the create form does: the gateway never
// escrows in manual mode, so the key that moves the budget stays with the person deciding.
import { el, eur, getJSON, say, short, table } from "/static/common.js";
import { submitRequest } from "/static/dso_request.js";
import { authHeaders, currentSigner, signedIn } from "/static/signin.js";
import { postEnvelope, signEnvelope, typedData } from "/static/wallet.js";

const $ = (id) => document.getElementById(id);
const status = (text, kind = "") => { $("draft-status").textContent = text; $("draft-status").className = kind; };

function forecastText(forecast) {
  return forecast.map((f) => `ISP ${f.isp_index}: ${(f.max_loading_ppm / 10_000).toFixed(1)} % `
    + `(needs ${Math.abs(f.need_w)} W)`).join("; ") || "—";
}

async function decide(draft, decision) {
  const signer = currentSigner();
  const body = { draft_id: draft.draft_id, decision, note: "" };
  status(`Sign the ${decision} in your wallet…`);
  const typed = await typedData(signer, "request_draft_decision", body);
  await postEnvelope(`/request-drafts/${draft.draft_id}/${decision}`,
    await signEnvelope(signer, typed, body));
}

async function escrowAndPost(draft) {
  const tx = await submitRequest(currentSigner(), draft.request, (_, text) => { if (text) status(text); });
  status(`Draft ${draft.draft_id} approved; request escrowed (transaction ${tx}) and submitted.`, "ok");
}

function actions(draft, refresh) {
  const run = (label, work) => async () => {
    for (const b of document.querySelectorAll("#drafts button")) b.disabled = true;
    try { await work(); } catch (error) {
      status(`${label} failed: ${error.shortMessage || error.message}`, "bad");
      say(error.shortMessage || error.message, "bad");
    }
    await refresh();
  };
  if (draft.status === "pending") {
    return el("span", {},
      el("button", { type: "button", class: "draft-approve", "data-draft": draft.draft_id,
        onclick: run("Approve", async () => { await decide(draft, "approve"); await escrowAndPost(draft); }) },
      "Approve, escrow and submit"), " ",
      el("button", { type: "button", class: "draft-reject", "data-draft": draft.draft_id,
        onclick: run("Reject", async () => { await decide(draft, "reject"); status(`Draft ${draft.draft_id} rejected.`, "ok"); }) },
      "Reject"));
  }
  if (draft.status === "approved") { // approved, but its escrow or POST did not go through
    return el("button", { type: "button", class: "draft-escrow", "data-draft": draft.draft_id,
      onclick: run("Escrow", () => escrowAndPost(draft)) }, "Escrow and submit");
  }
  return "";
}

/** Redraw the drafts of ``sessionId`` for the signed-in DSO (nothing when signed out; any
 * other signed-in party reads an empty list). */
export async function showDrafts(sessionId, refresh) {
  const box = $("drafts");
  if (!signedIn() || !sessionId) {
    box.replaceChildren(el("p", { class: "muted" }, "Sign in as a DSO to see your gateway's drafts."));
    return;
  }
  let drafts;
  try {
    drafts = await getJSON(`/request-drafts?session_id=${encodeURIComponent(sessionId)}`,
      { headers: authHeaders({ Accept: "application/json" }) });
  } catch (error) {
    box.replaceChildren(el("p", { class: "muted" }, `No drafts for you: ${error.message}`));
    return;
  }
  if (!drafts.length) {
    box.replaceChildren(el("p", { id: "drafts-none", class: "muted" }, "No drafts in this session."));
    return;
  }
  box.replaceChildren(table("Drafts for your approval", ["draft", "congestion point", "direction",
    "ISPs", "max power", "max price / MWh", "budget", "reason", "forecast", "status", "decide"],
  drafts.map((d) => {
    const r = d.request;
    return [el("code", {}, short(d.draft_id, 8)), r.congestion_point, r.direction, r.isps.length,
      `${Math.max(...r.isps.map((i) => i.max_power_w))} W`, eur(r.max_price_per_mwh),
      eur(r.budget_units), d.reason, forecastText(d.forecast),
      { text: d.status, class: d.status === "rejected" || d.status === "expired" ? "muted" : "ok" },
      actions(d, refresh)];
  }), { id: "drafts-table" }));
}
