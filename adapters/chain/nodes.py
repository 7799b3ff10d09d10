"""Which local node runs: ``local_node("anvil" | "hardhat")``, and the detached node of
``flexmarket chain up/down/status`` (its pid, URL and implementation in ``.flexmarket/chain.json``).

Why here and not in ``anvil``: the launcher knows both implementations, and ``hardhat``
builds on ``anvil``; keeping the choice in a third module keeps the imports acyclic.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psutil

from adapters.chain.anvil import AnvilError, AnvilNode, kill_process_group, rpc_call
from adapters.chain.hardhat import HardhatNode
from adapters.chain.toolchain import project_root


def state_file(root: Path | None = None) -> Path:
    return (root or project_root()) / ".flexmarket" / "chain.json"


NODE_KINDS = ("anvil", "hardhat")


def local_node(kind: str = "anvil", **options: Any) -> AnvilNode:
    """An unstarted local node of implementation ``kind`` (``anvil`` or ``hardhat``)."""
    if kind == "anvil":
        return AnvilNode(**options)
    if kind == "hardhat":
        return HardhatNode(**options)
    raise AnvilError(f"node: unknown implementation {kind!r} (choose one of {list(NODE_KINDS)})")


def chain_up(
    *, port: int | None = None, root: Path | None = None, node: str = "anvil"
) -> dict[str, Any]:
    """Start a detached node that outlives this process; record pid and URL in chain.json."""
    path = state_file(root)
    current = chain_status(root)
    if current.get("running"):
        raise AnvilError(
            f"{current.get('node', 'anvil')}: already running at {current['rpc_url']} "
            f"(pid {current['pid']})"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hardhat's generated config must outlive this process: it goes next to chain.json.
    extra = {"state_dir": path.parent / "hardhat"} if node == "hardhat" else {}
    started = local_node(node, port=port, log_path=path.parent / f"{node}.log", **extra)
    started.start()
    assert started.pid is not None
    info = {
        "node": started.kind,
        "pid": started.pid,
        "rpc_url": started.rpc_url,
        "chain_id": started.chain_id,
        "mnemonic": started.mnemonic,
        "started_at": int(time.time()),
    }
    path.write_text(json.dumps(info, indent=2) + "\n")
    started.process = None  # detach: this object no longer owns the process
    return info


def chain_status(root: Path | None = None) -> dict[str, Any]:
    """What chain.json says, plus whether that node still answers."""
    path = state_file(root)
    if not path.is_file():
        return {"running": False}
    info = json.loads(path.read_text())
    alive = _is_our_node(int(info["pid"]), str(info.get("rpc_url", "")), _kind(info))
    answering = False
    if alive:
        try:
            rpc_call(info["rpc_url"], "eth_chainId", timeout=2.0)
            answering = True
        except AnvilError:
            answering = False
    return {**info, "running": alive and answering}


def chain_down(root: Path | None = None) -> bool:
    """Stop the detached node recorded in chain.json; False if none was running."""
    path = state_file(root)
    if not path.is_file():
        return False
    info = json.loads(path.read_text())
    pid = int(info["pid"])
    rpc_url = str(info.get("rpc_url", ""))
    was_running = _is_our_node(pid, rpc_url, _kind(info)) and kill_process_group(pid)
    path.unlink(missing_ok=True)
    return was_running


def _kind(info: dict[str, Any]) -> str:
    return str(info.get("node", "anvil"))  # chain.json files from before hardhat: anvil


def _is_our_node(pid: int, rpc_url: str, kind: str = "anvil") -> bool:
    """True if ``pid`` is still the node recorded (a recycled pid must never be killed)."""
    try:
        cmdline = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    port = rpc_url.rsplit(":", 1)[-1]
    if not cmdline or port not in cmdline:
        return False
    if kind == "hardhat":  # node .../hardhat/internal/cli/cli.js --config ... node --port P
        return Path(cmdline[0]).name == "node" and any("hardhat" in arg for arg in cmdline[1:3])
    return Path(cmdline[0]).name == "anvil"
