"""HTML sections of ``report.html`` built from ``ReportExtras`` (see report_evidence).

Why a module of its own: report.py draws the plots and the summary tables of report.json; these
are the evidence tables a reader checks the run against (times, offers, orders, the chain's
transactions, the audit per check, delivery per station, off-chain money).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from typing import Any

from market.replay.report_evidence import ReportExtras, SessionExtras


def _cell(value: Any) -> str:
    css = " class='num'" if isinstance(value, int) and not isinstance(value, bool) else ""
    return f"<td{css}>{html.escape(str(value))}</td>"


def table(rows: Sequence[Sequence[Any]], header: Sequence[str], caption: str = "") -> str:
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    if not rows:
        body = f"<tr><td colspan='{len(header)}'>none</td></tr>"
    return f"<table>{cap}<tr>{head}</tr>{body}</table>"


def eur(units: int) -> str:
    """Exact token units as EUR text (6 decimals)."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def utc(unix_s: int) -> str:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _money_split(s: Mapping[str, Any]) -> str:
    refunds = s.get("refunds", [])
    budget = sum(int(r["budget_units"]) for r in refunds)
    paid = sum(int(p["payout_units"]) for p in s.get("payouts", []))
    refunded = sum(int(r["refund_units"]) for r in refunds)
    withdrawn = sum(int(v) for v in dict(s.get("withdrawn_units", {})).values())
    rows = [
        ("budget escrowed by the DSOs (on-chain)", eur(budget)),
        ("paid to FSPs for verified delivery (on-chain)", eur(paid)),
        ("refunded to the DSOs (on-chain)", eur(refunded)),
        ("withdrawn from the market contract afterwards (payouts, refunds)", eur(withdrawn)),
    ]
    return table(rows, ["money", "EUR"], "Budget / payout / refund split")


def _session(sid: str, s: Mapping[str, Any], x: SessionExtras) -> list[str]:
    parts = [f"<h3>Session {html.escape(sid)}: times and evidence</h3>"]
    parts.append(table([(w, utc(t), t) for w, t in x.times], ["time", "UTC", "unix s"], "Times"))
    parts.append(_money_split(s))
    for note in x.off_chain:
        parts.append(f"<p class='note off-chain'><strong>Settled off-chain:</strong> "
                     f"{html.escape(note)}</p>")  # fmt: skip
    roots = dict(s.get("roots", {}))
    rows = [(k, str(v)) for k, v in sorted(roots.items()) if isinstance(v, str)]
    offer_roots = sorted(dict(roots.get("offer_roots", {})).items())
    rows += [(f"offer root of {fsp}", r) for fsp, r in offer_roots]
    parts.append(table(rows, ["root", "value"], "Roots anchored on-chain"))
    parts.append(
        table(
            [
                (e["event"], e["block"], e["tx_hash"],
                 "; ".join(f"{k}={v}" for k, v in e["anchored"].items()))
                for e in x.events
            ],
            ["event", "block", "transaction hash", "anchored"],
            "Transactions",
        )
    )  # fmt: skip
    parts.append(
        table(
            [
                (o["offer_id"], o["fsp"], o["congestion_point"], o["direction"], o["options"],
                 o["max_power_w"], eur(o["min_price_per_mwh"]), eur(o["max_price_per_mwh"]))
                for o in x.offers
            ],
            ["offer", "FSP", "congestion point", "direction", "options", "max power W",
             "min EUR/MWh", "max EUR/MWh"],
            "Offers",
        )
    )  # fmt: skip
    parts.append(
        table(
            [
                (o["order_id"], o["fsp"], o["congestion_point"], o["direction"], o["energy_wh"],
                 eur(o["price_per_mwh"]), eur(o["payment_cap_units"]))
                for o in x.orders
            ],
            ["order", "FSP", "congestion point", "direction", "energy Wh", "EUR/MWh",
             "payment cap EUR"],
            "Orders",
        )
    )  # fmt: skip
    parts.append(
        table(
            [(r["station"], r["import_wh"], r["export_wh"], r["orders"]) for r in x.stations],
            ["station", "import Wh", "export Wh", "orders"],
            "Delivery per station (metered over the ordered ISPs)",
        )
    )
    return parts


def _audit(audit: Mapping[str, Any] | None) -> list[str]:
    if audit is None:
        return []
    parts = ["<h2>Audit per check</h2>", f"<p>{html.escape(str(audit.get('message', '')))}</p>"]
    for s in audit.get("sessions", []):
        rows = []
        for c in s.get("checks", []):
            evidence = [f"{f['code']} {f['subject']}: {f['message']}" for f in c["findings"]]
            evidence += [f"could not run: {e['message']}" for e in c["errors"]]
            evidence += list(c["notes"])
            rows.append((c["name"], c["status"], "; ".join(evidence) or "no findings"))
        caption = f"Session {s.get('session_id') or s.get('onchain_id')}: {s.get('result')}"
        parts.append(table(rows, ["check", "result", "evidence"], caption))
    return parts


def render_extras(report: Mapping[str, Any], extras: ReportExtras) -> list[str]:
    """The evidence sections, in reading order."""
    parts = ["<h2>On-chain addresses</h2>"]
    parts.append(
        table(
            [("chain id", str(extras.chain_id)), *extras.addresses],
            ["what", "address"],
        )
    )
    sessions = dict(report.get("sessions", {}))
    for sid, x in sorted(extras.sessions.items()):
        parts.extend(_session(sid, dict(sessions.get(sid, {})), x))
    parts.extend(_audit(extras.audit))
    return parts


def clearing_house_html(section: Mapping[str, Any] | None) -> list[str]:
    """The report's ``clearing_house`` table; a plain note when the money was not netted
    on-chain (the statements then record obligations that never moved)."""
    if not section:
        return []
    parts = ["<h2>Clearing house: statements and on-chain credit per party</h2>"]
    if not section.get("settled_on_chain"):
        parts.append(
            "<p class='note off-chain' id='clearing-house-off-chain'><strong>Settled "
            "off-chain:</strong> the clearing house's netting was not settled on-chain in this "
            "run, so what the statements credit EV users, CPOs, fleet operators and the "
            "platform never moved; only the market's payouts and refunds did.</p>"
        )
    rows = [
        (p["role"], p["address"], eur(int(p["statement_units"])),
         eur(int(p["withdrawable_units"])), eur(int(p.get("receivable_units", 0))),
         "yes" if p["statement_units"] == p["withdrawable_units"] + p.get("receivable_units", 0)
         else "no")
        for p in section.get("parties", [])
    ]  # fmt: skip
    header = [
        "role",
        "address",
        "statement EUR",
        "withdrawable on-chain EUR",
        "receivable on-chain EUR (+ owed to it, - by it)",
        "equal",
    ]
    parts.append(table(rows, header, "Per party"))
    return parts
