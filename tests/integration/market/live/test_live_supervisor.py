"""The live run's supervisor with real OS processes: processes.json, a dead role named with
the end of its log, and no process left behind, not even a role's own child, nor when the
orchestrator itself is SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from market.live.procs import LiveError, Supervisor

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[4]

# a role that starts a child of its own (as `serve --worker` or a shell would), prints both
ROLE = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print("child", child.pid, flush=True)
    time.sleep(600)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def _child_pid(log: Path) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines() if log.exists() else []:
            if line.startswith("child "):
                return int(line.split()[1])
        time.sleep(0.05)
    raise AssertionError(f"no child line in {log}")


def _gone(pids: list[int], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def test_dead_role_is_named_with_its_log_and_stop_all_leaves_nothing(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    env = dict(os.environ)
    a = sup.start("fsp-a", [sys.executable, "-c", ROLE], env)
    b = sup.start(
        "dso", [sys.executable, "-c", "print('loading grid'); print('boom: no grid'); exit(4)"], env
    )
    grandchild = _child_pid(a.log_path)
    pids = json.loads((tmp_path / "processes.json").read_text())
    assert pids == {"dso": b.proc.pid, "fsp-a": a.proc.pid}
    b.proc.wait(timeout=20)
    with pytest.raises(LiveError) as err:
        sup.check()
    message = str(err.value)
    assert message.startswith(f"dso (pid {b.proc.pid}) exited with code 4")
    assert "boom: no grid" in message and str(tmp_path / "logs" / "dso.log") in message
    sup.stop_all()
    assert _gone([a.proc.pid, grandchild])


def test_children_stop_when_the_orchestrator_is_killed(tmp_path: Path) -> None:
    orchestrator = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from market.live.procs import Supervisor
        sup = Supervisor(Path({str(tmp_path)!r}))
        role = sup.start("market", [sys.executable, "-c", {ROLE!r}], dict(__import__("os").environ))
        print("role", role.proc.pid, flush=True)
        time.sleep(600)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", orchestrator], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    role_pid = int(proc.stdout.readline().split()[1])
    grandchild = _child_pid(tmp_path / "logs" / "market.log")
    assert _alive(role_pid) and _alive(grandchild)
    proc.send_signal(signal.SIGKILL)  # no finally block runs: only the kernel can clean up
    proc.wait(timeout=10)
    assert _gone([role_pid]), "the role outlived its orchestrator"
    os.kill(grandchild, signal.SIGKILL)  # the role's own child is the role's to stop
