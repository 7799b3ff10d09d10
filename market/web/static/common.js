// Shared helpers of the flexmarket pages: reading the API, building DOM, formatting units.

/** GET a same-origin JSON resource; throws an Error carrying the problem's detail. */
export async function getJSON(path, init) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, ...init });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) {
    const why = body && (body.detail || body.title) ? body.detail || body.title : text;
    const error = new Error(`${response.status}: ${why}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

/** An element with attributes and children (strings become text nodes, never HTML). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A table; a cell may be a Node, a string/number, or {text, class} (class "num" right-aligns). */
export function table(caption, headers, rows, attrs = {}) {
  const cell = (c) => {
    if (c instanceof Node) return el("td", {}, c);
    if (c && typeof c === "object") return el("td", { class: c.class }, c.text);
    return el("td", { class: typeof c === "number" ? "num" : undefined }, c);
  };
  return el(
    "table", attrs,
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.length
      ? rows.map((r) => el("tr", {}, r.map(cell)))
      : el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, "none"))),
  );
}

/** Token minor units (6 decimals) as exact EUR text (at least 2 decimals, never rounded). */
export function eur(units) {
  const n = BigInt(units);
  const sign = n < 0n ? "-" : "";
  const abs = n < 0n ? -n : n;
  const fraction = String(abs % 1000000n).padStart(6, "0").replace(/0{1,4}$/, "");
  return `${sign}${abs / 1000000n}.${fraction.padEnd(2, "0")} EUR`;
}

export function utc(unixSeconds) {
  if (!unixSeconds) return "";
  return new Date(unixSeconds * 1000).toISOString().replace(".000Z", "Z").replace("T", " ");
}

export function short(hex, keep = 10) {
  const s = String(hex || "");
  return s.length > 2 * keep + 2 ? `${s.slice(0, keep + 2)}…${s.slice(-keep)}` : s;
}

export function hash(value) {
  return el("code", { class: "hash", title: value }, value || "—");
}

/** Say something in the page's status line (an aria-live region). */
export function say(message, kind = "") {
  const node = document.getElementById("status");
  if (node) { node.textContent = message; node.className = kind; }
}

/** Fill a <select> with the market's sessions (newest gate closure first); returns them. */
export async function fillSessions(select) {
  const sessions = await getJSON("/sessions");
  sessions.sort((a, b) => b.gate_closure - a.gate_closure);
  select.replaceChildren(...sessions.map((s) =>
    el("option", { value: s.id }, `${s.id} (${s.state}, gate ${utc(s.gate_closure)})`)));
  const wanted = new URLSearchParams(location.search).get("session");
  if (wanted && sessions.some((s) => s.id === wanted)) select.value = wanted;
  return sessions;
}
