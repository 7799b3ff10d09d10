"""Result types of an audit: named findings per check, per session, and the exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

CHECKS = (
    "bundle_hashes",
    "offers",
    "clearing",
    "reservations",
    "delivery",
    "money",
    "lifecycle",
    "terms",
)
EXIT_PASS, EXIT_FINDINGS, EXIT_COULD_NOT_RUN = 0, 1, 2

Status = Literal["pass", "fail", "skip", "error"]


class AuditCannotRun(Exception):
    """The audit (or one check) could not run: unreachable RPC, missing bundle, no registry."""


@dataclass(frozen=True)
class Finding:
    """One named discrepancy, e.g. ``offers.changed`` for FSP ``0xab..``."""

    code: str
    message: str
    subject: str = ""

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "subject": self.subject, "message": self.message}


@dataclass
class CheckResult:
    """One of the seven checks for one session (or the market-wide money reconciliation)."""

    name: str
    status: Status = "pass"
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[Finding] = field(default_factory=list)  # why it could not run, by code

    def add(self, code: str, message: str, subject: str = "") -> None:
        self.findings.append(Finding(code, message, subject))
        self.status = "fail"

    def skip(self, reason: str) -> CheckResult:
        self.status = "skip"
        self.notes.append(reason)
        return self

    def error(
        self, reason: str, code: str = "audit.could_not_run", subject: str = ""
    ) -> CheckResult:
        """The check (or part of it) could not run; ``code`` names why (see codes.py)."""
        self.status = "fail" if self.findings else "error"
        self.notes.append(reason)
        self.problems.append(Finding(code, reason, subject))
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "findings": [f.to_json() for f in self.findings],
            "errors": [p.to_json() for p in self.problems],
            "notes": list(self.notes),
            "seconds": round(self.seconds, 4),
        }


@dataclass
class SessionAudit:
    onchain_id: str
    session_id: str | None
    state: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.checks for f in c.findings]

    @property
    def errors(self) -> list[str]:
        return [f"{c.name}: {p.message}" for c in self.checks for p in c.problems]

    @property
    def error_codes(self) -> list[str]:
        return [p.code for c in self.checks for p in c.problems]

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"check {name!r} not in this audit ({[c.name for c in self.checks]})")

    def to_json(self) -> dict[str, Any]:
        return {
            "onchain_id": self.onchain_id,
            "session_id": self.session_id,
            "state": self.state,
            "result": "fail" if self.findings else ("error" if self.errors else "pass"),
            "errors": [p.to_json() for c in self.checks for p in c.problems],
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass
class AuditReport:
    rpc: str
    market: str
    bundles: str | None
    sessions: list[SessionAudit] = field(default_factory=list)
    market_checks: list[CheckResult] = field(default_factory=list)
    fatal: str | None = None
    seconds: float = 0.0
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.sessions for f in s.findings] + [
            f for c in self.market_checks for f in c.findings
        ]

    @property
    def errors(self) -> list[str]:
        out = [] if self.fatal is None else [self.fatal]
        out += [
            f"session {s.session_id or s.onchain_id}: {e}" for s in self.sessions for e in s.errors
        ]
        out += [f"market: {c.name}: {p.message}" for c in self.market_checks for p in c.problems]
        return out

    @property
    def checked_anything(self) -> bool:
        """Some session was checked in full (no check of it could not run)."""
        return any(not s.errors for s in self.sessions)

    @property
    def exit_code(self) -> int:
        """1 when any finding exists (even if other parts could not run); 2 only when nothing
        could be checked (no session audited in full); 1 when some session could not be checked
        but others were; 0 when every check of every session ran and passed."""
        if self.fatal is not None:
            return EXIT_COULD_NOT_RUN
        if self.findings:
            return EXIT_FINDINGS
        if not self.errors:
            return EXIT_PASS
        return EXIT_FINDINGS if self.checked_anything else EXIT_COULD_NOT_RUN

    @property
    def message(self) -> str:
        code = self.exit_code
        if code == EXIT_PASS:
            return f"PASS: {len(self.sessions)} session(s), every check passed"
        if code == EXIT_FINDINGS and not self.findings:
            return f"INCOMPLETE: could not check everything: {'; '.join(self.errors)}"
        if code == EXIT_FINDINGS:
            codes = sorted({f.code for f in self.findings})
            extra = f"; also could not run: {'; '.join(self.errors)}" if self.errors else ""
            return f"FINDINGS: {len(self.findings)} finding(s) ({', '.join(codes)}){extra}"
        return f"COULD NOT RUN: {'; '.join(self.errors)}"

    def to_json(self) -> dict[str, Any]:
        code = self.exit_code
        return {
            "exit_code": code,
            "result": {0: "pass", 1: "findings", 2: "could_not_run"}[code],
            "message": self.message,
            "rpc": self.rpc,
            "market": self.market,
            "bundles": self.bundles,
            "sessions": [s.to_json() for s in self.sessions],
            "market_checks": [c.to_json() for c in self.market_checks],
            "timing": {
                "seconds": round(self.seconds, 3),
                **{k: round(v, 3) for k, v in self.timing.items()},
            },
        }
