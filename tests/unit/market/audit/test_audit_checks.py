"""The checks on hand-made chain data: lifecycle timing, money, netting, offers, exit codes."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from adapters.chain.client import DecodedEvent
from adapters.chain.session_view import ChainRequest, ChainSession, SessionRoots
from adapters.chain.types import (
    OfferCommitment,
    Reservation,
    SessionState,
)
from clearing.bundle import CongestionPoint, InputBundle
from clearing.commitments import offers_root
from clearing.encoding import uuid_to_bytes32
from clearing.messages import FlexOffer, FlexOfferOption, IspPower
from market.audit.chain_view import (
    SETTLE_NETTING_SELECTOR,
    SETTLE_NETTING_TYPES,
    AuditedSession,
    ChainView,
    NettingInput,
    decode_settle_netting,
)
from market.audit.check_lifecycle import check_lifecycle
from market.audit.check_money import check_market_money, check_money
from market.audit.check_offers import check_offers
from market.audit.findings import AuditCannotRun, AuditReport, CheckResult, SessionAudit
from market.audit.registry import StationRegistry
from market.audit.runner import parse_session_arg
from market.audit.session_bundles import SessionBundles

SID = str(uuid.uuid4())
SID32 = uuid_to_bytes32(SID)
RID = bytes(range(32))
DSO = "0x" + "d5" * 20
FSP = "0x" + "f1" * 20
GATE, START, END, WINDOW = 10_000, 10_900, 14_500, 600


def stored(state: SessionState = SessionState.FINAL) -> ChainSession:
    return ChainSession(
        state=state,
        gate_closure=GATE,
        delivery_start=START,
        delivery_end=END,
        isp_s=900,
        challenge_window=WINDOW,
        verified_at=END,
        index=0,
        request_count=1,
        reservation_count=1,
        budget=1_000,
        reserved=600,
        paid=500,
        reservations_hash=b"\4" * 32,
        payouts_hash=b"\5" * 32,
        disputed_by="0x" + "00" * 20,
        dispute_reason_hash=bytes(32),
        terms_hash=b"\6" * 32,
    )


ROOTS = SessionRoots(input_hash=b"\1" * 32, result_root=b"\2" * 32, delivery_root=b"\3" * 32)


def event(name: str, block: int, *, tx: str | None = None, index: int = 0, **args) -> DecodedEvent:  # type: ignore[no-untyped-def]
    tx_hash = tx or f"0xtx{block}{name}"
    return DecodedEvent(name, args, "0xmarket", "FlexMarket", block, tx_hash, index)


def view(events: list[DecodedEvent], ts: dict[int, int], **kw) -> ChainView:  # type: ignore[no-untyped-def]
    values = {"token_balance": 0, "total_escrowed": 0, "total_credited": 0, **kw}
    return ChainView(
        client=None,
        market=SimpleNamespace(address="0xmarket"),
        token_address="0xtoken",  # type: ignore[arg-type]
        from_block=0,
        to_block=max(ts),
        events=events,
        sessions={},
        block_ts=ts,
        **values,
    )


def session(
    events: list[DecodedEvent], credits: list[DecodedEvent], state=SessionState.FINAL
) -> AuditedSession:  # type: ignore[no-untyped-def]
    return AuditedSession(
        session_id=SID32,
        chain=stored(state),
        roots=ROOTS,
        events=events,
        requests={RID: ChainRequest(0, DSO, bytes(32), 1_000, False, 0)},
        posted_budgets={RID: 1_000},
        request_order=[RID],
        reservations=[Reservation(RID, FSP, 600)],
        payouts=[500],
        credits=credits,
    )


def honest_events() -> tuple[list[DecodedEvent], dict[int, int]]:
    events = [
        event("SessionCreated", 1, sessionId=SID32),
        event("RequestPosted", 2, sessionId=SID32, requestId=RID, budget=1_000),
        event("OffersCommitted", 3, sessionId=SID32, fsp=FSP),
        event("SessionClosed", 4, sessionId=SID32),
        event("ClearingPosted", 4, sessionId=SID32),
        event("DeliveryAttested", 5, sessionId=SID32),
        event("SessionFinalized", 6, sessionId=SID32, totalPaid=500, totalRefunded=500),
    ]
    return events, {1: 100, 2: 200, 3: 300, 4: GATE, 5: END, 6: END + WINDOW}


def credits(refund: int = 500) -> list[DecodedEvent]:
    return [
        event("Credited", 6, account=FSP, ref=SID32, amount=500),
        event("Credited", 6, account=DSO, ref=SID32, amount=refund),
    ]


def test_honest_lifecycle_and_money_pass() -> None:
    events, ts = honest_events()
    cs = session(events, credits())
    assert check_lifecycle(cs, view(events, ts)).findings == []
    sb = SessionBundles(session_id=SID)
    assert check_money(cs, sb).findings == []


@pytest.mark.parametrize(
    ("event_name", "block_ts", "code"),
    [
        ("OffersCommitted", GATE, "lifecycle.offer_after_gate_closure"),
        ("RequestPosted", GATE + 1, "lifecycle.request_after_gate_closure"),
        ("DeliveryAttested", END - 1, "lifecycle.attested_before_delivery_end"),
        ("SessionClosed", GATE - 1, "lifecycle.closed_before_gate_closure"),
    ],
)
def test_lifecycle_timing_violations_are_named(event_name: str, block_ts: int, code: str) -> None:
    events, ts = honest_events()
    block = next(e.block_number for e in events if e.name == event_name)
    if event_name in ("SessionClosed",):  # give it a block of its own
        events = [
            e if e.name != event_name else event(event_name, 9, sessionId=SID32) for e in events
        ]
        block = 9
    ts[block] = block_ts
    result = check_lifecycle(session(events, credits()), view(events, ts))
    assert code in {f.code for f in result.findings}


def test_finalization_inside_the_challenge_window_is_named() -> None:
    events, ts = honest_events()
    ts[6] = END + WINDOW - 1
    result = check_lifecycle(session(events, credits()), view(events, ts))
    assert [f.code for f in result.findings] == ["lifecycle.finalized_in_window"]


def test_refund_short_by_one_is_named_with_the_amount() -> None:
    events, _ = honest_events()
    result = check_money(session(events, credits(refund=499)), SessionBundles(SID))
    (finding,) = result.findings
    assert finding.code == "money.refund_mismatch" and "short by 1 units" in finding.message
    assert finding.subject == DSO


FEE_TO = "0x" + "fe" * 20


def netting(period: bytes, block: int, amounts: dict[str, int], fee: int) -> list[DecodedEvent]:
    """What one settleNetting emits: debits, member credits, the fee credit, NettingSettled."""
    tx = f"0xnet{block}"
    out = [
        event("Debited", block, tx=tx, account=a, ref=period, amount=-v)
        for a, v in amounts.items()
        if v < 0
    ]
    out += [
        event("Credited", block, tx=tx, account=a, ref=period, amount=v)
        for a, v in amounts.items()
        if v > 0
    ]
    if fee:
        out.append(event("Credited", block, tx=tx, account=FEE_TO, ref=period, amount=fee))
    out.append(
        event(
            "NettingSettled",
            block,
            tx=tx,
            periodId=period,
            memberCount=len(amounts),
            fee=fee,
            feeRecipient=FEE_TO,
        )
    )
    return [
        DecodedEvent(e.name, e.args, e.address, e.contract, block, tx, i) for i, e in enumerate(out)
    ]


def test_market_balance_and_netting_reconcile_from_events() -> None:
    period = b"\x09" * 32
    events, ts = honest_events()
    events += [
        *credits(),
        event("Withdrawn", 7, account=FSP, to=FSP, amount=500),
        *netting(period, 8, {DSO: -100, FSP: 90}, 10),
    ]
    ok = view(events, ts, token_balance=500, total_escrowed=0, total_credited=500)
    assert check_market_money(ok)[0].findings == []
    short = view(events, ts, token_balance=499, total_escrowed=0, total_credited=500)
    assert [f.code for f in check_market_money(short)[0].findings] == ["money.balance_mismatch"]
    unbalanced = [e for e in events if not (e.name == "Credited" and e.args["amount"] == 90)]
    result = check_market_money(view(unbalanced, ts, token_balance=410, total_credited=410))
    assert "money.netting_unbalanced" in {f.code for f in result[0].findings}


def test_session_period_netting_is_not_a_refund_and_matches_settle_input() -> None:
    """The period id of a session's netting is its session id: its credits are not refunds."""
    events, ts = honest_events()
    net = netting(SID32, 7, {DSO: -300, FSP: 280}, 20)
    events += [*credits(), *net]
    cs = session(events, credits())
    assert check_money(cs, SessionBundles(SID)).findings == []
    declared = NettingInput(SID32, [DSO.lower(), FSP.lower()], [-300, 280], 20, FEE_TO)
    honest = view(
        events, ts, token_balance=1_000, total_credited=1_000, netting_inputs={"0xnet7": declared}
    )
    result = check_market_money(honest)[0]
    assert result.findings == [] and "moving 300 units" in result.notes[0]
    # a report whose settled positions disagree with what was credited is caught
    tampered = NettingInput(SID32, [DSO.lower(), FSP.lower()], [-290, 270], 20, FEE_TO)
    bad = view(
        events, ts, token_balance=1_000, total_credited=1_000, netting_inputs={"0xnet7": tampered}
    )
    found = check_market_money(bad)[0].findings
    assert {f.code for f in found} == {"money.netting_unbalanced"}
    assert sorted(f.message.split(":")[0] for f in found) == sorted([DSO.lower(), FSP.lower()])


