// The DSO's request form: draft -> signed (EIP-712, the wallet shows budget and maximum price)
// -> escrowed on-chain (approve + postRequest, binding the body hash) -> submitted (POST).
import { el, getJSON, say } from "/static/common.js";
import { eurToUnits, whole } from "/static/money.js";
import { currentSigner } from "/static/signin.js";
import { escrowRequest, postEnvelope, signEnvelope, typedData } from "/static/wallet.js";

const $ = (id) => document.getElementById(id);
const STEPS = ["draft", "signed", "escrowed", "submitted"];

function step(reached) {
  $("req-steps").replaceChildren(...STEPS.map((s, i) => el("li",
    { class: i <= STEPS.indexOf(reached) ? "done" : undefined, "data-step": s }, s)));
}

/** The FlexRequest body the form describes, complete (its hash is what the chain holds). */
function draft(session) {
  const first = whole($("req-first-isp"), "first ISP");
  const count = whole($("req-isp-count"), "number of ISPs", 1);
  const minW = whole($("req-min-w"), "minimum power (W)");
  const maxW = whole($("req-max-w"), "maximum power (W)", 1);
  const isps = (session.delivery_end - session.delivery_start) / session.isp_s;
  if (first + count > isps) throw new Error(`ISPs: the session has ISPs 0..${isps - 1}`);
  if (minW > maxW) throw new Error("minimum power (W): above the maximum");
  return {
    request_id: crypto.randomUUID(),
    session_id: session.id,
    congestion_point: $("req-cp").value,
    direction: $("req-direction").value,
    revision: 0,
    expires_at: session.gate_closure,
    max_price_per_mwh: eurToUnits($("req-max-price").value, "maximum price (EUR/MWh)"),
    budget_units: eurToUnits($("req-budget").value, "budget (EUR)"),
    all_or_nothing: $("req-aon").checked,
    isps: Array.from({ length: count }, (_, i) => ({
      isp_index: first + i, disposition: "Requested", min_power_w: minW, max_power_w: maxW })),
  };
}

/** Sign (EIP-712; the wallet shows the summary), escrow on-chain and POST one complete request
 * body; ``progress(step, text)`` follows the steps, ``shown(summary)`` gets what the wallet
 * signs. The create form and an approved gateway draft (dso_drafts.js) both come here. */
export async function submitRequest(signer, body, progress, shown = () => {}) {
  progress(null, "Sign the request in your wallet…");
  const typed = await typedData(signer, "request", body);
  shown(typed.message.summary);
  const envelope = await signEnvelope(signer, typed, body);
  progress("signed", "Escrowing the budget on-chain (approve + postRequest)…");
  const tx = await escrowRequest(signer, body);
  progress("escrowed", "Submitting the signed request…");
  await postEnvelope("/requests", envelope);
  progress("submitted", null);
  return tx;
}

/** Fill the congestion points and wire the form; ``sessionOf()`` is the shown session,
 * ``refresh()`` redraws the dashboard after the request is in. */
export async function wireRequestForm(sessionOf, refresh) {
  const points = await getJSON("/congestion-points");
  $("req-cp").replaceChildren(...points.map((p) =>
    el("option", { value: p.code }, p.name ? `${p.code} (${p.name})` : p.code)));
  step("draft");
  const status = (text, kind = "") => { $("req-status").textContent = text; $("req-status").className = kind; };
  $("request-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const signer = currentSigner();
    if (!signer) { status("Sign in first (a DSO account signs the request).", "bad"); return; }
    try {
      const session = sessionOf();
      const body = draft(session);
      step("draft");
      const tx = await submitRequest(signer, body, (reached, text) => {
        if (reached) step(reached);
        if (text) status(text);
      }, (summary) => { $("req-summary").textContent = summary; });
      status(`Request ${body.request_id} escrowed (transaction ${tx}) and submitted.`, "ok");
      $("request-form").dataset.requestId = body.request_id;
      await refresh();
    } catch (error) {
      status(`Not submitted: ${error.shortMessage || error.message}`, "bad");
      say(error.shortMessage || error.message, "bad");
    }
  });
}
