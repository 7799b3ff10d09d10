"""Check 6: money moved as the session and the market-wide ledger say it should."""

from __future__ import annotations

from collections import defaultdict

from adapters.chain.client import DecodedEvent
from adapters.chain.types import SessionState
from clearing.encoding import hex32
from market.audit.chain_view import (
    AuditedSession,
    ChainView,
    NettingInput,
    credited_by_account,
    is_netting_entry,
    netting_txs,
)
from market.audit.findings import CheckResult
from market.audit.session_bundles import SessionBundles, uuid32


def check_money(cs: AuditedSession, sb: SessionBundles) -> CheckResult:
    res = CheckResult("money")
    for rid, info in cs.requests.items():
        if info.budget != cs.posted_budgets.get(rid):
            res.add(
                "money.budget_changed",
                f"request() budget {info.budget}, "
                f"RequestPosted budget {cs.posted_budgets.get(rid)}",
                hex32(rid),
            )
    if cs.chain.state != SessionState.FINAL:
        if not res.findings:
            res.skip(f"session is {cs.chain.state.name}, not FINAL")
        return res
    paid_per_request: dict[bytes, int] = defaultdict(int)
    expected: dict[str, int] = defaultdict(int)
    fsps: set[str] = set()
    for r, p in zip(cs.reservations, cs.payouts, strict=True):
        paid_per_request[bytes(r.request_id)] += p
        expected[r.fsp.lower()] += p
        fsps.add(r.fsp.lower())
    refunds: dict[bytes, int] = {}
    for rid in cs.request_order:
        info = cs.requests[rid]
        if info.cancelled:
            continue
        budget = cs.posted_budgets[rid]
        paid = paid_per_request.get(rid, 0)
        if paid > budget:
            res.add("money.payout_exceeds_budget", f"payouts {paid} > budget {budget}", hex32(rid))
        refunds[rid] = budget - paid
        expected[info.dso.lower()] += budget - paid
    credited = credited_by_account(cs.credits)
    for account in sorted(set(expected) | set(credited)):
        want, got = expected.get(account, 0), credited.get(account, 0)
        if want == got:
            continue
        code = "money.payout_credit_mismatch" if account in fsps else "money.refund_mismatch"
        diff = got - want
        how = f"short by {-diff}" if diff < 0 else f"over by {diff}"
        res.add(code, f"credited {got} at finalization, expected {want} ({how} units)", account)
    final = cs.named("SessionFinalized")
    total_paid = sum(cs.payouts)
    total_refund = sum(refunds.values())
    if final:
        args = final[-1].args
        if int(args["totalPaid"]) != total_paid or int(args["totalRefunded"]) != total_refund:
            res.add(
                "money.finalized_totals_mismatch",
                f"SessionFinalized paid {args['totalPaid']} / refunded {args['totalRefunded']}, "
                f"expected {total_paid} / {total_refund}",
            )
    followed = sb.resolution if cs.resolved else sb.delivery  # the report money followed
    if followed is not None:
        lines = followed["report"].get("refunds")
        for line in lines if isinstance(lines, list) else []:
            if not isinstance(line, dict):
                continue
            declared_rid = uuid32(str(line.get("request_id")))
            if declared_rid in refunds and line.get("refund_units") != refunds[declared_rid]:
                res.add(
                    "money.refund_mismatch",
                    f"report declares refund {line.get('refund_units')}, budget - payouts on-chain "
                    f"is {refunds[declared_rid]}",
                    str(line.get("request_id")),
                )
    res.notes.append(f"paid {total_paid}, refunded {total_refund} (expected from the chain)")
    return res


