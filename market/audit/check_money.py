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
    net_positions,
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
    """One period: credits == debits, and what each account got - credits minus debits, plus
    the receivables recorded to it, minus those recorded against it (issue 19: a debit takes
    at most the member's credit, the rest is owed on-chain) - equals its settled netAmount,
    plus the fee for the fee recipient. Returns the units debited (the credit it moved)."""
    period = bytes(settled.args["periodId"])
    subject = hex32(period)
    fee = int(settled.args["fee"])
    net: dict[str, int] = defaultdict(int)
    moved = {"Credited": 0, "Debited": 0}
    for x in entries:
        amount = int(x.args["amount"])
        if x.name == "ReceivableRecorded":
            net[str(x.args["debtor"]).lower()] -= amount
            net[str(x.args["creditor"]).lower()] += amount
            continue
        moved[x.name] += amount
        net[str(x.args["account"]).lower()] += amount if x.name == "Credited" else -amount
    if moved["Credited"] != moved["Debited"]:
        res.add(
            "money.netting_unbalanced",
            f"the period credits {moved['Credited']} but debits {moved['Debited']} "
            f"(fee {fee} included): netting must move credit, not create it",
            subject,
        )
    declared = inputs.get(settled.tx_hash)
    if declared is not None:
        want = net_positions(
            declared.members, declared.net_amounts, declared.fee, declared.fee_recipient
        )
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
                    f"{account}: credits - debits (with receivables) {net.get(account, 0)} in "
                    f"the period, settleNetting net amount {want.get(account, 0)}",
                    subject,
                )
    return moved["Debited"]
