"""The fsp_data check on its own: delivery inputs against the FSPs' committed hashes."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from adapters.chain.types import OfferCommitment
from clearing.commitments import portfolio_hash, prognosis_hash
from clearing.messages import BaselineIsp, DPrognosis
from clearing.settlement.meter import MeterRef
from clearing.settlement.report import Portfolio
from market.audit.check_fsp_data import check_fsp_data
from market.audit.session_bundles import SessionBundles

SID = str(uuid.uuid4())
FSP = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20


def _prognosis(fsp: str, power_w: int) -> DPrognosis:
    return DPrognosis(
        prognosis_id=str(uuid.uuid4()),
        session_id=SID,
        fsp=fsp,
        congestion_point="CP",
        isps=(BaselineIsp(isp_index=0, power_w=power_w),),
    )


def _portfolio(fsp: str, station: str) -> Portfolio:
    return Portfolio(fsp=fsp, congestion_point="CP", meters=(MeterRef(station=station, evse=1),))


def _session(commitments: dict[str, OfferCommitment]) -> Any:
    class _Cs:  # only what the check reads
        pass

    cs = _Cs()
    cs.commitments = commitments  # type: ignore[attr-defined]
    return cs


def _bundles(prognoses: list[DPrognosis], portfolios: list[Portfolio]) -> SessionBundles:
    inputs = {
        "prognoses": [p.model_dump(mode="json") for p in prognoses],
        "portfolios": [p.model_dump(mode="json") for p in portfolios],
    }
    return SessionBundles(SID, delivery={"inputs": inputs, "report": {}})


def _committed(prognoses: list[DPrognosis], portfolios: list[Portfolio]) -> OfferCommitment:
    return OfferCommitment(
        root=b"\x01" * 32,
        count=1,
        committed_at=0,
        prognosis_hash=prognosis_hash(prognoses),
        portfolio_hash=portfolio_hash(portfolios),
    )


def test_each_substitution_is_named_for_its_fsp_only() -> None:
    mine, theirs = _prognosis(FSP, 100), _prognosis(OTHER, 50)
    meters, their_meters = _portfolio(FSP, "ST-1"), _portfolio(OTHER, "ST-2")
    cs = _session({FSP: _committed([mine], [meters]), OTHER: _committed([theirs], [their_meters])})
    honest = check_fsp_data(cs, _bundles([mine, theirs], [meters, their_meters]))
    assert honest.findings == [] and honest.status == "pass"

    inflated = _prognosis(FSP, 900)
    found = check_fsp_data(cs, _bundles([inflated, theirs], [meters, their_meters])).findings
    assert [(f.code, f.subject) for f in found] == [("prognosis.substituted", FSP)]

    moved = _portfolio(FSP, "ST-2")  # the competitor's meter in FSP's portfolio
    found = check_fsp_data(cs, _bundles([mine, theirs], [moved, their_meters])).findings
    assert [(f.code, f.subject) for f in found] == [("portfolio.substituted", FSP)]

    found = check_fsp_data(cs, _bundles([mine, theirs], [their_meters])).findings  # dropped
    assert [(f.code, f.subject) for f in found] == [("portfolio.substituted", FSP)]


def test_malformed_delivery_inputs_are_a_finding_not_a_traceback() -> None:
    cs = _session({FSP: _committed([], [])})
    bad = SessionBundles(SID, delivery={"inputs": {"portfolios": [{"fsp": 1}]}, "report": {}})
    found = check_fsp_data(cs, bad).findings
    assert [f.code for f in found] == ["bundle.unparseable"]
    assert check_fsp_data(cs, SessionBundles(SID)).status == "skip"


def test_the_contract_set_root_is_part_of_the_portfolio_preimage() -> None:
    """The FSP committed a contract set with its meters: the delivery bundle must name that
    root (``contract_sets``), another root (or none) is a substituted portfolio."""
    meters = _portfolio(FSP, "ST-1")
    root = b"\x07" * 32
    committed = dataclasses.replace(
        _committed([], [meters]), portfolio_hash=portfolio_hash([meters], root)
    )
    cs = _session({FSP: committed})

    def with_root(value: bytes | None) -> SessionBundles:
        sb = _bundles([], [meters])
        assert sb.delivery is not None
        if value is not None:
            sb.delivery["inputs"]["contract_sets"] = [{"fsp": FSP, "root": "0x" + value.hex()}]
        return sb

    assert check_fsp_data(cs, with_root(root)).findings == []
    for other in (None, b"\x08" * 32):
        found = check_fsp_data(cs, with_root(other)).findings
        assert [(f.code, f.subject) for f in found] == [("portfolio.substituted", FSP)]