def check_market_money(view: ChainView) -> list[CheckResult]:
    """Token balance vs escrow + credit, the contract's totals, each netting period."""
    res = CheckResult("money")
    budgets: dict[bytes, tuple[bytes, int]] = {}
    cancelled: set[bytes] = set()
    final: set[bytes] = set()
    credits = debits = withdrawn = 0
    nets = netting_txs(view.events)
    entries: dict[str, list[DecodedEvent]] = defaultdict(list)  # netting tx -> Credited/Debited
    nettings: list[DecodedEvent] = []
    for e in view.events:
        a = e.args
        if e.name == "RequestPosted":
            budgets[bytes(a["requestId"])] = (bytes(a["sessionId"]), int(a["budget"]))
        elif e.name == "RequestCancelled":
            cancelled.add(bytes(a["requestId"]))
        elif e.name == "SessionFinalized":
            final.add(bytes(a["sessionId"]))
        elif e.name == "Credited":
            credits += int(a["amount"])
        elif e.name == "Debited":
            debits += int(a["amount"])
        elif e.name == "Withdrawn":
            withdrawn += int(a["amount"])
        elif e.name == "NettingSettled":
            nettings.append(e)
        if is_netting_entry(e, nets):
            entries[e.tx_hash].append(e)
    escrowed = sum(
        b for rid, (sid, b) in budgets.items() if rid not in cancelled and sid not in final
    )
    # netting moves credit between members (credits - debits == 0 per period), so its entries
    # belong in the reconciliation like any other credit or debit
    credited = credits - debits - withdrawn
    if view.token_balance != escrowed + credited:
        res.add(
            "money.balance_mismatch",
            f"balanceOf(market) {view.token_balance} != escrowed {escrowed} + credited "
            f"{credited} = {escrowed + credited} (from events)",
            view.market.address,
        )
    if view.total_escrowed != escrowed:
        res.add(
            "money.escrow_total_mismatch",
            f"totalEscrowed() {view.total_escrowed}, events give {escrowed}",
            view.market.address,
        )
    if view.total_credited != credited:
        res.add(
            "money.credit_total_mismatch",
            f"totalCredited() {view.total_credited}, events give {credited}",
            view.market.address,
        )
    netted = 0
    for e in nettings:
        netted += _check_netting_period(res, e, entries[e.tx_hash], view.netting_inputs)
    res.notes.append(
        f"balance {view.token_balance} = escrowed {escrowed} + credited {credited}; "
        f"{len(nettings)} netting period(s) moving {netted} units; "
        f"events from block {view.from_block} to {view.to_block}"
    )
    return [res]


def _check_netting_period(
    res: CheckResult,
    settled: DecodedEvent,
    entries: list[DecodedEvent],
    inputs: dict[str, NettingInput],
) -> int:
    """One period: per-member credits - debits == the settled netAmounts, sum(net) + fee == 0.

    ``settleNetting`` debits, then credits members, then credits the fee to its recipient last,
    so the fee is the last Credited of the transaction; everything before it is members' net.
    Returns the units debited (the credit the period moved)."""
    period = bytes(settled.args["periodId"])
    subject = hex32(period)
    fee = int(settled.args["fee"])
    recipient = str(settled.args.get("feeRecipient", "")).lower()
    ordered = sorted(entries, key=lambda x: x.log_index)
    fee_seen = 0
    if fee and ordered:
        last = ordered[-1]
        if (
            last.name == "Credited"
            and int(last.args["amount"]) == fee
            and (not recipient or str(last.args["account"]).lower() == recipient)
        ):
            fee_seen = fee
            ordered = ordered[:-1]
    if fee_seen != fee:
        res.add(
            "money.netting_unbalanced",
            f"NettingSettled fee {fee}, but no fee credit of {fee} to {recipient or '?'}",
            subject,
        )
    net: dict[str, int] = defaultdict(int)
    for x in ordered:
        sign = 1 if x.name == "Credited" else -1
        net[str(x.args["account"]).lower()] += sign * int(x.args["amount"])
    total = sum(net.values())
    if total + fee != 0:
        res.add(
            "money.netting_unbalanced",
            f"members' net positions sum to {total}, fee {fee}: sum + fee is {total + fee}, not 0",
            subject,
        )
    declared = inputs.get(settled.tx_hash)
    if declared is not None:
        want: dict[str, int] = defaultdict(int)
        for m, amount in zip(declared.members, declared.net_amounts, strict=True):
            want[m] += amount
        if declared.period_id != period or declared.fee != fee:
            res.add(
                "money.netting_unbalanced",
                f"settleNetting input period {hex32(declared.period_id)} fee {declared.fee}, "
                f"NettingSettled says fee {fee}",
                subject,
            )
        if sum(declared.net_amounts) + declared.fee != 0:
            res.add(
                "money.netting_unbalanced",
                f"settleNetting netAmounts sum to {sum(declared.net_amounts)}, fee "
                f"{declared.fee}: not zero",
                subject,
            )
        for account in sorted(set(want) | set(net)):
            if want.get(account, 0) != net.get(account, 0):
                res.add(
                    "money.netting_unbalanced",
                    f"{account}: credits - debits {net.get(account, 0)} in the period, "
                    f"settleNetting net amount {want.get(account, 0)}",
                    subject,
                )
    return sum(-v for v in net.values() if v < 0)
