"""Which template the gateway's claims use (issue 19), and ``fsp run``'s wiring: no template,
no claim signer (issuing answers 501 naming netting.templates); a template for another FSP
stops the gateway at start, named by its path. The signer posting to a real market is in
tests/integration/market/settlement/test_ev_claims.py."""

from __future__ import annotations

import uuid

import pytest

from clearing.settlement.revenue_template import RevenueShareTemplate
from market.clearing_house.period import SignedTemplate
from market.client import MarketClient
from market.fsp.claim_contract import check_templates, current_template
from market.fsp.config import NettingConfig, parse_config
from market.fsp.runner import _claim_signer
from market.participant.errors import ParticipantError
from market.participant.participant import Participant

KEY = "0x" + "42" * 32
FSP = MarketClient("http://127.0.0.1:9", KEY).address.lower()


def _template(fsp: str, start: int, end: int) -> SignedTemplate:
    t = RevenueShareTemplate(
        template_id=str(uuid.uuid4()),
        fsp=fsp,
        cpo="0x" + "c0" * 20,
        platform="0x" + "d0" * 20,
        user_incentive_mode="percent",
        valid_from=start,
        valid_until=end,
    )
    return SignedTemplate(template=t, signatures=())


def test_the_current_template_is_the_valid_one_that_lasts_longest() -> None:
    short, long_, later = _template(FSP, 0, 200), _template(FSP, 50, 900), _template(FSP, 500, 999)
    assert current_template([short, long_, later], 100) == long_
    assert current_template([short, later], 300) is None  # between them: none valid
    assert current_template([], 100) is None


def _cfg(netting: NettingConfig | None):
    base = {
        "market_url": "http://127.0.0.1:9",
        "key_env": "K",
        "dev": True,
        "csms": {
            "stations": {
                "ST-1": {
                    "password": "pw-secret-1",
                    "evses": [{"evse_id": 1, "congestion_point": "CP-1", "max_import_w": 7_000}],
                }
            }
        },
    }
    cfg = parse_config(base)
    return cfg.model_copy(update={"netting": netting})


def _keep(_signed: object) -> None:
    """The gateway's store of claim contracts (not reached: nothing is issued here)."""


def _forget(_contract_id: str) -> None:
    """Its removal of a refused one (not reached either)."""


def test_fsp_run_signs_claims_only_with_a_template_of_its_own() -> None:
    participant = Participant(MarketClient("http://127.0.0.1:9", KEY))
    log: list[dict] = []
    assert (
        _claim_signer(_cfg(None), participant, KEY, lambda: 0.0, log.append, _keep, _forget) is None
    )
    assert (
        _claim_signer(
            _cfg(NettingConfig()), participant, KEY, lambda: 0.0, log.append, _keep, _forget
        )
        is None
    )
    mine = NettingConfig(templates=[_template(FSP, 0, 10**9)])
    assert (
        _claim_signer(_cfg(mine), participant, KEY, lambda: 0.0, log.append, _keep, _forget)
        is not None
    )
    other = NettingConfig(templates=[_template(FSP, 0, 10**9), _template("0x" + "ee" * 20, 0, 9)])
    with pytest.raises(ParticipantError) as err:
        _claim_signer(_cfg(other), participant, KEY, lambda: 0.0, log.append, _keep, _forget)
    assert err.value.field == "netting.templates[1].template.fsp"
    check_templates(mine.templates, FSP.upper().replace("0X", "0x"))  # any case of the address