def test_settle_netting_calldata_decodes() -> None:
    from eth_abi import encode

    data = SETTLE_NETTING_SELECTOR + encode(
        list(SETTLE_NETTING_TYPES), [SID32, [DSO, FSP], [-300, 280], 20, FEE_TO]
    )
    decoded = decode_settle_netting("0x" + data.hex())
    assert decoded == NettingInput(SID32, [DSO.lower(), FSP.lower()], [-300, 280], 20, FEE_TO)
    assert decode_settle_netting("0xdeadbeef") is None


def _offer(fsp: str, price: int) -> FlexOffer:
    return FlexOffer(
        offer_id=str(uuid.uuid4()),
        session_id=SID,
        fsp=fsp,
        congestion_point="CP",
        direction="UP",
        expires_at=0,
        options=(
            FlexOfferOption(
                option_ref="o",
                isps=(IspPower(isp_index=0, power_w=5),),
                price_per_mwh=price,
                min_activation_ppm=1_000_000,
            ),
        ),
    )


def test_offer_sets_added_dropped_changed() -> None:
    a, b = _offer(FSP, 10), _offer(FSP, 20)
    bundle = InputBundle(
        session_id=SID,
        isp_count=1,
        start_time=0,
        congestion_points=(CongestionPoint(code="CP"),),
        offers=(a, b),
    )
    cs = session([], [])
    cs.commitments = {FSP: OfferCommitment(offers_root([a, b]), 2, 0)}
    assert check_offers(cs, SessionBundles(SID, input=bundle)).findings == []
    changed = bundle.model_copy(update={"offers": (a, b.model_copy(update={"expires_at": 1}))})
    dropped = bundle.model_copy(update={"offers": (a,)})
    added = bundle.model_copy(update={"offers": (a, b, _offer(FSP, 30))})
    stranger = bundle.model_copy(update={"offers": (a, b, _offer("0x" + "77" * 20, 30))})
    for b2, code in (
        (changed, "offers.changed"),
        (dropped, "offers.dropped"),
        (added, "offers.added"),
        (stranger, "offers.added"),
    ):
        found = check_offers(cs, SessionBundles(SID, input=b2)).findings
        assert [f.code for f in found] == [code]


