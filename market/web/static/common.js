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

/** A table; a cell may be a Node, a string/number, or {text, class, sort} (class "num"
 * right-aligns; sort is the value to order by). Each header is a button that sorts by it. */
export function table(caption, headers, rows, attrs = {}) {
  const cell = (c) => {
    if (c instanceof Node) return el("td", {}, c);
    if (c && typeof c === "object") {
      return el("td", { class: c.class, "data-sort": c.sort }, c.text);
    }
    return el("td", { class: typeof c === "number" ? "num" : undefined,
      "data-sort": typeof c === "number" ? c : undefined }, c);
  };
  const body = el("tbody", {}, rows.length
    ? rows.map((r) => el("tr", {}, r.map(cell)))
    : el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, "none")));
  const heads = headers.map((h, i) => el("th", { scope: "col", "aria-sort": "none" },
    rows.length > 1 ? el("button", { type: "button", class: "sort",
      onclick: (event) => sortBy(event.currentTarget.closest("table"), i) }, h) : h));
  return el("table", attrs, el("caption", {}, caption),
    el("thead", {}, el("tr", {}, heads)), body);
}

/** Sort a table's rows by column ``index`` (numbers by value), toggling the direction. */
function sortBy(tableNode, index) {
  const th = tableNode.tHead.rows[0].cells[index];
  const ascending = th.getAttribute("aria-sort") !== "ascending";
  for (const other of tableNode.tHead.rows[0].cells) other.setAttribute("aria-sort", "none");
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const key = (row) => {
    const c = row.cells[index];
    const raw = c.dataset.sort ?? c.textContent.trim();
    const leading = /^-?\d+(\.\d+)?(?= |$)/.exec(raw); // "87625 Wh", "3.5048 EUR", "12"
    return leading ? Number(leading[0]) : raw;
  };
  const rows = [...tableNode.tBodies[0].rows];
  rows.sort((a, b) => {
    const x = key(a); const y = key(b);
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return ascending ? order : -order;
  });
  tableNode.tBodies[0].append(...rows);
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

const sessionLabel = (s) => `${s.id} (${s.state}, gate ${utc(s.gate_closure)})`;

/** Keep a session's option in step with its state (the pages redraw live). */
export function markSession(select, session) {
  const option = [...select.options].find((o) => o.value === session.id);
  if (option) option.textContent = sessionLabel(session);
}

/** Fill a <select> with the market's sessions (newest gate closure first); returns them. */
export async function fillSessions(select) {
  const sessions = await getJSON("/sessions");
  sessions.sort((a, b) => b.gate_closure - a.gate_closure);
  select.replaceChildren(...sessions.map((s) =>
    el("option", { value: s.id }, sessionLabel(s))));
  const wanted = new URLSearchParams(location.search).get("session");
  if (wanted && sessions.some((s) => s.id === wanted)) select.value = wanted;
  return sessions;
}

/** A table of ``items`` shown ``pageSize`` rows at a time (only that page is in the DOM, so a
 * session with thousands of offers renders at once), with Previous / Next buttons.
 * ``id`` names the table (``${id}-table``) and the buttons; ``caption(from, to)`` its caption. */
export function pagedTable(id, caption, headers, items, toRow, pageSize = 50) {
  const box = el("div", { id: `${id}-box` });
  const pages = Math.max(1, Math.ceil(items.length / pageSize));
  const render = (p) => {
    const slice = items.slice(p * pageSize, (p + 1) * pageSize);
    const from = slice.length ? p * pageSize + 1 : 0;
    const parts = [table(caption(from, p * pageSize + slice.length), headers, slice.map(toRow),
      { id: `${id}-table`, "data-page": p + 1 })];
    if (pages > 1) {
      parts.push(el("div", { class: "pager" },
        el("button", { type: "button", id: `${id}-prev`, disabled: p === 0, onclick: () => render(p - 1) }, "Previous"),
        `page ${p + 1} of ${pages}`,
        el("button", { type: "button", id: `${id}-next`, disabled: p >= pages - 1, onclick: () => render(p + 1) }, "Next")));
    }
    box.replaceChildren(...parts);
  };
  render(0);
  return box;
}
