// The EV user's page: sign in with the FSP-issued token (kept in memory only, sent in the
// Authorization header), consent, campaign opt-ins and limits, revenue statements and, for a
// user without a wallet, the claim (its code shown once) and its redemption.

let user = null;
let token = null;
let prefs = null;

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text, never HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Same-origin JSON with the user's token; throws an Error with the problem's detail. */
async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const why = data && (data.detail || data.title) ? data.detail || data.title : text;
    throw new Error(`${response.status}: ${why}`);
  }
  return data;
}

/** Token minor units (6 decimals) as exact EUR text. */
function eur(units) {
  const n = BigInt(units);
  const sign = n < 0n ? "-" : "";
  const abs = n < 0n ? -n : n;
  const frac = (abs % 1000000n).toString().padStart(6, "0").replace(/0{1,4}$/, "");
  return `${sign}${abs / 1000000n}.${frac.padEnd(2, "0")} EUR`;
}

const when = (unix) => new Date(unix * 1000).toISOString().replace(".000Z", "Z").replace("T", " ");

function localInput(unix) {
  const d = new Date(unix * 1000);
  const pad = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function say(id, text, error = false) {
  $(id).textContent = text;
  $(id).classList.toggle("error", error);
}

function table(caption, headers, rows) {
  const cell = (c) => el("td", { class: typeof c === "number" ? "num" : undefined }, c ?? "n/a");
  return el("table", {}, el("caption", {}, caption),
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.length ? rows.map((r) => el("tr", {}, r.map(cell)))
      : el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, "none"))));
}

// ---- consent ----------------------------------------------------------------------------------

let consentText = null;

async function showConsentText() {
  consentText = await api("/consent-text");
  $("purpose").textContent = consentText.purpose;
  $("consent-text").replaceChildren(...consentText.purposes.map((p) => el("fieldset",
    { id: `purpose-${p.id}` }, el("legend", {}, p.title),
    table(`What is shared for this purpose (consent text ${consentText.version})`,
      ["With", "Which data", "Why"], p.shared.map((s) => [s.with, s.data, s.why])),
    el("p", { class: "muted" }, `Without this consent: ${p.without}`),
    el("label", { for: `consent-${p.id}`, class: "check" },
      el("input", { type: "checkbox", id: `consent-${p.id}`, name: "purpose", value: p.id }),
      "I consent to this purpose"))));
  $("withdraw-note").textContent = consentText.withdraw;
}

/** The user's decision per purpose; returns whether bidding consent is given. */
async function showConsent() {
  const c = await api(`/ev-users/${encodeURIComponent(user)}/consent`);
  const lines = consentText.purposes.map((p) => {
    const d = c.purposes[p.id];
    $(`consent-${p.id}`).checked = d.given;
    let state = "not given";
    if (d.given) state = `consent given at ${when(d.at)} (text ${d.version})`;
    else if (d.at) state = `consent withdrawn at ${when(d.at)}`;
    return el("li", { id: `consent-state-${p.id}` }, `${p.title}: ${state}.`);
  });
  const bidding = c.purposes.flexibility_bidding.given;
  const note = bidding ? null : el("p", {}, "Your EV is not offered to the market.");
  $("consent-state").replaceChildren(el("ul", {}, lines), ...(note ? [note] : []));
  $("consent-state").classList.remove("error");
  $("prefs-fields").disabled = !bidding;
  $("save-prefs").disabled = !bidding;
  return { given: bidding };
}

async function decide(event) {
  event.preventDefault();
  try {
    const text = await api("/consent-text");
    const purposes = {};
    for (const box of document.querySelectorAll("input[name=purpose]")) {
      purposes[box.value] = box.checked;
    }
    await api(`/ev-users/${encodeURIComponent(user)}/consent`,
      { method: "PUT", body: { purposes, version: text.version } });
    await refresh();
    $("save-consent").focus();
  } catch (error) {
    say("consent-state", String(error.message), true);
  }
}

// ---- preferences and campaigns ---------------------------------------------------------------

