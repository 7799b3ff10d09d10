"""Threats of issue 14 item 4 that are still open: registry and readings trust the signer.

Each test states the safe behaviour and is marked ``xfail(strict=True)``: it fails today (the
threat is real) and turns red as an unexpected pass the day issue 16 fixes it, so the fix
must remove the mark and docs/SECURITY.md must move the row to "covered".
"""

from __future__ import annotations

import pytest
from market_helpers import CP, new_id, setup_market

from market.api.schemas import AssetCreate
from market.client import ApiError
from market.store.models import MeterReadingCreate

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


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="issue 16: POST /assets lets any FSP register any station id",
)
def test_fsp_cannot_register_a_station_another_fsp_registered(clients) -> None:
    setup_market(clients("operator"))
    clients("fsp_a").register_asset(_asset("CS-THREAT-1", METER_KEY_A))
    status = _refused(lambda: clients("fsp_b").register_asset(_asset("CS-THREAT-1", METER_KEY_B)))
    assert status in (403, 409)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="issue 16: re-registering a station swaps its meter key unchecked",
)
def test_meter_key_cannot_be_swapped_by_re_registering(clients) -> None:
    setup_market(clients("operator"))
    fsp = clients("fsp_a")
    fsp.register_asset(_asset("CS-THREAT-2", METER_KEY_A))
    status = _refused(lambda: fsp.register_asset(_asset("CS-THREAT-2", METER_KEY_B)))
    assert status in (403, 409)
    keys = {a["meter_public_key"] for a in fsp.assets(owner=fsp.address)}
    assert keys == {METER_KEY_A}


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="issue 16: the meter oracle's unsigned readings are accepted",
)
def test_unsigned_meter_reading_is_refused(runtime, clients) -> None:
    reading = MeterReadingCreate(
        station_id="CS-THREAT-3",
        timestamp=int(runtime.core.clock.now()) - 60,
        import_wh=10,
        export_wh=0,
    )
    assert _refused(lambda: clients("oracle").post_meter_reading(reading)) == 422


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="issue 16: the meter oracle's future-dated readings are accepted",
)
def test_future_dated_meter_reading_is_refused(runtime, clients) -> None:
    reading = MeterReadingCreate(
        station_id="CS-THREAT-4",
        timestamp=int(runtime.core.clock.now()) + 86_400,
        import_wh=10,
        export_wh=0,
        signed_data="OCMF|{}|{}",
        signature="0x" + "11" * 65,
        public_key=METER_KEY_A,
    )
    assert _refused(lambda: clients("oracle").post_meter_reading(reading)) == 422
