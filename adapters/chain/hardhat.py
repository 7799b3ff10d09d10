"""The second node implementation: Hardhat Network (npm ``hardhat``, pinned in package.json).

Why a second node: anvil alone cannot show that the contracts and the client rely only on
standard JSON-RPC. Hardhat differs where real networks differ from anvil (revert data nested
in ``error.data.data``, its own ``hardhat_*`` dev RPCs, its own gas estimator), so the same
code running on both is the evidence.

No Hardhat project is needed: the node runs from ``node_modules`` with a generated one-line
config (chain id, and the accounts of anvil's default mnemonic so the dev keys work) in a
temporary or state directory, with the project root as working directory so ``hardhat``
resolves as a local install. Nothing is downloaded (``hardhat node`` compiles nothing).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from adapters.chain.anvil import AnvilError, AnvilNode
from adapters.chain.toolchain import project_root

WEI_PER_ETH = 10**18
HARDFORK = "prague"


def hardhat_cli(root: Path | None = None) -> Path:
    """Hardhat's CLI entry point installed by npm."""
    root = root or project_root()
    cli = root / "node_modules" / "hardhat" / "internal" / "cli" / "cli.js"
    if not cli.is_file():
        raise AnvilError(f"hardhat: not found under {root / 'node_modules'}; run npm ci")
    return cli


def node_executable() -> str:
    """The Node.js binary that runs Hardhat."""
    found = shutil.which("node")
    if found is None:
        raise AnvilError("hardhat: `node` (Node.js) is not on PATH")
    return found


def hardhat_config(
    *,
    chain_id: int,
    mnemonic: str,
    accounts: int,
    balance_eth: int,
    gas_limit: int | None,
    timestamp: int | None,
) -> str:
    """The generated ``hardhat.config.js``: the network only, no sources, no compiler."""
    network: dict[str, object] = {
        "chainId": chain_id,
        # Like anvil's default: no EIP-7825 per-transaction gas cap (Osaka, 2^24), which the
        # worst-case bounded loops exceed (test_worst_case_bounded_loops_fit_in_a_30m_gas_block).
        "hardfork": HARDFORK,
        # Like every real node: a reverting transaction is mined with status 0, not refused by
        # eth_sendRawTransaction (Hardhat's default), so receipts are checked the same way.
        "throwOnTransactionFailures": False,
        "accounts": {
            "mnemonic": mnemonic,
            "count": accounts,
            "accountsBalance": str(balance_eth * WEI_PER_ETH),
        },
    }
    if gas_limit is not None:
        network["blockGasLimit"] = gas_limit
    if timestamp is not None:
        network["initialDate"] = _iso_utc(timestamp)
    return "module.exports = " + json.dumps({"networks": {"hardhat": network}}, indent=2) + ";\n"


def _iso_utc(timestamp: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class HardhatNode(AnvilNode):
    """A running ``hardhat node`` on a free loopback port; same interface as ``AnvilNode``.

    ``state_dir`` holds the generated config; by default a temporary directory removed when
    the node stops (``chain up`` passes ``.flexmarket/hardhat`` so the config outlives it).
    """

    state_dir: Path | None = None
    startup_timeout_s: float = 60.0  # Node.js loads Hardhat in ~2-5 s on a busy machine

    kind = "hardhat"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None

    def config_path(self) -> Path:
        """Write the config (again if it was cleaned up) and return its path."""
        if self.state_dir is not None:
            folder = self.state_dir
        else:
            if self._temp_dir is None:
                self._temp_dir = tempfile.TemporaryDirectory(prefix="flexmarket-hardhat-")
            folder = Path(self._temp_dir.name)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "hardhat.config.js"
        path.write_text(
            hardhat_config(
                chain_id=self.chain_id,
                mnemonic=self.mnemonic,
                accounts=self.accounts,
                balance_eth=self.balance_eth,
                gas_limit=self.gas_limit,
                timestamp=self.timestamp,
            )
        )
        return path

    def command(self, port: int) -> list[str]:
        cli = self.binary or hardhat_cli()
        return [
            node_executable(),
            str(cli),
            "--config",
            str(self.config_path()),
            "node",
            "--hostname",
            self.host,
            "--port",
            str(port),
        ]

    def launch_cwd(self) -> Path:
        return project_root()  # so Hardhat finds itself as the project's local install

    def launch_env(self) -> dict[str, str]:
        # No prompt; with stdout not a terminal Hardhat shows no banner and checks no version,
        # and without telemetry consent it sends nothing.
        return {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"}

    def stop(self) -> None:
        super().stop()
        if self._temp_dir is not None:
            self._temp_dir.cleanup()
            self._temp_dir = None


__all__ = ["HardhatNode", "hardhat_cli", "hardhat_config"]