async function showPreferences(consent) {
  prefs = await api(`/ev-users/${encodeURIComponent(user)}/preferences`);
  $("departure").value = prefs.departure_unix ? localInput(prefs.departure_unix) : "";
  $("min-soc").value = String(prefs.min_soc_pct);
  $("min-price").value = (prefs.min_price_per_mwh / 1e6).toFixed(2);
  $("opt-in").checked = Boolean(prefs.opt_in);
  const campaigns = await api(`/ev-users/${encodeURIComponent(user)}/campaigns`);
  const box = el("fieldset", { id: "campaign-list" }, el("legend", {}, "Campaigns (market sessions)"));
  if (!campaigns.length) box.append(el("p", { class: "muted" }, "No campaign yet."));
  for (const c of campaigns) {
    const id = `campaign-${c.session_id}`;
    const input = el("input", { type: "checkbox", id, name: "campaign", value: c.session_id,
      checked: c.opted_in, disabled: !consent.given });
    box.append(el("label", { for: id, class: "check" }, input,
      `Delivery ${when(c.delivery_start)} to ${when(c.delivery_end)} (${c.state})`));
  }
  $("campaigns").replaceChildren(box);
}

async function savePreferences(event) {
  event.preventDefault();
  try {
    const campaigns = { ...(prefs.campaigns || {}) };
    for (const box of document.querySelectorAll("input[name=campaign]")) {
      campaigns[box.value] = box.checked;
    }
    const departure = $("departure").value;
    const price = $("min-price").value.trim();
    const [whole, frac = ""] = price.split(".");
    const body = {
      ...prefs,
      opt_in: $("opt-in").checked,
      campaigns,
      departure_unix: departure ? Math.floor(new Date(departure).getTime() / 1000) : null,
      min_soc_pct: Number.parseInt($("min-soc").value, 10),
      min_price_per_mwh: Number(whole || "0") * 1000000 + Number((frac + "000000").slice(0, 6)),
    };
    await api(`/ev-users/${encodeURIComponent(user)}/preferences`, { method: "PUT", body });
    say("prefs-state", "Preferences saved.");
    await showPreferences(await showConsent());
  } catch (error) {
    say("prefs-state", String(error.message), true);
  }
}

// ---- statements -------------------------------------------------------------------------------

/** A statement kept without consent to itemised statements: the totals only. */
function totals(s) {
  return el("article", { "aria-labelledby": `h-${s.session_id}` },
    el("h3", { id: `h-${s.session_id}` },
      `Session ${when(s.delivery_start)} to ${when(s.delivery_end)}`),
    el("p", { class: "earned" }, `You earned ${eur(s.share_units)}`),
    el("p", {}, `Why: your EVSE delivered ${s.delivered_wh} Wh of flexibility out of `,
      `${s.fleet_delivered_wh} Wh delivered by all the FSP's EVSEs; the FSP was paid `,
      `${eur(s.session_payout_units)} for the session. The itemised detail was not kept: `,
      "you had not consented to itemised revenue statements."),
    el("p", {}, el("strong", {}, "Share rule: "), s.rule),
    el("p", {}, "Payout transaction (the FSP's withdrawal): ",
      el("code", {}, s.payout_tx ?? "none (nothing to withdraw)")));
}

function statement(s) {
  if (s.itemised === false) return totals(s);
  const rows = s.isps.map((i) => [i.isp_index, when(i.start_ts), i.direction, i.ordered_w,
    i.baseline_w, i.actual_w, i.delivered_w, i.delivered_wh]);
  const orders = s.orders.map((o) => [o.order_id, o.direction, o.congestion_point,
    o.isps.map((i) => `ISP ${i.isp_index}: ${i.power_w} W`).join(", "),
    `${(o.price_per_mwh / 1e6).toFixed(2)} EUR/MWh`, o.payout_units === null ? "n/a" : eur(o.payout_units)]);
  return el("article", { "aria-labelledby": `h-${s.session_id}` },
    el("h3", { id: `h-${s.session_id}` },
      `Session ${when(s.delivery_start)} to ${when(s.delivery_end)}`),
    el("p", { class: "earned" }, `You earned ${eur(s.share_units)}`),
    el("p", {}, `Why: your EVSE (${s.station_id}/${s.evse_id} at ${s.congestion_point}) delivered `,
      `${s.delivered_wh} Wh of flexibility out of ${s.fleet_delivered_wh} Wh delivered by all the `,
      `FSP's EVSEs; the FSP was paid ${eur(s.session_payout_units)} for the session. `,
      `You charged ${s.energy_wh} Wh during delivery.`),
    table("Energy shifted per ISP (baseline rule: " + s.baseline_method + ")",
      ["ISP", "Start (UTC)", "Direction", "Ordered W", "Baseline W", "Metered W",
        "Delivered W", "Delivered Wh"], rows),
    table("Orders at your congestion point", ["Order", "Direction", "Congestion point",
      "Power", "Price", "Order payout"], orders),
    el("p", {}, el("strong", {}, "Share rule: "), s.rule),
    el("p", {}, "Delivery root (on-chain): ", el("code", {}, s.delivery_root ?? "n/a")),
    el("p", {}, "Payout transaction (the FSP's withdrawal): ",
      el("code", {}, s.payout_tx ?? "none (nothing to withdraw)")));
}

