"""Replay outputs: the machine-readable ``report.json`` and a self-contained ``report.html``.

``report.json`` is canonical JSON (sorted keys, integers only), so the same scenario and seed
give the same bytes; wall-clock measurements live under the ``timing`` key only and are
written to ``timing.json`` beside it, which keeps the rest byte-identical across runs.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt

from clearing.encoding import canonical_json
from market.replay.report_evidence import ReportExtras
from market.replay.report_sections import clearing_house_html, render_extras

# What the report's "after" is: the settled relief, not a second measurement of the wire.
AFTER_MEANS = (
    "Before: the DSO's power flows of each ISP with the EV load the FSPs prognosed. After: the "
    "same power flows with the flexibility verified as delivered added at each congestion "
    "point, i.e. measured against the market's baseline, as it was paid. A baseline that "
    "counts less than the dispatch moved (meter_before after an hour of charging, say) shows "
    "less relief here than happened on the wire."
)


@dataclass
class LoadingSeries:
    """Loading of one congestion point per ISP, in per-mille of its rating (integers); "after"
    as :data:`AFTER_MEANS` says."""

    point: str
    limit_permille: int
    before_permille: list[int]
    after_permille: list[int]


@dataclass
class PowerSeries:
    """Requested, awarded and delivered flexibility per ISP of one session and direction (W)."""

    session: str
    direction: str
    requested_w: list[int]
    awarded_w: list[int]
    delivered_w: list[int]


@dataclass
class SocSeries:
    """State of charge of one EV over time, with its departure target."""

    ev: str
    times_s: list[int]
    soc_pct: list[int]
    departure_s: int
    target_pct: int


@dataclass
class ReplayPlots:
    """Everything the HTML report draws; filled by the replay runner."""

    isp_s: int = 900
    loading: list[LoadingSeries] = field(default_factory=list)
    power: list[PowerSeries] = field(default_factory=list)
    soc: list[SocSeries] = field(default_factory=list)
    money_flows: list[tuple[str, str, int]] = field(default_factory=list)


def write_report_json(report_dir: Path, report: Mapping[str, Any]) -> Path:
    """Write ``report.json`` canonically; ``timing`` is split off into ``timing.json``."""
    body = {k: v for k, v in report.items() if k != "timing"}
    body["timing"] = "see timing.json (wall-clock, not deterministic)"
    path = report_dir / "report.json"
    path.write_bytes(canonical_json(body) + b"\n")
    timing = report.get("timing", {})
    (report_dir / "timing.json").write_text(json.dumps(timing, indent=2, sort_keys=True) + "\n")
    return path


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _hours(n: int, isp_s: int) -> list[float]:
    return [i * isp_s / 3600 for i in range(n)]


def plot_loading(series: LoadingSeries, isp_s: int) -> str:
    fig, ax = plt.subplots(figsize=(8, 3))
    x = _hours(len(series.before_permille), isp_s)
    ax.plot(x, [v / 10 for v in series.before_permille], label="before flexibility", color="C3")
    ax.plot(x, [v / 10 for v in series.after_permille], label="after flexibility", color="C2")
    ax.axhline(series.limit_permille / 10, color="k", linestyle="--", label="limit")
    ax.set_xlabel("hour of day (UTC)")
    ax.set_ylabel("loading %")
    ax.set_title(f"Congestion point {series.point}")
    ax.legend(loc="upper right", fontsize="small")
    return _png(fig)


def plot_power(series: PowerSeries, isp_s: int) -> str:
    fig, ax = plt.subplots(figsize=(8, 3))
    x = _hours(len(series.requested_w), isp_s)
    width = isp_s / 3600
    ax.step(x, [v / 1000 for v in series.requested_w], where="post", label="requested", lw=2)
    ax.bar(
        x,
        [v / 1000 for v in series.awarded_w],
        width=width,
        align="edge",
        alpha=0.4,
        label="awarded",
    )
    ax.step(x, [v / 1000 for v in series.delivered_w], where="post", label="delivered", color="C2")
    ax.set_xlabel("hour of day (UTC)")
    ax.set_ylabel("kW")
    ax.set_title(f"Session {series.session}: {series.direction} flexibility")
    ax.legend(loc="upper right", fontsize="small")
    return _png(fig)


def plot_soc(series: Sequence[SocSeries]) -> str:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for i, s in enumerate(series):
        color = f"C{i % 10}"
        ax.plot([t / 3600 for t in s.times_s], s.soc_pct, color=color, label=s.ev)
        ax.scatter([s.departure_s / 3600], [s.target_pct], color=color, marker="v")
    ax.set_xlabel("hour of day (UTC)")
    ax.set_ylabel("SoC %")
    ax.set_ylim(0, 100)
    ax.set_title("EV state of charge (▼ = departure target)")
    if series:
        ax.legend(loc="lower right", fontsize="x-small", ncol=2)
    return _png(fig)


def plot_money(flows: Sequence[tuple[str, str, int]]) -> str:
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.4 * len(flows) + 1)))
    labels = [f"{src} → {dst}" for src, dst, _ in flows]
    ax.barh(labels, [amount / 1_000_000 for _, _, amount in flows], color="C0")
    ax.set_xlabel("EUR (settlement token)")
    ax.set_title("Money flows between parties")
    ax.invert_yaxis()
    return _png(fig)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}
img{display:block;max-width:100%;margin:1em 0;border:1px solid #eee}
.finding{color:#a00}.ok{color:#070}caption{text-align:left;font-weight:bold}
.note{background:#fff6d6;border-left:4px solid #d9a300;padding:.5em .8em}
"""

