"""A session whose step never comes: the auditor names it stuck, and a refund past the deadline
(``refundStuck``, callable by anyone) is a legitimate end that audits clean."""

from __future__ import annotations

import pytest
from audit_helpers import audit, codes, stage

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_a_cleared_session_never_attested_is_stuck_until_refunded(chain, route) -> None:
    market = chain.contracts.market
    staged = stage(chain, route, deliver=False)  # cleared on-chain, delivery never attested
    (route.folder / "stations.json").write_text("[]")  # no station ever delivered
    deadline = market.stuck_deadline(staged.onchain_id)
    assert deadline > 0

    in_time = audit(chain, route, staged)
    assert "lifecycle.stuck" not in codes(in_time), in_time.to_json()

    chain.node.warp_to(deadline)
    stuck = audit(chain, route, staged)
    assert stuck.exit_code == 1 and "lifecycle.stuck" in codes(stuck), stuck.to_json()

    market.refund_stuck(staged.onchain_id, sender=chain.addresses["fsp_b"])  # anyone may
    refunded = audit(chain, route, staged)
    assert refunded.exit_code == 0, refunded.to_json()
    (session,) = refunded.sessions
    assert session.state == "FINAL"


def test_a_refund_before_the_deadline_is_refused_on_chain(chain, route) -> None:
    from adapters.chain.revert import ContractRevert

    market = chain.contracts.market
    staged = stage(chain, route, deliver=False)
    with pytest.raises(ContractRevert, match="FlexMarketTooEarly"):
        market.refund_stuck(staged.onchain_id, sender=chain.addresses["fsp_b"])
