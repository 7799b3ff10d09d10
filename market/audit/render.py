"""Human output (rich) and machine output (JSON) of an audit report."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from market.audit.findings import AuditReport

_STYLE = {"pass": "green", "fail": "bold red", "skip": "dim", "error": "yellow"}


def to_json(report: AuditReport) -> str:
    return json.dumps(report.to_json(), indent=2, sort_keys=False)


def print_report(report: AuditReport, console: Console | None = None) -> None:
    console = console or Console()
    console.print(f"[bold]flexmarket audit[/bold] market {report.market} via {report.rpc}")
    if report.bundles:
        console.print(f"bundles: {report.bundles}")
    for s in report.sessions:
        title = f"session {s.session_id or '?'} ({s.onchain_id[:18]}..) state {s.state}"
        table = Table(title=title, title_justify="left", show_lines=False)
        table.add_column("check")
        table.add_column("result")
        table.add_column("findings / notes", overflow="fold")
        for c in s.checks:
            lines = [f"[red]{f.code}[/red] {f.subject} {f.message}" for f in c.findings]
            lines += [f"[dim]{n}[/dim]" for n in c.notes]
            style = _STYLE[c.status]
            table.add_row(c.name, f"[{style}]{c.status}[/{style}]", "\n".join(lines))
        console.print(table)
    for c in report.market_checks:
        style = _STYLE[c.status]
        console.print(f"market {c.name}: [{style}]{c.status}[/{style}]")
        for f in c.findings:
            console.print(f"  [red]{f.code}[/red] {f.subject} {f.message}")
        for n in c.notes:
            console.print(f"  [dim]{n}[/dim]")
    colour = {0: "green", 1: "bold red", 2: "yellow"}[report.exit_code]
    console.print(f"[{colour}]{report.message}[/{colour}] ({report.seconds:.2f} s)")
