"""The live run's child processes: one per role, each logging to ``logs/<role>.log``.

Why a supervisor of its own: ``flexmarket live`` is the roles as separate OS processes, so a
role that dies must stop the run with one line naming it (and the end of its log), and no
child may outlive the run: each child leads its own process group (killed as a group, so a
role's own children go too) and is asked by the kernel to stop if the orchestrator dies
(``PR_SET_PDEATHSIG``, Linux).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1
TAIL_LINES = 12


class LiveError(Exception):
    """The run cannot go on; the message is the one line the user sees."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Kernel-side cleanup: the child gets SIGTERM when the orchestrator dies (even SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' when there is none)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


@dataclass
class Child:
    role: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]


@dataclass
class Supervisor:
    """Starts the roles, records ``processes.json`` and checks they are all still alive."""

    report_dir: Path
    children: dict[str, Child] = field(default_factory=dict)
    adopted: dict[str, int] = field(default_factory=dict)  # started elsewhere (anvil)

    @property
    def log_dir(self) -> Path:
        return self.report_dir / "logs"

    def start(self, role: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        """Start ``argv`` as ``role`` in its own process group, output to its log file."""
        if role in self.children:
            raise LiveError(f"{role}: started twice")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{role}.log"
        log_file = log_path.open("ab")
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: stopped as a whole
            preexec_fn=_die_with_parent,
        )
        child = Child(role, proc, log_path, log_file)
        self.children[role] = child
        self.write_pids()
        return child

    def adopt(self, role: str, pid: int) -> None:
        """Record a process started elsewhere (anvil) in ``processes.json``."""
        self.adopted[role] = pid
        self.write_pids()

    def pids(self) -> dict[str, int]:
        out = dict(self.adopted)
        out.update({role: c.proc.pid for role, c in self.children.items()})
        return dict(sorted(out.items()))

    def write_pids(self) -> None:
        path = self.report_dir / "processes.json"
        path.write_text(json.dumps(self.pids(), indent=1, sort_keys=True) + "\n")

    def check(self) -> None:
        """Raise :class:`LiveError` naming the first role whose process has ended."""
        for role, child in self.children.items():
            code = child.proc.poll()
            if code is not None:
                child.log_file.flush()
                last = tail(child.log_path)
                raise LiveError(
                    f"{role} (pid {child.proc.pid}) exited with code {code}; "
                    f"last lines of {child.log_path}:\n{last}"
                )

    def stop(self, role: str, timeout_s: float = 10.0) -> None:
        """SIGTERM the role's process group, SIGKILL what is left after ``timeout_s``."""
        child = self.children.get(role)
        if child is None:
            return
        _signal_group(child.proc.pid, signal.SIGTERM)
        try:
            child.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _signal_group(child.proc.pid, signal.SIGKILL)
            child.proc.wait(timeout=timeout_s)
        _signal_group(child.proc.pid, signal.SIGKILL)  # the role's own children, if any left
        child.log_file.close()

    def stop_all(self) -> None:
        """Stop every role, the last started first (stations before gateways before market)."""
        for role in reversed(list(self.children)):
            self.stop(role)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_until(
    what: str,
    ready: object,
    supervisor: Supervisor,
    *,
    timeout_s: float,
    poll_s: float = 0.1,
) -> object:
    """Poll ``ready()`` until it returns something truthy; a dead role or the timeout is a
    :class:`LiveError` naming what was awaited."""
    assert callable(ready)
    deadline = time.monotonic() + timeout_s
    while True:
        supervisor.check()
        try:
            got = ready()
        except Exception:  # not up yet (connection refused, ...): poll on
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            raise LiveError(f"{what}: not done within {timeout_s:g} s")
        time.sleep(poll_s)