def test_exit_codes_and_messages() -> None:
    report = AuditReport(rpc="r", market="m", bundles=None)
    s = SessionAudit(onchain_id="0x", session_id=SID, state="FINAL", checks=[CheckResult("offers")])
    report.sessions.append(s)
    assert report.exit_code == 0 and report.message.startswith("PASS")
    s.checks.append(CheckResult("delivery").error("could not run: delivery bundle missing"))
    assert report.exit_code == 2 and "delivery bundle missing" in report.message
    s.checks[0].add("offers.changed", "x", FSP)
    assert report.exit_code == 1 and "offers.changed" in report.message
    report.fatal = "RPC unreachable"
    assert report.exit_code == 2


def test_station_registry_forms_and_conflicts() -> None:
    from eth_account import Account

    acct = Account.create()
    pub = "0x" + acct._key_obj.public_key.to_bytes().hex()
    with pytest.raises(AuditCannotRun, match="names no owners"):  # one format: the list
        StationRegistry.from_json({"CS-1": pub}, "f")
    assets = [{"station_id": "CS-1", "owner": FSP, "meter_public_key": pub}]
    reg = StationRegistry.from_json(assets, "a")
    assert reg.owners == {"CS-1": {FSP}} and reg.keys == {"CS-1": acct.address.lower()}
    # an unknown field or a missing owner: that station is not trusted, the others are
    odd = StationRegistry.from_json(
        [
            *assets,
            {"station_id": "CS-2", "owner": FSP, "meter_public_key": pub, "trust_me": True},
            {"station_id": "CS-3", "meter_public_key": pub},
        ],
        "a",
    )
    assert set(odd.keys) == {"CS-1"} and set(odd.invalid) == {"CS-2", "CS-3"}
    assert "trust_me" in odd.invalid["CS-2"] and "owner" in odd.invalid["CS-3"]
    # a second key for one station distrusts that station only, it does not stop the audit
    twice = StationRegistry.from_json(
        [*assets, {**assets[0], "meter_public_key": "0x" + "12" * 20}], "a"
    )
    assert "CS-1" not in twice.keys and set(twice.conflicts) == {"CS-1"}
    assert [code for code, _, _ in twice.trouble({"CS-1"})] == ["registry.station_key_conflict"]


