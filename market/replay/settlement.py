"""The settlement phases of a session: verify (after the meter grace: forged readings are
posted and must be refused, then the delivery bundle and attestation) and final (after the
challenge window: finalize, optional on-chain netting, withdrawals)."""

from __future__ import annotations

import time

from eth_utils.address import to_checksum_address

from clearing.encoding import hex32, uuid_to_bytes32
from market.api.schemas import MeterReadingCreate
from market.clearing_house.service import final_report
from market.client import ApiError
from market.lifecycle.worker import step_history
from market.participant.onchain import ChainAccount
from market.replay.chain import FUNDING_WEI
from market.replay.context import ReplayContext, ReplayError, SessionRun
from market.replay.derive import derived_key
from market.replay.netting import implied_sharing, netting_outcome, post_revenue_sharing
from market.replay.world import station_address


def _inject_forged_readings(ctx: ReplayContext, run: SessionRun) -> None:
    """``forged_reading`` faults: the meter oracle posts a reading that claims the station's
    meter key but is signed with another key; the API must refuse it (nothing stored), and the
    report names the refusal."""
    from clearing.settlement.meter import sign_reading

    sc = ctx.scenario
    start, end = sc.at(run.spec.delivery_start), sc.at(run.spec.delivery_end)
    for f in sc.faults:
        if f.kind != "forged_reading":
            continue
        at = sc.at(f.at)
        if not start <= at <= end:
            continue
        evse = next((s.evse for s in ctx.stays if s.station == f.station), 1)
        forged = sign_reading(
            derived_key(sc.seed, f"forger:{f.station}"),
            station=f.station,
            evse=evse,
            timestamp=at + 1,
            import_wh=10**9,
            export_wh=0,
        )
        where = f"{f.station}/{evse}@{forged.timestamp}"
        try:
            ctx.clients["meter-oracle"].post_meter_reading(
                MeterReadingCreate(
                    station_id=f.station,
                    evse_id=evse,
                    timestamp=forged.timestamp,
                    import_wh=forged.import_wh,
                    export_wh=forged.export_wh,
                    signed_data=forged.payload().decode(),
                    signature=forged.signature,
                    public_key=station_address(sc.seed, f.station),
                )
            )
        except ApiError as exc:
            run.forged.append(f"{where} refused: {exc.status} {exc.field}")
            continue
        raise ReplayError(f"forged_reading: the API accepted the forged reading {where}")


def phase_verify(ctx: ReplayContext, run: SessionRun) -> None:
    """After the meter grace the worker verifies delivery; keep the report the money follows."""
    sc = ctx.scenario
    end = sc.at(run.spec.delivery_end)
    _inject_forged_readings(ctx, run)
    ctx.chain.control.warp_to(end + sc.market.meter_grace_s)
    t0 = time.perf_counter()
    ctx.worker.run_once()
    run.timing["verify_s"] = round(time.perf_counter() - t0, 3)
    info = ctx.worker.ledger.session(run.session_id)
    if info.state.name not in ("VERIFIED", "FINAL"):
        raise ReplayError(
            f"verify: session {run.session_id} is {info.state.name}, not VERIFIED "
            f"({step_detail(ctx, run.session_id, 'verify')})"
        )
    run.delivery = final_report(ctx.runtime.engine, ctx.runtime.bundles, run.session_id)


def step_detail(ctx: ReplayContext, session_id: str, step: str) -> str:
    """The lifecycle worker's record of ``step`` (status: detail), for error messages."""
    for row in step_history(ctx.runtime.engine, session_id):
        if row["step"] == step:
            return f"{step} step {row['status']}: {row['detail']}"
    return f"{step} step not run"


def phase_final(ctx: ReplayContext, run: SessionRun) -> None:
    """Finalize after the challenge window; with netting (the default) the FSPs have posted
    their revenue-sharing contracts and contributions, and the worker's clearing-house step nets
    the session on-chain right after ``finalize``."""
    chain, ledger = ctx.chain, ctx.worker.ledger
    sharing = post_revenue_sharing(ctx, run) if ctx.options.netting else None
    info = ledger.session(run.session_id)
    chain.control.warp_to(int(info.verified_at + info.challenge_window))
    ctx.worker.run_once()
    info = ledger.session(run.session_id)
    if info.state.name != "FINAL":
        raise ReplayError(
            f"final: session {run.session_id} is {info.state.name}, not FINAL "
            f"({step_detail(ctx, run.session_id, 'finalize')})"
        )
    if sharing is not None:
        netted = step_detail(ctx, run.session_id, "clearing")
        if not netted.startswith("clearing step DONE"):
            raise ReplayError(f"final: session {run.session_id}: {netted}")
        run.netting = netting_outcome(ctx, run, sharing)
    else:  # the same clearing-house computation, off-chain, for the report
        run.netting = implied_sharing(ctx, run)
    clearing, attested = ledger.clearing(run.session_id), ledger.payouts(run.session_id)
    run.roots.update(
        session_id_onchain=hex32(uuid_to_bytes32(run.session_id)),
        input_hash=hex32(clearing.input_hash) if clearing else "",
        result_root=hex32(clearing.result_root) if clearing else "",
        delivery_root=hex32(attested.delivery_root) if attested else "",
        payouts_onchain=list(attested.payouts) if attested else [],
    )
    market = chain.contracts.market
    holders = {pid: a for pid, a in chain.addresses.items() if pid != "meter-oracle"}
    if run.netting is not None and run.netting.onchain:
        for address, name in run.netting.names.items():
            if name not in holders and address not in {a.lower() for a in holders.values()}:
                holders[name] = to_checksum_address(address)
    for pid in sorted(holders):
        account = ChainAccount(market, chain.contracts.token, holders[pid])
        if market.receivable_creditors(account.address):
            # what it owes from an earlier netting is repaid before it withdraws (the contract
            # would repay it inside withdraw too; explicit, so credits() is what it withdraws)
            chain.control.set_balance(account.address, FUNDING_WEI)
            market.repay_receivables(account.address, sender=account.address)
        credit = account.credits_units()
        if credit == 0:
            continue
        run.credited[account.address.lower()] = credit
        chain.control.set_balance(account.address, FUNDING_WEI)  # payees without gas money too
        run.withdrawn[pid] = account.withdraw()
