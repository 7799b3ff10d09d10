"""The input bundle's hash is computed item by item (issue 18: the whole canonical document was
the 100 000-offer clearing's peak memory); it must stay keccak256 of that whole document."""

from __future__ import annotations

import pytest

from clearing.bundle import InputBundle, bundle_hash
from clearing.settlement.rules import SettlementRules
from clearing.synthetic import generate_session
from clearing.terms import SessionTerms
from clearing.trust import keccak256


def _with_terms(b: InputBundle) -> InputBundle:
    terms = SessionTerms(
        session_id=b.session_id,
        gate_closure=b.start_time - 600,
        delivery_start=b.start_time,
        delivery_end=b.start_time + b.isp_count * b.isp_s,
        isp_s=b.isp_s,
        challenge_window_s=600,
        meter_grace_s=60,
        congestion_points=b.congestion_points,
        settlement=SettlementRules(),
    )
    return b.model_copy(update={"terms": terms})


@pytest.mark.parametrize("seed", [0, 3])
def test_the_streamed_hash_is_the_hash_of_the_whole_canonical_document(seed: int) -> None:
    b = generate_session(40, seed)
    empty = b.model_copy(update={"offers": (), "prognoses": (), "requests": ()})
    for bundle in (b, empty, _with_terms(b), InputBundle.model_validate_json(b.to_canonical())):
        assert bundle_hash(bundle) == keccak256(bundle.to_canonical())
    # and it still depends on every part: an offer, a request and a rule
    assert bundle_hash(b.model_copy(update={"offers": b.offers[1:]})) != bundle_hash(b)
    assert bundle_hash(b.model_copy(update={"requests": b.requests[1:]})) != bundle_hash(b)
    rules = b.rules.model_copy(update={"mip_gap_ppm": b.rules.mip_gap_ppm + 1})
    assert bundle_hash(b.model_copy(update={"rules": rules})) != bundle_hash(b)
