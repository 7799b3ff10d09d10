"""Threats of issue 14 item 4 and issue 16 item 3: the station registry trusts the signer.

Closed: a station's meter key is the one its CPO registered on-chain, and only the FSP the
CPO granted the station to may register it (``POST /assets`` refuses any other with a named
problem). The readings threats of issue 14 (unsigned and future-dated readings) are closed
too; their tests live in test_meter_readings.py with the other refusals of
``POST /meter-readings``.
"""

from __future__ import annotations

import pytest
from market_helpers import CP, cpo_grants, new_id, setup_market

from market.api.schemas import AssetCreate
from market.client import ApiError

pytestmark = pytest.mark.integration
METER_KEY_A = "0x" + "aa" * 20
METER_KEY_B = "0x" + "bb" * 20


def _asset(station_id: str, meter_key: str) -> AssetCreate:
    return AssetCreate(
        asset_id=new_id(),
        congestion_point=CP,
        station_id=station_id,
        evse_id=1,
        max_import_w=11_000,
        max_export_w=0,
        meter_public_key=meter_key,
    )


def _refusal(call: object) -> tuple[int, str, str]:
    """Status, problem type and field of a refused write ((0, "", "") when accepted)."""
    try:
        call()  # type: ignore[operator]
    except ApiError as exc:
        problem = exc.problem
        return exc.status, str(problem.get("type", "")), str(problem.get("field", ""))
    return 0, "", ""


def test_fsp_cannot_register_a_station_no_cpo_registered(clients) -> None:
    setup_market(clients("operator"))
    status, kind, field = _refusal(
        lambda: clients("fsp_a").register_asset(_asset("CS-NO-CPO", METER_KEY_A))
    )
    assert (status, kind.rsplit("/", 1)[-1], field) == (
        403,
        "station-not-granted",
        "body.station_id",
    )
    assert clients("fsp_a").assets(owner=clients("fsp_a").address) == []


def test_fsp_cannot_register_a_station_its_cpo_granted_to_another_fsp(chain, clients) -> None:
    setup_market(clients("operator"))
    cpo_grants(chain, "CS-THREAT-1", METER_KEY_A, "fsp_a")
    clients("fsp_a").register_asset(_asset("CS-THREAT-1", METER_KEY_A))
    for evse in (1, 2):  # not the claimed EVSE, nor another one of the same meter
        other = _asset("CS-THREAT-1", METER_KEY_A).model_copy(update={"evse_id": evse})
        status, kind, field = _refusal(lambda a=other: clients("fsp_b").register_asset(a))
        assert (status, kind.rsplit("/", 1)[-1], field) == (
            403,
            "station-not-granted",
            "body.station_id",
        )


def test_the_cpo_key_wins_over_a_declared_one(chain, clients) -> None:
    setup_market(clients("operator"))
    cpo_grants(chain, "CS-THREAT-2", METER_KEY_A, "fsp_a")
    fsp = clients("fsp_a")
    status, kind, field = _refusal(lambda: fsp.register_asset(_asset("CS-THREAT-2", METER_KEY_B)))
    assert (status, kind.rsplit("/", 1)[-1], field) == (
        409,
        "chain-mismatch",
        "body.meter_public_key",
    )
    undeclared = _asset("CS-THREAT-2", METER_KEY_A).model_copy(update={"meter_public_key": None})
    fsp.register_asset(undeclared)  # no key given: the CPO's is stored
    keys = {a["meter_public_key"] for a in fsp.assets(owner=fsp.address)}
    assert keys == {METER_KEY_A}


def test_a_withdrawn_grant_refuses_the_next_registration(chain, clients) -> None:
    setup_market(clients("operator"))
    cpo_grants(chain, "CS-THREAT-3", METER_KEY_A, "fsp_a")
    market = chain.contracts.market
    market.grant_station("CS-THREAT-3", "0x" + "00" * 20, sender=chain.addresses["cpo"])
    status, kind, _ = _refusal(
        lambda: clients("fsp_a").register_asset(_asset("CS-THREAT-3", METER_KEY_A))
    )
    assert (status, kind.rsplit("/", 1)[-1]) == (403, "station-not-granted")
