"""Threats of issue 14 item 4: the station registry trusts the signer.

Closed: a station belongs to the FSP that registered it first, with its meter key. The
readings threats of the same item (unsigned and future-dated readings) are closed too; their
tests live in test_meter_readings.py with the other refusals of ``POST /meter-readings``.
"""

from __future__ import annotations

import pytest
from market_helpers import CP, new_id, setup_market

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


def _refused(call: object) -> int:
    """The HTTP status a refused write got (0 when it was accepted)."""
    try:
        call()  # type: ignore[operator]
    except ApiError as exc:
        return exc.status
    return 0


def test_fsp_cannot_register_a_station_another_fsp_registered(clients) -> None:
    setup_market(clients("operator"))
    clients("fsp_a").register_asset(_asset("CS-THREAT-1", METER_KEY_A))
    status = _refused(lambda: clients("fsp_b").register_asset(_asset("CS-THREAT-1", METER_KEY_B)))
    assert status in (403, 409)


def test_another_fsp_may_register_another_evse_of_a_shared_station(clients) -> None:
    setup_market(clients("operator"))
    clients("fsp_a").register_asset(_asset("CS-SHARED", METER_KEY_A))
    second = _asset("CS-SHARED", METER_KEY_A).model_copy(update={"evse_id": 2})
    clients("fsp_b").register_asset(second)  # a public station serves several EMSPs
    same_evse = _asset("CS-SHARED", METER_KEY_A)
    assert _refused(lambda: clients("fsp_b").register_asset(same_evse)) == 409


def test_meter_key_cannot_be_swapped_by_re_registering(clients) -> None:
    setup_market(clients("operator"))
    fsp = clients("fsp_a")
    fsp.register_asset(_asset("CS-THREAT-2", METER_KEY_A))
    status = _refused(lambda: fsp.register_asset(_asset("CS-THREAT-2", METER_KEY_B)))
    assert status in (403, 409)
    keys = {a["meter_public_key"] for a in fsp.assets(owner=fsp.address)}
    assert keys == {METER_KEY_A}