def test_session_argument_accepts_uuid_or_onchain_id() -> None:
    assert parse_session_arg(SID) == (SID32, SID)
    assert parse_session_arg("0x" + SID32.hex()) == (SID32, None)
    from market.audit.findings import AuditCannotRun

    with pytest.raises(AuditCannotRun, match="--session"):
        parse_session_arg("nope")


def test_netting_with_a_receivable_reconciles_and_a_forged_one_is_caught() -> None:
    """Issue 19: FSP holds 500 and owes 700; the netting debits 500 and records 200 owed to the
    DSO. Credits + receivables per account equal settleNetting's input; a receivable the
    input does not explain is a finding."""
    events, ts = honest_events()
    tx = "0xnet7"
    owed = {"debtor": FSP, "creditor": DSO, "periodId": SID32, "amount": 200}
    settled = {"periodId": SID32, "memberCount": 2, "fee": 0, "feeRecipient": FEE_TO}
    net = [
        event("Debited", 7, tx=tx, index=0, account=FSP, ref=SID32, amount=500),
        event("Credited", 7, tx=tx, index=1, account=DSO, ref=SID32, amount=500),
        event("ReceivableRecorded", 7, tx=tx, index=2, **owed),
        event("NettingSettled", 7, tx=tx, index=3, **settled),
    ]
    events += [*credits(), *net]
    declared = NettingInput(SID32, [DSO.lower(), FSP.lower()], [700, -700], 0, FEE_TO)
    honest = view(
        events, ts, token_balance=1_000, total_credited=1_000, netting_inputs={tx: declared}
    )
    result = check_market_money(honest)[0]
    assert result.findings == [] and "moving 500 units" in result.notes[0]
    forged = NettingInput(SID32, [DSO.lower(), FSP.lower()], [500, -500], 0, FEE_TO)
    bad = view(events, ts, token_balance=1_000, total_credited=1_000, netting_inputs={tx: forged})
    found = check_market_money(bad)[0].findings
    assert {f.code for f in found} == {"money.netting_unbalanced"}