# Reports whether every plot decoded; lets a reader (and the browser test) see a broken image.
_IMAGE_CHECK = """
window.addEventListener('load',function(){var imgs=document.querySelectorAll('img.plot');
var ok=0;imgs.forEach(function(i){var good=i.complete&&i.naturalWidth>0&&i.naturalHeight>0;
i.setAttribute('data-rendered',good?'yes':'no');if(good){ok++;}});
var s=document.getElementById('plot-status');s.textContent=ok+' of '+imgs.length+
' plots rendered';s.setAttribute('data-ok',ok);s.setAttribute('data-total',imgs.length);});
"""


def _img(b64: str, alt: str) -> str:
    return f'<img class="plot" alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _eur(units: int) -> str:
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // 1_000_000}.{units % 1_000_000:06d}"


def _session_sections(report: Mapping[str, Any]) -> list[str]:
    """Per-session tables (energy, congestion, money, SoC), the audit and gas, when present."""
    parts: list[str] = []
    audit = report.get("audit")
    if isinstance(audit, Mapping):
        parts.append("<h2>Audit</h2>")
        if not audit.get("available"):
            parts.append(f"<p>not available: {html.escape(str(audit.get('reason', '')))}</p>")
        else:
            verdict = "pass" if audit.get("passed") else "FINDINGS"
            css = "ok" if audit.get("passed") else "finding"
            parts.append(f"<p class='{css}'>{verdict} ({audit.get('sessions', 0)} sessions)</p>")
    for sid, s in sorted(dict(report.get("sessions", {})).items()):
        parts.append(f"<h2>Session {html.escape(str(sid))}</h2>")
        rows = [
            (d, s["requested_wh"][d], s["awarded_wh"][d], s["delivered_wh"][d])
            for d in sorted(s.get("requested_wh", {}))
        ]
        parts.append(_table(rows, ["direction", "requested Wh", "awarded Wh", "delivered Wh"]))
        parts.append(
            _table(
                [
                    ("welfare (EUR)", _eur(int(s.get("welfare_units", 0)))),
                    ("orders", s.get("orders", 0)),
                    ("clearing status", s.get("clearing_status", "")),
                ],
                ["metric", "value"],
            )
        )
        cong = [
            (
                c.get("name", cp),
                c["limit_permille"] / 10,
                c["max_loading_permille_before"] / 10,
                c["max_loading_permille_after"] / 10,
                len(c["violation_isps_before"]),
                len(c["violation_isps_after"]),
            )
            for cp, c in sorted(dict(s.get("congestion", {})).items())
        ]
        parts.append(
            _table(
                cong,
                [
                    "congestion point",
                    "limit %",
                    "max % before",
                    "max % after",
                    "violation ISPs before",
                    "after",
                ],
            )
        )
        pay = [
            (p, _eur(v["paid_units"]), _eur(v["received_units"]), _eur(v["net_units"]))
            for p, v in sorted(dict(s.get("payments", {})).items())
        ]
        parts.append(_table(pay, ["participant", "paid EUR", "received EUR", "net EUR"]))
        soc = s.get("soc_violations", [])
        if soc:
            parts.append(
                _table(
                    [
                        (v["ev"], v["min_departure_soc_pct"], v["shortfall_wh"], v["cause"])
                        for v in soc
                    ],
                    ["EV", "min departure SoC %", "shortfall Wh", "cause"],
                )
            )
        else:
            parts.append("<p class='ok'>no EV left below its departure SoC</p>")
    gas = report.get("gas")
    if isinstance(gas, Mapping) and gas:
        parts.append("<h2>Gas per transaction kind</h2>")
        parts.append(
            _table(
                [(k, v["count"], v["gas"]) for k, v in sorted(gas.items())],
                ["transaction", "count", "gas"],
            )
        )
    return parts


