"""Local chain: start anvil from node_modules, wait until it answers, move its clock.

Why a process group: anvil is started in its own session so ``stop`` (or ``chain down``) can
kill it and anything it spawned without touching other processes. ``AnvilNode`` is also the
base of the second node implementation (``hardhat.HardhatNode``): only the command differs.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_account import Account

from adapters.chain.toolchain import project_root
from adapters.ports import free_port

DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_CHAIN_ID = 31337
DEFAULT_ACCOUNTS = 10


class AnvilError(RuntimeError):
    """anvil is missing, did not start, or refused a control RPC."""


def anvil_binary(root: Path | None = None) -> Path:
    """The anvil executable installed by npm (platform package first, then the .bin link)."""
    root = root or project_root()
    for candidate in (
        root / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil",
        root / "node_modules" / ".bin" / "anvil",
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise AnvilError(f"anvil: not found under {root / 'node_modules'}; run scripts/bootstrap.sh")


@cache
def derive_private_keys(mnemonic: str, count: int) -> tuple[str, ...]:
    """The keys anvil funds for ``mnemonic`` (BIP-44 path m/44'/60'/0'/0/i), as 0x-hex."""
    Account.enable_unaudited_hdwallet_features()
    return tuple(
        "0x" + Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}").key.hex()
        for i in range(count)
    )


