"""``flexmarket audit`` and ``flexmarket bench audit``: argument parsing only.

Registered in market/cli.py (``audit``) and market/commands/bench.py (``bench audit``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def audit(
    rpc: str = typer.Option(
        None, "--rpc", help="EVM JSON-RPC endpoint (or --state for a kept chain)."
    ),
    market: str = typer.Option(
        None,
        "--market",
        help="FlexMarket contract address (default with --state: the kept deployment.json).",
    ),
    state: Path = typer.Option(
        None,
        "--state",
        help="A run's chain-state.json: audit it on a throwaway anvil (no --rpc needed).",
    ),
    bundles: str = typer.Option(
        None,
        "--bundles",
        help="Service base URL (http...), folder DIR/<session>/<kind>.json, or a report folder.",
    ),
    session: str = typer.Option(None, "--session", help="Audit one session (UUID or 0x id)."),
    receipts: Path = typer.Option(None, "--receipts", help="An FSP's inclusion proofs (JSON)."),
    uftp_evidence: Path = typer.Option(
        None, "--uftp-evidence", help="The UFTP gateway's signed-offer evidence (JSON)."
    ),
    station_keys: Path = typer.Option(
        None, "--station-keys", help="Station registry JSON overriding the published one."
    ),
    from_block: int = typer.Option(
        0,
        "--from-block",
        min=0,
        help="First block to scan (at most the deploy block, for the money totals).",
    ),
    step: int = typer.Option(2000, "--step", min=1, help="Blocks per eth_getLogs request."),
    as_json: bool = typer.Option(False, "--json", help="Machine output (one JSON object)."),
) -> None:
    """Verify sessions from the chain and the published bundles; exit 0 pass, 1 findings,
    2 could not run. ``--state reports/X/chain-state.json --bundles reports/X`` audits a
    finished replay after its chain is gone."""
    from adapters.chain.anvil import DEFAULT_CHAIN_ID
    from market.audit.kept_chain import (
        KeptChainError,
        find_deployment,
        report_bundles,
        served_state,
    )
    from market.audit.render import print_report, to_json
    from market.audit.runner import run_audit

    def run(rpc_url: str, market_address: str) -> None:
        report = run_audit(
            rpc=rpc_url,
            market=market_address,
            bundles=report_bundles(bundles),
            session=session,
            receipts=receipts,
            station_keys=station_keys,
            from_block=from_block,
            step=step,
            uftp_evidence=uftp_evidence,
        )
        if as_json:
            typer.echo(to_json(report))
        else:
            print_report(report)
        raise typer.Exit(report.exit_code)

    if state is None:
        if rpc is None or market is None:
            raise _fail("--rpc and --market are required (or --state FILE for a kept chain)")
        run(rpc, market)
    if rpc is not None:
        raise _fail("--state starts its own node; leave out --rpc")
    try:
        deployment = find_deployment(state, bundles, required=market is None)
        chain_id = deployment.chain_id if deployment else DEFAULT_CHAIN_ID
        with served_state(state, chain_id=chain_id) as rpc_url:
            run(rpc_url, market or (deployment.market if deployment else ""))
    except KeptChainError as exc:
        raise _fail(str(exc)) from None


def _fail(message: str) -> typer.Exit:
    """One line on stderr and exit 2 (the audit could not run)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def bench_audit(
    offers: int = typer.Option(1000, min=1, help="Offers in the synthetic 96-ISP day."),
    fsps: int = typer.Option(20, min=1, help="FSP accounts the offers are spread over."),
    seed: int = typer.Option(0, help="clearing.synthetic seed."),
    as_json: bool = typer.Option(True, "--json/--no-json", help="Print one JSON object."),
) -> None:
    """Stage a full synthetic session on an embedded anvil, then time one audit of it."""
    from market.audit.bench import run_bench

    result = run_bench(offers=offers, fsps=fsps, seed=seed)
    typer.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))