def render_html(
    report: Mapping[str, Any], plots: ReplayPlots, extras: ReportExtras | None = None
) -> str:
    """A self-contained page: summary tables, the evidence tables of ``extras`` (when given)
    and PNG plots embedded as data URIs."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>flexmarket replay: {html.escape(str(report.get('scenario', '')))}</title>",
        f"<style>{_STYLE}</style><script>{_IMAGE_CHECK}</script></head><body>",
        f"<h1>Replay of {html.escape(str(report.get('scenario', '')))}</h1>",
        "<p id='plot-status'>plots not yet checked</p>",
    ]
    total = report.get("total", {})
    if total:
        parts.append("<h2>Totals</h2>")
        parts.append(
            _table(
                sorted((k, v) for k, v in total.items() if not isinstance(v, dict | list)),
                ["metric", "value"],
            )
        )
    findings = report.get("findings", [])
    parts.append("<h2>Findings</h2>")
    if findings:
        parts.append(
            "<ul>"
            + "".join(f"<li class='finding'>{html.escape(str(f))}</li>" for f in findings)
            + "</ul>"
        )
    else:
        parts.append("<p class='ok'>none</p>")
    parts.extend(_session_sections(report))
    parts.extend(clearing_house_html(report.get("clearing_house")))
    if extras is not None:
        parts.extend(render_extras(report, extras))
    parts.append("<h2>Congestion before and after</h2>")
    parts.append(f"<p class='note'>{html.escape(AFTER_MEANS)}</p>")
    parts.extend(_img(plot_loading(s, plots.isp_s), f"loading {s.point}") for s in plots.loading)
    parts.append("<h2>Requested, awarded and delivered flexibility</h2>")
    parts.extend(
        _img(plot_power(s, plots.isp_s), f"power {s.session} {s.direction}") for s in plots.power
    )
    parts.append("<h2>EV state of charge</h2>")
    parts.append(_img(plot_soc(plots.soc), "state of charge"))
    parts.append("<h2>Money flows</h2>")
    parts.append(_img(plot_money(plots.money_flows), "money flows"))
    if plots.money_flows:
        parts.append(
            _table(
                [(s, d, f"{a / 1_000_000:.6f}") for s, d, a in plots.money_flows],
                ["from", "to", "EUR"],
            )
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report_html(
    report_dir: Path,
    report: Mapping[str, Any],
    plots: ReplayPlots,
    extras: ReportExtras | None = None,
) -> Path:
    path = report_dir / "report.html"
    path.write_text(render_html(report, plots, extras), encoding="utf-8")
    return path
