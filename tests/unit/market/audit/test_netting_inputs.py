"""The netting's contributions against the FSPs' signed envelopes, one way of lying at a time
(real EIP-712 signatures; the integration tests run the same check through the auditor)."""

from __future__ import annotations

from typing import Any

from clearing.settlement.revenue import UserContribution
from market.audit.findings import CheckResult
from market.audit.netting_inputs import check_contribution_envelopes, check_dropped_rows
from market.auth.eip712 import Domain, address_of, sign_message
from market.clearing_house.netting_bundle import ContributionsEnvelope

SID = "11111111-1111-4111-8111-111111111111"
KEY, OTHER_KEY = "0x" + "11" * 32, "0x" + "22" * 32
FSP, OTHER = address_of(KEY), address_of(OTHER_KEY)
USER = "0x" + "ab" * 20
DOMAIN = Domain(31337, "0x" + "cc" * 20)
GATE = 1_000


def _row(fsp: str = FSP, shifted_wh: int = 5_000, session_id: str = SID) -> UserContribution:
    return UserContribution(
        session_id=session_id, fsp=fsp, ev_user=USER, shifted_wh=shifted_wh, discharged_wh=0
    )


def _envelope(
    rows: list[UserContribution],
    *,
    key: str = KEY,
    session_id: str = SID,
    expiry: int = GATE + 3_600,
    kind: str = "user_contributions",
    domain: Domain = DOMAIN,
) -> ContributionsEnvelope:
    body: dict[str, Any] = {
        "session_id": session_id,
        "contributions": [r.model_dump() for r in rows],
    }
    env = sign_message(domain, key, kind=kind, body=body, expiry=expiry)
    return ContributionsEnvelope.model_validate(env)


def _codes(
    envelopes: list[ContributionsEnvelope],
    used: list[UserContribution],
    covered: set[tuple[str, str]] | None = None,
) -> list[str]:
    """Findings; ``covered``: the pairs a committed contract covers (default: every pair)."""
    res = CheckResult("netting")
    signed = check_contribution_envelopes(
        res, envelopes, used, session_id=SID, domain=DOMAIN, gate_closure=GATE
    )
    pairs = {(r[1], r[2]) for r in signed} if covered is None else covered
    check_dropped_rows(res, signed, used, pairs)
    return sorted(f.code for f in res.findings)


def test_the_signed_rows_used_unchanged_pass() -> None:
    assert _codes([_envelope([_row()])], [_row()]) == []
    assert _codes([], []) == []


def test_each_way_of_lying_is_named() -> None:
    signed = _envelope([_row()])
    assert _codes([signed], [_row(shifted_wh=50_000)]) == [
        "netting.contributions_dropped",
        "netting.contributions_unsigned",
    ]
    assert _codes([], [_row()]) == ["netting.contributions_unsigned"]  # no envelope at all
    other_market = _envelope([_row()], domain=Domain(31337, "0x" + "dd" * 20))
    assert _codes([other_market], [_row()]) == ["netting.contributions_bad_signature"]
    by_other = _envelope([_row()], key=OTHER_KEY)  # rows naming FSP, signed by another FSP
    assert _codes([by_other], [_row()]) == [
        "netting.contributions_unsigned",  # the row FSP never signed
        "netting.contributions_wrong_signer",
    ]
    other_kind = _envelope([_row()], kind="readings_digests")  # another message, same body
    assert _codes([other_kind], [_row()]) == ["netting.contributions_wrong_signer"]
    other_session = "22222222-2222-4222-8222-222222222222"
    stale = _envelope([_row(session_id=other_session)], session_id=other_session)
    assert _codes([stale], [_row()]) == ["netting.contributions_wrong_session"]
    expired = _envelope([_row()], expiry=GATE)
    assert _codes([expired], [_row()]) == ["netting.contributions_expired"]
    twice = [signed, _envelope([_row()])]
    assert _codes(twice, [_row()]) == ["netting.contributions_duplicate"]


def test_a_signed_row_no_committed_contract_covers_is_left_out_without_a_finding() -> None:
    """A claim issued after the FSP's commitment: its user's row has no contract to share by,
    so the netting leaves it out (the FSP keeps that revenue) and nothing else is blocked."""
    signed = _envelope([_row()])
    assert _codes([signed], [], covered=set()) == []
    assert _codes([signed], [], covered={(FSP.lower(), USER)}) == ["netting.contributions_dropped"]


def test_a_contract_id_applied_twice_is_named() -> None:
    """The FSP reused an id for another user; the house applies the old version (for USER)
    before the committed one of that id. Checked by id alone, the last one hid the first."""
    from types import SimpleNamespace

    from clearing.commitments import contract_set_root, portfolio_hash
    from clearing.settlement.revenue import RevenueShareContract
    from market.audit.netting_inputs import check_contract_sets
    from market.clearing_house.period import SignedContract

    other_user = "0x" + "ef" * 20
    old = RevenueShareContract(
        contract_id="c-1", fsp=FSP.lower(), ev_user=USER, cpo=OTHER.lower(),
        platform=OTHER.lower(), user_incentive_mode="percent", user_incentive_ppm=100_000,
        valid_from=0, valid_until=10,
    )  # fmt: skip
    committed = old.model_copy(update={"ev_user": other_user})
    bundle = SimpleNamespace(
        committed_contracts=[SimpleNamespace(fsp=FSP.lower(), contracts=(committed,))],
        contributions=[_row()],
        at_ts=5,
        contracts=[SignedContract(contract=c, signatures=()) for c in (old, committed)],
    )
    onchain = SimpleNamespace(portfolio_hash=portfolio_hash([], contract_set_root([committed])))
    cs = SimpleNamespace(commitments={FSP.lower(): onchain})
    res = CheckResult("netting")
    check_contract_sets(res, bundle, cs, [], set())  # type: ignore[arg-type]
    assert [f.code for f in res.findings] == ["netting.contract_duplicate"]
