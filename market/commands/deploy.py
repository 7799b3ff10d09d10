"""``flexmarket deploy``: deploy the contracts, or ``--verify`` an existing deployment's code.

Argument parsing and printing only. With ``--network NAME`` the RPC, chain id, confirmations,
fee caps and the deployer key's variable come from the networks file
(``adapters/chain/networks.py``); every deploy to a named network ends with a code check of
each contract against the build (``adapters/chain/verify_code.py``), and exits 1 on a
mismatch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from adapters.chain.anvil import AnvilError
from adapters.chain.client import ChainClient
from adapters.chain.deploy import (
    Deployment,
    MarketContracts,
    connect,
    default_deployment_path,
    deploy_market,
)
from adapters.chain.errors import ChainError
from adapters.chain.networks import load_networks, network_client, networks_path
from adapters.chain.toolchain import ToolchainError, compile_contracts
from adapters.chain.verify_code import CodeCheck, verify_deployment
from market.commands.chain import RpcOption, fail


@contextmanager
def _client(
    rpc: str | None, network: str | None, networks: Path | None
) -> Iterator[tuple[ChainClient, bool]]:
    """The named network's client (chain id checked), else the configured or embedded chain."""
    if network is None:
        with connect(rpc) as pair:
            yield pair
        return
    if rpc:
        raise ChainError("--rpc: the networks file names the RPC; leave out --rpc with --network")
    chosen = load_networks(networks_path(networks)).network(network)
    yield network_client(chosen, compile_contracts()), False


def _print_checks(checks: list[CodeCheck]) -> bool:
    for check in checks:
        verdict = "ok" if check.ok else "MISMATCH"
        print(f"code {check.contract:<15} {check.address} {verdict}: {check.detail}")
    return all(check.ok for check in checks)


def deploy(
    rpc: RpcOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="deployment file (written; read with --verify)"),
    ] = None,
    token: Annotated[str | None, typer.Option("--token", help="use this existing ERC-20")] = None,
    network: Annotated[
        str | None,
        typer.Option("--network", help="deploy to this entry of the networks file"),
    ] = None,
    networks: Annotated[
        Path | None,
        typer.Option(
            "--networks",
            help="networks file (default: $FLEXMARKET_NETWORKS_FILE, else ./networks.yaml)",
        ),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="deploy nothing: check the deployment file's on-chain code"),
    ] = False,
) -> None:
    """Deploy token (unless --token), market and positions; write the deployment file.

    With --network the deployed code is checked against the build (immutables masked).
    --verify re-checks an existing deployment file instead (exit 1 on a mismatch).
    """
    path = out or default_deployment_path()
    if verify and token:
        raise fail("--token: nothing is deployed with --verify")
    try:
        if verify:
            existing = Deployment.load(path)
            with _client(rpc, network, networks) as (client, _):
                checks = verify_deployment(client, existing, client.artifacts)
            print(f"chain id {existing.chain_id}, deployment {path}")
            if not _print_checks(checks):
                raise fail("on-chain code does not match the build (see the lines above)")
            return
        with _client(rpc, network, networks) as (client, embedded):
            mc = deploy_market(client, deployer=client.accounts[0], token_address=token)
            checks = verify_deployment(client, mc.deployment, client.artifacts) if network else []
            deployment = _named(mc, network)
            deployment.save(path)
    except (ChainError, AnvilError, ToolchainError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    d = deployment
    where = f" (network {network})" if network else ""
    print(f"chain id {d.chain_id}{where}, deploy block {d.deploy_block}, deployer {d.deployer}")
    print(f"token     {d.token}{'' if d.token_deployed else ' (existing)'}")
    print(f"market    {d.market}")
    print(f"positions {d.positions}")
    print(f"wrote {path}")
    if checks and not _print_checks(checks):
        raise fail("on-chain code does not match the build (see the lines above)")
    if embedded:
        print(
            "note: no RPC configured, so this ran on an embedded anvil that has now stopped; "
            "use `flexmarket chain up` first to keep the chain"
        )


def _named(mc: MarketContracts, network: str | None) -> Deployment:
    if network is None:
        return mc.deployment
    return replace(mc.deployment, network=network)