def rpc_call(url: str, method: str, params: list[Any] | None = None, timeout: float = 10.0) -> Any:
    """One JSON-RPC call over HTTP; raises AnvilError naming the method on any failure."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AnvilError(f"{method} at {url}: {exc}") from exc
    if "error" in reply:
        raise AnvilError(f"{method} at {url}: {reply['error']}")
    return reply.get("result")


class AnvilControl:
    """A dev node's test-only RPCs (time, balances, snapshots) for a node at ``rpc_url``.

    The ``evm_*`` RPCs are shared by anvil and Hardhat; the rest carry the node's own prefix
    (``anvil_setBalance`` / ``hardhat_setBalance``), chosen by ``web3_clientVersion``.
    """

    def __init__(self, rpc_url: str) -> None:
        self.rpc_url = rpc_url
        self._dev_prefix: str | None = None

    def rpc(self, method: str, *params: Any) -> Any:
        return rpc_call(self.rpc_url, method, list(params))

    @property
    def dev_prefix(self) -> str:
        """``hardhat_`` on a Hardhat node, else ``anvil_``."""
        if self._dev_prefix is None:
            version = str(self.rpc("web3_clientVersion"))
            self._dev_prefix = "hardhat_" if version.lower().startswith("hardhat") else "anvil_"
        return self._dev_prefix

    def dev_rpc(self, name: str, *params: Any) -> Any:
        """The node-specific RPC ``name`` (e.g. ``setBalance``, ``setStorageAt``)."""
        return self.rpc(self.dev_prefix + name, *params)

    def get_chain_id(self) -> int:
        return int(self.rpc("eth_chainId"), 16)

    def block_timestamp(self, block: str = "latest") -> int:
        return int(self.rpc("eth_getBlockByNumber", block, False)["timestamp"], 16)

    def set_next_block_timestamp(self, t: int) -> None:
        """The next mined block gets timestamp ``t`` (must be > the latest block's)."""
        self.rpc("evm_setNextBlockTimestamp", int(t))

    def mine(self, t: int | None = None) -> int:
        """Mine one block, at ``t`` if given; returns the new block's timestamp."""
        if t is None:
            self.rpc("evm_mine")
        else:
            self.rpc("evm_mine", int(t))
        return self.block_timestamp()

    def increase_time(self, seconds: int) -> int:
        """Move chain time forward by ``seconds`` and mine, so views see the new time."""
        if seconds < 0:
            raise ValueError(f"seconds: cannot move chain time backwards ({seconds})")
        return self.mine(self.block_timestamp() + int(seconds))

    def warp_to(self, t: int) -> int:
        """Mine a block at ``t`` unless the chain is already there or later."""
        latest = self.block_timestamp()
        return latest if latest >= t else self.mine(int(t))

    def set_balance(self, address: str, wei: int) -> None:
        self.dev_rpc("setBalance", address, hex(wei))

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> bool:
        return bool(self.rpc("evm_revert", snapshot_id))

    def dump_state(self, path: Path) -> Path:
        """Write the chain (accounts, blocks, transactions and their logs) to ``path`` in the
        form ``anvil --load-state`` reads, so the day can be audited after this node is gone.

        ``anvil_dumpState`` answers gzip-compressed JSON as hex; the file holds that JSON in
        canonical form (see :func:`canonical_state`).
        """
        answer = str(self.rpc("anvil_dumpState"))
        try:
            state = json.loads(gzip.decompress(bytes.fromhex(answer.removeprefix("0x"))))
        except (ValueError, OSError) as exc:
            raise AnvilError(f"anvil_dumpState at {self.rpc_url}: not gzip hex ({exc})") from exc
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(canonical_state(state))
        os.replace(tmp, path)
        return path


def canonical_state(state: dict[str, Any]) -> str:
    """anvil lists blocks and transactions in hash-map order; sorted by block number (and
    position) with sorted keys, the same chain gives the same bytes on every dump."""

    def number(value: Any) -> int:
        return int(value, 16) if isinstance(value, str) else int(value or 0)

    if isinstance(state.get("blocks"), list):
        state["blocks"].sort(key=lambda b: number(b.get("header", {}).get("number")))
    if isinstance(state.get("transactions"), list):
        state["transactions"].sort(
            key=lambda t: (
                number(t.get("block_number")),
                number(t.get("info", {}).get("transaction_index")),
            )
        )
    return json.dumps(state, sort_keys=True, separators=(",", ":")) + "\n"


@dataclass
class AnvilNode(AnvilControl):
    """A running anvil on a free loopback port; use as a context manager.

    Deterministic: the same mnemonic gives the same funded accounts on every start.
    """

    host: str = "127.0.0.1"
    port: int | None = None
    mnemonic: str = DEFAULT_MNEMONIC
    accounts: int = DEFAULT_ACCOUNTS
    balance_eth: int = 10_000
    chain_id: int = DEFAULT_CHAIN_ID
    gas_limit: int | None = None
    timestamp: int | None = None
    startup_timeout_s: float = 20.0
    log_path: Path | None = None
    binary: Path | None = None
    load_state: Path | None = None  # a file written by dump_state (``--load-state``)
    # base fee 0 and no minimum tip: eth_gasPrice stays 0, so what a transaction costs never
    # depends on when a client last asked for the gas price (reproducible chain state)
    zero_gas_price: bool = False

    def __post_init__(self) -> None:
        super().__init__(rpc_url="")
        self.process: subprocess.Popen[bytes] | None = None

    #: which implementation this is (``chain.json`` records it; ``chain down`` checks it)
    kind = "anvil"

    @property
    def private_keys(self) -> tuple[str, ...]:
        return derive_private_keys(self.mnemonic, self.accounts)

    def launch_cwd(self) -> Path | None:
        """Working directory of the node process (None: inherit)."""
        return None

    def launch_env(self) -> dict[str, str] | None:
        """Environment of the node process (None: inherit)."""
        return None

    def command(self, port: int) -> list[str]:
        cmd = [
            str(self.binary or anvil_binary()),
            "--host",
            self.host,
            "--port",
            str(port),
            "--mnemonic",
            self.mnemonic,
            "--accounts",
            str(self.accounts),
            "--balance",
            str(self.balance_eth),
            "--chain-id",
            str(self.chain_id),
        ]
        if self.gas_limit is not None:
            cmd += ["--gas-limit", str(self.gas_limit)]
        if self.timestamp is not None:
            cmd += ["--timestamp", str(self.timestamp)]
        if self.load_state is not None:
            cmd += ["--load-state", str(self.load_state)]
        if self.zero_gas_price:
            cmd += ["--base-fee", "0", "--disable-min-priority-fee"]
        return cmd

    def start(self) -> AnvilNode:
        """Start anvil and block until it answers ``eth_chainId`` (or raise AnvilError)."""
        if self.process is not None:
            raise AnvilError(f"{self.kind}: already started")
        attempts = 1 if self.port is not None else 3
        last_error = ""
        for _ in range(attempts):  # a free port can be taken between probe and bind
            port = self.port or free_port(self.host)
            log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
            try:
                self.process = subprocess.Popen(
                    self.command(port),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT if self.log_path else subprocess.DEVNULL,
                    start_new_session=True,
                    close_fds=True,
                    cwd=self.launch_cwd(),
                    env=self.launch_env(),
                )
            finally:
                if self.log_path:
                    log.close()  # type: ignore[union-attr]
            self.rpc_url = f"http://{self.host}:{port}"
            self.port = port
            try:
                self._wait_ready()
                return self
            except AnvilError as exc:
                last_error = str(exc)
                self.stop()
                self.port = None if attempts > 1 else port
        raise AnvilError(f"{self.kind}: did not start ({last_error})")

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AnvilError(f"exited with code {self.process.returncode} on port {self.port}")
            try:
                if int(rpc_call(self.rpc_url, "eth_chainId", timeout=1.0), 16) == self.chain_id:
                    return
            except AnvilError:
                pass
            time.sleep(0.05)
        raise AnvilError(
            f"no answer to eth_chainId at {self.rpc_url} within {self.startup_timeout_s} s"
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self) -> None:
        """Terminate the node's process group; SIGKILL if it does not exit within 5 s."""
        if self.process is None:
            return
        kill_process_group(self.process.pid, wait=self.process.wait)
        self.process = None

    def __enter__(self) -> AnvilNode:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kill_process_group(pid: int, wait: Any = None, timeout_s: float = 5.0) -> bool:
    """SIGTERM then SIGKILL the process group led by ``pid``; True if it was running."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if wait is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                wait(timeout=0.1)
                return True
        elif not _alive(pid):
            return True
        else:
            time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    if wait is not None:
        wait(timeout=timeout_s)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True
