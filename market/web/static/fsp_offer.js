// The FSP's offer form: a draft from its envelope -> signed (EIP-712; the wallet shows the
// session, point, direction, power and price) -> submitted (POST /offers) -> committed (the
// Merkle root of all its offers in the session, on-chain: the clearing takes committed offers).
import { el, getJSON } from "/static/common.js";
import { eurToUnits, whole } from "/static/money.js";
import { authHeaders, currentSigner } from "/static/signin.js";
import { commitOffers, postEnvelope, signEnvelope, typedData } from "/static/wallet.js";

const $ = (id) => document.getElementById(id);
const STEPS = ["draft", "signed", "submitted", "committed"];
const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();
let context = null; // { session, fsp, assets, requests } of the shown desk
let signed = null; // { envelope, body } waiting to be submitted

function step(reached) {
  $("off-steps").replaceChildren(...STEPS.map((s, i) => el("li",
    { class: i <= STEPS.indexOf(reached) ? "done" : undefined, "data-step": s }, s)));
}

const status = (text, kind = "") => { $("off-status").textContent = text; $("off-status").className = kind; };

/** The hardware envelope at a point: the sum of the FSP's registered assets' maximum power
 * (the fleet's own LP envelope, with SoC and departures, is the FSP gateway's). */
function envelopeW(point, direction) {
  return context.assets.filter((a) => a.congestion_point === point)
    .reduce((sum, a) => sum + (direction === "UP" ? a.max_import_w : a.max_export_w || a.max_import_w), 0);
}

function showEnvelope() {
  const w = envelopeW($("off-cp").value, $("off-direction").value);
  $("off-envelope").textContent = `Envelope: up to ${w} W per ISP at ${$("off-cp").value} ` +
    "(the sum of your registered assets' maximum power there).";
  $("off-power-w").value = String(w);
  $("off-power-w").max = String(w);
}

function draft() {
  const { session, fsp } = context;
  const first = whole($("off-first-isp"), "first ISP");
  const count = whole($("off-isp-count"), "number of ISPs", 1);
  const powerW = whole($("off-power-w"), "power per ISP (W)", 1);
  const isps = (session.delivery_end - session.delivery_start) / session.isp_s;
  if (first + count > isps) throw new Error(`ISPs: the session has ISPs 0..${isps - 1}`);
  const ceiling = envelopeW($("off-cp").value, $("off-direction").value);
  if (powerW > ceiling) throw new Error(`power per ISP (W): above your envelope of ${ceiling} W`);
  const pct = whole($("off-min-activation"), "minimum activation (%)", 1);
  if (pct > 100) throw new Error("minimum activation (%): at most 100");
  return {
    offer_id: crypto.randomUUID(),
    session_id: session.id,
    fsp,
    request_id: $("off-request").value || null,
    congestion_point: $("off-cp").value,
    direction: $("off-direction").value,
    baseline_ref: null,
    expires_at: session.gate_closure,
    options: [{
      option_ref: "page",
      isps: Array.from({ length: count }, (_, i) => ({ isp_index: first + i, power_w: powerW })),
      price_per_mwh: eurToUnits($("off-price").value, "price (EUR/MWh)"),
      min_activation_ppm: pct * 10000,
      rebound: [],
    }],
  };
}

/** Show the form for this desk (session, FSP, its assets, the session's requests). */
export function offerDesk(session, fsp, assets, requests) {
  context = { session, fsp, assets, requests };
  const points = [...new Set(assets.map((a) => a.congestion_point))].sort();
  const keep = $("off-cp").value;
  $("off-cp").replaceChildren(...points.map((p) => el("option", { value: p }, p)));
  if (points.includes(keep)) $("off-cp").value = keep;
  const wanted = $("off-request").value; // a redraw keeps what the user chose
  $("off-request").replaceChildren(el("option", { value: "" }, "(no particular request)"),
    ...requests.map(({ body }) => el("option", { value: body.request_id },
      `${body.request_id} (${body.congestion_point}, ${body.direction})`)));
  if (requests.some(({ body }) => body.request_id === wanted)) $("off-request").value = wanted;
  const open = ["PENDING", "OPEN"].includes(session.state);
  $("offer-form").hidden = !open || !points.length;
  $("off-closed").textContent = !open ? `The session is ${session.state}: its gate is closed.`
    : points.length ? "" : "Register an asset first: the envelope comes from your assets.";
  if (points.length && !signed) showEnvelope();
}

async function submit() {
  const signer = currentSigner();
  const { envelope, body } = signed;
  await postEnvelope("/offers", envelope);
  step("submitted");
  status("Committing your offers of this session on-chain…");
  const mine = await getJSON(`/sessions/${body.session_id}/offers?fsp=${body.fsp}`,
    { headers: authHeaders({ Accept: "application/json" }) });
  const tx = await commitOffers(signer, body.session_id, mine.map((o) => o.body));
  step("committed");
  status(`Offer ${body.offer_id} submitted; ${mine.length} offer(s) committed (transaction ${tx}).`, "ok");
  $("offer-form").dataset.offerId = body.offer_id;
  signed = null;
  $("off-submit").disabled = true;
}

/** Wire the form; ``refresh()`` redraws the desk after a submission. */
export function wireOfferForm(refresh) {
  step("draft");
  for (const id of ["off-cp", "off-direction"]) $(id).addEventListener("change", showEnvelope);
  $("off-request").addEventListener("change", () => {
    const chosen = context.requests.find(({ body }) => body.request_id === $("off-request").value);
    if (!chosen) return;
    $("off-cp").value = chosen.body.congestion_point;
    $("off-direction").value = chosen.body.direction;
    showEnvelope();
  });
  $("offer-form").addEventListener("input", () => {
    if (signed) { signed = null; $("off-submit").disabled = true; step("draft"); $("off-summary").textContent = ""; }
  });
  $("offer-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const signer = currentSigner();
    if (!signer) { status("Sign in first (the FSP's account signs its offers).", "bad"); return; }
    try {
      if (!same(await signer.getAddress(), context.fsp)) {
        throw new Error(`signed in as ${await signer.getAddress()}, not this desk's FSP ${context.fsp}`);
      }
      const body = draft();
      status("Sign the offer in your wallet…");
      const typed = await typedData(signer, "offer", body);
      $("off-summary").textContent = typed.message.summary;
      signed = { envelope: await signEnvelope(signer, typed, body), body };
      step("signed");
      $("off-submit").disabled = false;
      status("Signed. Check the summary, then submit.", "ok");
    } catch (error) {
      status(`Not signed: ${error.shortMessage || error.message}`, "bad");
    }
  });
  $("off-submit").addEventListener("click", () => submit().then(refresh).catch((error) =>
    status(`Not submitted: ${error.shortMessage || error.message}`, "bad")));
}
