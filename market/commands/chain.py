"""The ``chain up|down|status`` group, and ``demo`` and ``bench gas``.

Argument parsing and printing only; the work is done by ``adapters.chain``. ``demo`` is
registered in market/cli.py, ``bench gas`` in market/commands/bench.py (``deploy`` lives in
market/commands/deploy.py).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapters.chain import nodes
from adapters.chain.anvil import AnvilControl, AnvilError
from adapters.chain.deploy import connect, deploy_market
from adapters.chain.errors import ChainError
from adapters.chain.lifecycle import Roles, Step, eur, make_plan, onboard, run_lifecycle
from adapters.chain.toolchain import ToolchainError

RpcOption = Annotated[
    str | None,
    typer.Option(
        "--rpc", help="JSON-RPC URL (default: $FLEXMARKET_RPC_URL, `chain up`, or embedded)"
    ),
]
NodeOption = Annotated[
    str,
    typer.Option("--node", help="node implementation: anvil or hardhat (both from node_modules)"),
]
app = typer.Typer(help="Local EVM chain (anvil or hardhat) management.", no_args_is_help=True)
DEMO_MINT_UNITS = 100_000 * 1_000_000  # 100 000 EUR
DEMO_BUDGET_UNITS = 2_500 * 1_000_000  # 2 500 EUR


def fail(message: str) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {message}")  # one line
    return typer.Exit(code=1)


def _check_node(node: str) -> str:
    if node not in nodes.NODE_KINDS:
        raise fail(f"--node: unknown implementation {node!r} (choose anvil or hardhat)")
    return node


@app.command("up")
def chain_up(
    port: Annotated[int | None, typer.Option(help="port (default: a free one)")] = None,
    node: NodeOption = "anvil",
) -> None:
    """Start a detached anvil (or hardhat node) from node_modules and print its RPC URL."""
    try:
        info = nodes.chain_up(port=port, node=_check_node(node))
    except AnvilError as exc:
        raise fail(str(exc)) from None
    print(info["rpc_url"])


@app.command("down")
def chain_down() -> None:
    """Stop the node started by `chain up`."""
    if nodes.chain_down():
        print("stopped")
    else:
        print("no chain running")


@app.command("status")
def chain_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show whether the `chain up` node is running (exit code 1 if not)."""
    info = nodes.chain_status()
    if as_json:
        print(json.dumps(info, sort_keys=True))
    elif info.get("running"):
        print(
            f"{info.get('node', 'anvil')} running at {info['rpc_url']} "
            f"(pid {info['pid']}, chain id {info['chain_id']})"
        )
    else:
        print("not running")
    if not info.get("running"):
        raise typer.Exit(code=1)


def demo(
    rpc: RpcOption = None,
    node: Annotated[
        str | None,
        typer.Option(
            "--node", help="run on an embedded node of this implementation: anvil or hardhat"
        ),
    ] = None,
) -> None:
    """Run one complete market session on a local chain, printing every step with its gas."""
    if node is not None:
        _check_node(node)
    console = Console()
    console.width = max(console.width, 120)
    table = Table(title="flexmarket: one session lifecycle on-chain")
    for column, justify in (
        ("phase", "left"),
        ("action", "left"),
        ("by", "left"),
        ("gas", "right"),
        ("detail", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]

    def add(step: Step) -> None:
        table.add_row(step.phase, step.action, step.actor, f"{step.gas_used:,}", step.detail)

    try:
        with connect(rpc, node=node) as (client, embedded):
            a = client.accounts
            where = f", embedded {node or 'anvil'}" if embedded else ""
            console.print(f"chain {client.rpc_url} (chain id {client.chain_id}{where})")
            mc = deploy_market(client, deployer=a[0])
            for name, used in mc.deployment.gas.items():
                add(Step("deploy", name, "admin", used, "", 0, ""))
            roles = Roles(
                admin=a[0], operator=a[0], dso=a[1], fsps=[a[2], a[3]], oracle=a[4], arbiter=a[5]
            )
            for step in onboard(mc, roles, mint_to_dso=DEMO_MINT_UNITS):
                add(step)
            plan = make_plan(
                orders=6, fsps=2, requests=1, budget_per_request=DEMO_BUDGET_UNITS, label="demo"
            )
            report = run_lifecycle(mc, AnvilControl(client.rpc_url), roles, plan, on_step=add)
            balances = {
                "dso": mc.token.balance_of(roles.dso),
                "fsp-0": mc.token.balance_of(roles.fsps[0]),
                "fsp-1": mc.token.balance_of(roles.fsps[1]),
                "market": mc.token.balance_of(mc.market.address),
            }
            escrowed, credited = mc.market.total_escrowed(), mc.market.total_credited()
    except (ChainError, AnvilError, ToolchainError) as exc:
        raise fail(str(exc)) from None
    console.print(table)
    console.print(
        f"session 0x{report.session_id.hex()}: FINAL; lifecycle gas {report.gas():,} "
        f"in {len(report.steps)} transactions"
    )
    console.print("token balances: " + ", ".join(f"{k} {eur(v)}" for k, v in balances.items()))
    if balances["market"] != escrowed + credited:
        raise fail(
            f"market balance {balances['market']} != escrowed {escrowed} + credited {credited}"
        )
    console.print("market balance = escrowed + credited: ok")


def bench_gas(
    as_json: Annotated[bool, typer.Option("--json", help="print only the JSON")] = False,
) -> None:
    """Gas per session, order, FSP and request, fitted from full lifecycles, vs a naive market."""
    from adapters.chain.bench import run_gas_bench  # numpy import only when benchmarking

    err = Console(stderr=True)
    try:
        result = run_gas_bench(progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    except (ChainError, AnvilError, ToolchainError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
        return
    table = Table(title="gas benchmark (targets from issues 2 and 20)")
    for column in ("metric", "value", "target", "ok"):
        table.add_column(column)
    for key, limit in result["targets"].items():
        table.add_row(
            key, str(result[key]), f"<= {limit}", "yes" if result["meets_targets"][key] else "NO"
        )
    table.add_row(
        "terms_hash_added_gas_per_session", str(result["terms_hash_added_gas_per_session"])
    )
    for key in ("gas_per_session", "gas_per_party"):  # issue 19: settleNetting after finalize
        if key in result.get("netting", {}):
            table.add_row(f"netting_{key}", str(result["netting"][key]))
    Console().print(table)


__all__ = ["NodeOption", "RpcOption", "app", "bench_gas", "demo", "fail"]
