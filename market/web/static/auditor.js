// The auditor's page: a session's on-chain evidence, its bundles, and the audit's checks.
import { el, fillSessions, getJSON, hash, say, table, utc } from "/static/common.js";

const sessionSelect = document.getElementById("session");

// An event's arguments beside its transaction (lists of structs are counted, not listed).
function anchored(args) {
  return el("div", {}, Object.entries(args).map(([key, value]) => {
    if (Array.isArray(value)) {
      const scalars = value.every((v) => typeof v !== "object");
      return el("div", {}, `${key}: `, scalars ? value.join(", ") : `${value.length} entries`);
    }
    return el("div", {}, `${key}: `, typeof value === "string" && value.startsWith("0x")
      ? hash(value) : String(value));
  }));
}

async function showEvidence(sessionId) {
  const box = document.getElementById("evidence");
  box.replaceChildren(el("p", { class: "muted" }, "reading the chain…"));
  const ev = await getJSON(`/sessions/${sessionId}/evidence`);
  const input = ev.bundles.find((b) => b.kind === "input");
  box.replaceChildren(
    table("Session on-chain", ["what", "value"], [
      ["session (UUID)", el("code", {}, ev.session_id)],
      ["on-chain id (keccak256 of the UUID bytes)", hash(ev.onchain_id)],
      ["chain id", String(ev.chain_id)],
      ["market contract", hash(ev.market_address)],
      ["state on-chain", ev.chain_state],
      ["input hash", hash(ev.input_hash)],
      ["result root (orders Merkle root)", hash(ev.result_root)],
      ["delivery root", hash(ev.delivery_root)],
    ], { id: "roots-table" }),
    table("Transactions that anchored them", ["event", "block", "block time (UTC)", "transaction", "anchored"],
      ev.events.map((e) => [e.event, e.block, utc(e.block_time), hash(e.tx_hash), anchored(e.args)]),
      { id: "events-table" }),
    table("Published bundles", ["bundle", "keccak256", "download", "against the chain"],
      ev.bundles.map((b) => [
        b.kind, hash(b.keccak),
        el("a", { href: b.url, download: `${ev.session_id}-${b.kind}.json` }, `${b.kind}.json`),
        b.kind === "input"
          ? (b.keccak === ev.input_hash
            ? { text: "equals the on-chain input hash", class: "pass" }
            : { text: "differs from the on-chain input hash", class: "fail" })
          : { text: "its Merkle root is checked by the audit", class: "muted" },
      ]), { id: "bundles-table" }),
  );
  if (!input) box.append(el("p", { class: "muted" }, "no input bundle published yet"));
}

function renderCheck(check) {
  const items = [
    ...check.findings.map((f) => el("li", { class: "fail" }, `${f.code}${f.subject ? ` (${f.subject})` : ""}: ${f.message}`)),
    ...check.errors.map((f) => el("li", { class: "error" }, `could not run: ${f.code}: ${f.message}`)),
    ...check.notes.map((n) => el("li", { class: "muted" }, n)),
  ];
  return el("div", { class: "check", "data-check": check.name, "data-status": check.status },
    el("h3", {}, `${check.name}: `, el("span", { class: check.status }, check.status)),
    items.length ? el("ul", {}, items) : el("p", { class: "muted" }, "no findings"));
}

function renderAudit(result) {
  const box = document.getElementById("audit");
  const verdict = result.result === "pass" ? "PASS" : result.result === "fail" ? "FAIL" : "COULD NOT CHECK";
  box.replaceChildren(
    el("p", {},
      el("strong", { id: "audit-verdict", class: result.result, "data-result": result.result }, verdict),
      ` (${result.message})`,
      result.replaced ? el("span", { id: "audit-replaced" }, ` with ${result.replaced}.json replaced by the uploaded file`) : null),
    el("p", { class: "muted" }, `chain ${result.rpc}, market ${result.market}, session state ${result.state}`),
    ...result.checks.map(renderCheck),
    el("h3", {}, "Market-wide"),
    ...result.market_checks.map(renderCheck),
  );
}

async function runAudit(event) {
  event.preventDefault();
  const sessionId = sessionSelect.value;
  say("auditing… (reads the chain, recomputes clearing and delivery)");
  document.getElementById("audit").setAttribute("aria-busy", "true");
  try {
    renderAudit(await getJSON(`/sessions/${sessionId}/audit`));
    say("audit finished", "ok");
  } catch (error) {
    say(`the audit could not run: ${error.message}`, "bad");
  } finally {
    document.getElementById("audit").removeAttribute("aria-busy");
  }
}

async function runTampered(event) {
  event.preventDefault();
  const file = document.getElementById("tamper-file").files[0];
  if (!file) { say("choose a file first", "bad"); return; }
  const kind = document.getElementById("tamper-kind").value;
  say(`auditing with ${file.name} as ${kind}.json…`);
  try {
    const body = await file.arrayBuffer();
    renderAudit(await getJSON(`/sessions/${sessionSelect.value}/audit/${kind}`, {
      method: "POST", body, headers: { "Content-Type": "application/json", Accept: "application/json" },
    }));
    say("audit finished", "ok");
  } catch (error) {
    say(`the audit could not run: ${error.message}`, "bad");
  }
}

async function main() {
  const sessions = await fillSessions(sessionSelect);
  if (!sessions.length) { say("no sessions yet"); return; }
  document.getElementById("session-form").addEventListener("submit", runAudit);
  document.getElementById("tamper-form").addEventListener("submit", runTampered);
  sessionSelect.addEventListener("change", () => {
    document.getElementById("audit").replaceChildren();
    showEvidence(sessionSelect.value).catch((e) => say(e.message, "bad"));
  });
  await showEvidence(sessionSelect.value);
  say("evidence read from the chain", "ok");
}

main().catch((error) => say(`could not load: ${error.message}`, "bad"));
