"""``flexmarket admin grant-role|revoke-role|roles``: the market's roles, from a shell.

Argument parsing and printing only; ``market.admin_roles`` does the work. The admin key is
read from an environment variable (``--key-env``, default ``FLEXMARKET_OPERATOR_KEY``), never
from argv, so it does not end up in shell history or ``ps``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from market.admin_roles import RoleChange, RoleCommandError

if TYPE_CHECKING:
    from adapters.chain.market_contract import FlexMarketContract

app = typer.Typer(help="Market administration: on-chain roles.", no_args_is_help=True)
DEFAULT_KEY_ENV = "FLEXMARKET_OPERATOR_KEY"
DEV_CHAIN_ID = 31337

RpcOpt = Annotated[
    str | None,
    typer.Option("--rpc", help="JSON-RPC URL (default: $FLEXMARKET_RPC_URL or `chain up`)."),
]
MarketOpt = Annotated[
    str | None,
    typer.Option("--market", help="Market address (default: from the deployment file)."),
]
KeyEnvOpt = Annotated[
    str,
    typer.Option("--key-env", help="Environment variable holding the admin's private key."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RoleArg = Annotated[str, typer.Argument(help="DSO, FSP, METER_ORACLE, ARBITER, ...")]
AddressArg = Annotated[str, typer.Argument(help="The account (0x...).")]


def _market(rpc: str | None, market: str | None) -> FlexMarketContract:
    """The FlexMarket contract on the configured chain."""
    from adapters.chain.client import ChainClient
    from adapters.chain.deploy import Deployment, configured_rpc_url, default_deployment_path
    from adapters.chain.toolchain import compile_contracts
    from market.admin_roles import checked_address
    from market.settings import Settings

    settings = Settings()
    url = configured_rpc_url(rpc or settings.rpc_url)
    if url is None:
        raise RoleCommandError(
            "FLEXMARKET_RPC_URL: no chain configured; set it (or --rpc) to the market's chain"
        )
    client = ChainClient(url, artifacts=compile_contracts())
    if market is None:
        deployment = Deployment.load(settings.deployment_file or default_deployment_path())
        if deployment.chain_id != client.chain_id:
            raise RoleCommandError(
                f"FLEXMARKET_DEPLOYMENT_FILE: made for chain id {deployment.chain_id}, but "
                f"{url} is chain id {client.chain_id}; point it (or --market) at this chain's"
            )
        market = deployment.market
    address = checked_address(market)
    if client.rpc("eth_getCode", [address, "latest"]) in ("0x", "0x0", None):
        raise RoleCommandError(f"--market: no contract at {address} on {url}")
    from adapters.chain.market_contract import FlexMarketContract

    return FlexMarketContract(client, address)


def _admin_key(key_env: str, chain_id: int) -> str:
    from adapters.chain.deploy import dev_private_keys
    from market.settings import Settings

    key = os.environ.get(key_env)
    if key:
        return key
    dev = Settings().mode != "production"
    if key_env == DEFAULT_KEY_ENV and dev and chain_id == DEV_CHAIN_ID:
        return dev_private_keys(1)[0]  # as the service does on a local dev chain
    raise RoleCommandError(f"{key_env}: not set; it must hold the market admin's private key")


def _change(
    role: str, address: str, rpc: str | None, market: str | None, key_env: str, grant: bool
) -> RoleChange:
    from market import admin_roles

    contract = _market(rpc, market)
    account = admin_roles.checked_address(address)
    admin_roles.role_id(contract, role)  # an unknown role is refused before the key is read
    try:
        sender = contract.client.add_account(_admin_key(key_env, contract.client.chain_id))
    except ValueError as exc:
        raise RoleCommandError(f"{key_env}: not a private key ({exc})") from None
    admin_roles.require_admin(contract, sender, key_env)
    change = admin_roles.grant if grant else admin_roles.revoke
    return change(contract, role, account, sender=sender)


def _print(change: RoleChange, as_json: bool, verb: str) -> None:
    if as_json:
        typer.echo(json.dumps(asdict(change), sort_keys=True))
    elif change.changed:
        typer.echo(f"{verb} {change.role} {change.account} (tx {change.tx_hash})")
    else:
        state = "already holds" if verb == "granted" else "does not hold"
        typer.echo(f"{change.account} {state} {change.role}; nothing sent")


@app.command("grant-role")
def grant_role(
    role: RoleArg,
    address: AddressArg,
    rpc: RpcOpt = None,
    market: MarketOpt = None,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    as_json: JsonOpt = False,
) -> None:
    """Grant ROLE to ADDRESS (a market role also registers the account on-chain)."""
    _print(_change(role, address, rpc, market, key_env, grant=True), as_json, "granted")


@app.command("revoke-role")
def revoke_role(
    role: RoleArg,
    address: AddressArg,
    rpc: RpcOpt = None,
    market: MarketOpt = None,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    as_json: JsonOpt = False,
) -> None:
    """Revoke ROLE from ADDRESS (it stays registered and keeps its credits)."""
    _print(_change(role, address, rpc, market, key_env, grant=False), as_json, "revoked")


@app.command("roles")
def roles(
    address: Annotated[str | None, typer.Argument(help="Only this account.")] = None,
    rpc: RpcOpt = None,
    market: MarketOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The roles ADDRESS holds, or every account holding a role."""
    from market import admin_roles

    contract = _market(rpc, market)
    if address is not None:
        account = admin_roles.checked_address(address)
        table = {account: admin_roles.roles_of(contract, account)}
    else:
        table = admin_roles.holders(contract)
    if as_json:
        typer.echo(json.dumps(table, sort_keys=True))
        return
    for account, names in table.items():
        typer.echo(f"{account} {','.join(names) or '-'}")