async function showStatements() {
  const list = await api(`/ev-users/${encodeURIComponent(user)}/statements`);
  $("statements").replaceChildren(...(list.length
    ? list.map(statement)
    : [el("p", { class: "muted" }, "No statement yet: one appears after a session is settled.")]));
}

// ---- claim (a user without a wallet) ---------------------------------------------------------

const claimPath = () => `/ev-users/${encodeURIComponent(user)}/claim`;

/** Where the share goes: the wallet in the preferences, else the user's claim (if issued). */
async function showClaim() {
  $("get-claim").hidden = true;
  $("redeem-form").hidden = true;
  if (prefs && prefs.wallet_address) {
    $("claim").replaceChildren(el("p", {}, "Your share is paid to your wallet ",
      el("code", {}, prefs.wallet_address), "."));
    return;
  }
  const view = await api(claimPath());
  if (view.address === null && !view.issuable) {
    $("claim").replaceChildren(el("p", {}, "You have no wallet on record, and this gateway ",
      "issues no claims now: your FSP has no valid revenue-share template signed by the CPO ",
      "and the platform. Your share goes to the address your revenue-sharing contract with ",
      "your FSP names."));
    return;
  }
  if (view.address === null) {
    $("claim").replaceChildren(el("p", {}, "You have no wallet: get a claim code. Your FSP ",
      "then signs your revenue-sharing contract on the terms the CPO and the platform agreed, ",
      "and your share is paid on-chain to the claim's address; redeem what it holds to a ",
      "wallet of yours whenever you like. The code is shown only once."));
    $("get-claim").hidden = false;
    return;
  }
  const held = view.withdrawable_units === null ? "n/a" : eur(view.withdrawable_units);
  $("claim").replaceChildren(
    el("p", {}, "Your claim address: ", el("code", { id: "claim-address" }, view.address)),
    el("p", {}, "It holds ", el("strong", { id: "claim-held" }, held), " you can redeem."),
    view.redeemed
      ? el("p", {}, `Redeemed ${eur(view.redeemed.withdrawn_units)} to `,
        el("code", {}, view.redeemed.to), " in transaction ",
        el("code", { id: "claim-tx" }, view.redeemed.tx))
      : null);
  $("redeem-form").hidden = false;
}

async function getClaim() {
  try {
    const issued = await api(claimPath(), { method: "POST" });
    await showClaim();
    $("claim").prepend(el("p", { class: "earned", role: "alert" }, "Your claim code: ",
      el("code", { id: "claim-new-code" }, issued.code)),
    el("p", {}, "Write it down now: it is shown only this once, and whoever has it can ",
      "redeem your share."));
  } catch (error) {
    say("claim-state", String(error.message), true);
  }
}

async function redeemClaim(event) {
  event.preventDefault();
  try {
    const body = { code: $("claim-code").value.trim(), to: $("claim-to").value.trim() };
    const done = await api(`${claimPath()}/redeem`, { method: "POST", body });
    $("claim-code").value = "";
    say("claim-state", `Redeemed ${eur(done.withdrawn_units)}: transaction ${done.tx}.`);
    await showClaim();
  } catch (error) {
    say("claim-state", String(error.message), true);
  }
}

// ---- sign-in ---------------------------------------------------------------------------------

async function refresh() {
  const consent = await showConsent();
  await showPreferences(consent);
  await showStatements();
  await showClaim();
}

async function signIn(event) {
  event.preventDefault();
  user = $("user-id").value.trim();
  token = $("token").value.trim();
  try {
    await showConsentText();
    await refresh();
    $("token").value = "";
    $("signed-in").hidden = false;
    $("sign-out").hidden = false;
    say("status", `Signed in as ${user}.`);
  } catch (error) {
    user = null;
    token = null;
    $("signed-in").hidden = true;
    say("status", `Sign-in failed: ${error.message}`, true);
  }
}

function signOut() {
  user = null;
  token = null;
  prefs = null;
  $("claim").replaceChildren();  // a code shown once leaves with the user
  say("claim-state", "");
  $("signed-in").hidden = true;
  $("sign-out").hidden = true;
  say("status", "Signed out.");
}

$("signin-form").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", signOut);
$("consent-form").addEventListener("submit", decide);
$("prefs-form").addEventListener("submit", savePreferences);
$("get-claim").addEventListener("click", getClaim);
$("redeem-form").addEventListener("submit", redeemClaim);
