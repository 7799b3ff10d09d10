"""``flexmarket replay SCENARIO --serve``: after the replay the chain and the market keep
running, the URL is printed, the pages and the audit answer over the finished day, and Ctrl-C
stops both."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[4]
SCENARIO = REPO / "scripts" / "scenarios" / "uc5-terni-microgrid.yaml"


def test_replay_serve_keeps_chain_and_market_up_until_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "market.cli", "replay", str(SCENARIO), "--report",
           str(tmp_path / "out"), "--serve", "--port", "0"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "serving the finished day at" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert found.wait(300), "".join(lines[-20:])
        text = "".join(lines)
        url = re.search(r"serving the finished day at (http://[\d.:]+)/", text)
        rpc = re.search(r"chain (http://[\d.:]+)", text)
        assert url and rpc, text
        base = url.group(1)
        (session,) = httpx.get(f"{base}/sessions").json()
        assert session["state"] == "FINAL"
        assert "DSO dashboard" in httpx.get(f"{base}/dso").text
        audit = httpx.get(f"{base}/sessions/{session['id']}/audit", timeout=120).json()
        assert audit["result"] == "pass"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert proc.stdout is not None and '"audit": "pass"' in proc.stdout.read()
        time.sleep(0.5)
        with pytest.raises(httpx.HTTPError):
            httpx.post(rpc.group(1), json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
