"""POST /meter-readings refuses what verification would drop (issue 15 item 6).

Each refusal is a problem naming the field and the reason, and leaves the readings table
unchanged; a duplicate reading gets the same answer and is stored once.
"""

from __future__ import annotations

from typing import Any

import pytest
from market_helpers import CP, cpo_grants, new_id, open_session, setup_market
from sqlalchemy import func, select

from clearing.settlement.meter import sign_reading
from clearing.trust import station_address
from market.api.schemas import AssetCreate
from market.client import ApiError, MarketClient
from market.runtime import Runtime
from market.store import models as m
from market.store.models import MeterReadingCreate

pytestmark = pytest.mark.integration
STATION = "CS-READ-1"
METER_KEY = "0x" + "42" * 32
OTHER_KEY = "0x" + "43" * 32


@pytest.fixture(autouse=True)
def _cpo_granted_the_station(chain) -> None:
    """The station's CPO registered its key on-chain and granted it to fsp_a."""
    cpo_grants(chain, STATION, _public_key(METER_KEY), "fsp_a")


def _market(runtime: Runtime, clients: Any) -> int:
    """A session delivering from now + 600 s, and fsp_a's station; returns a good timestamp."""
    op = clients("operator")
    setup_market(op)
    now = int(runtime.core.clock.now())
    open_session(op, now)
    clients("fsp_a").register_asset(
        AssetCreate(
            asset_id=new_id(),
            congestion_point=CP,
            station_id=STATION,
            evse_id=1,
            max_import_w=11_000,
            max_export_w=0,
            meter_public_key=station_address(_public_key(METER_KEY)),
        )
    )
    return now - 60  # before delivery, inside the baseline margin of one gap (900 s)


def _public_key(private_key: str) -> str:
    from eth_account import Account

    return str(Account.from_key(private_key).address)


def _reading(
    ts: int, *, key: str = METER_KEY, station: str = STATION, import_wh: int = 1_000, **kw: Any
) -> MeterReadingCreate:
    signed = sign_reading(
        key, station=station, evse=1, timestamp=ts, import_wh=import_wh, export_wh=0
    )
    body: dict[str, Any] = {
        "station_id": station,
        "evse_id": 1,
        "timestamp": ts,
        "import_wh": import_wh,
        "export_wh": 0,
        "signed_data": signed.payload().decode(),
        "signature": signed.signature,
        "public_key": _public_key(key),
    }
    return MeterReadingCreate.model_validate({**body, **kw})


def _stored(runtime: Runtime) -> int:
    with runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(m.MeterReading)).scalar_one())


def _refusal(client: MarketClient, body: MeterReadingCreate, runtime: Runtime) -> ApiError:
    before = _stored(runtime)
    with pytest.raises(ApiError) as err:
        client.post_meter_reading(body)
    assert _stored(runtime) == before, "a refused reading was stored"
    return err.value


def test_a_signed_in_window_reading_of_a_registered_station_is_stored(runtime, clients) -> None:
    ts = _market(runtime, clients)
    answer = clients("oracle").post_meter_reading(_reading(ts))
    assert answer["timestamp"] == ts and answer["protocol"] == "api"
    assert _stored(runtime) == 1


def test_unsigned_reading_is_refused(runtime, clients) -> None:
    ts = _market(runtime, clients)
    unsigned = _reading(ts, signed_data=None, signature=None, public_key=None)
    err = _refusal(clients("oracle"), unsigned, runtime)
    assert (err.status, err.field) == (422, "body.signed_data")
    assert "unsigned" in str(err)
    no_key = _reading(ts, public_key=None)
    assert _refusal(clients("oracle"), no_key, runtime).field == "body.public_key"


def test_reading_signed_by_a_key_not_registered_for_the_station_is_refused(
    runtime, clients
) -> None:
    ts = _market(runtime, clients)
    err = _refusal(clients("oracle"), _reading(ts, key=OTHER_KEY), runtime)
    assert (err.status, err.field) == (422, "body.public_key")
    assert "is not the meter key registered" in str(err)


def test_reading_whose_signature_does_not_verify_is_refused(runtime, clients) -> None:
    ts = _market(runtime, clients)
    forged = _reading(ts, signature=_reading(ts, key=OTHER_KEY).signature)
    err = _refusal(clients("oracle"), forged, runtime)
    assert (err.status, err.field) == (422, "body.signature")
    assert "does not verify" in str(err)
    changed = _reading(ts, import_wh=1_000).model_copy(update={"import_wh": 9_000})
    err = _refusal(clients("oracle"), changed, runtime)
    assert (err.status, err.field) == (422, "body.import_wh")
    assert "differs from what the meter signed (1000)" in str(err)


def test_fsp_may_post_only_its_own_stations_readings(runtime, clients) -> None:
    ts = _market(runtime, clients)
    err = _refusal(clients("fsp_b"), _reading(ts), runtime)
    assert (err.status, err.field) == (403, "body.station_id")
    assert "not in your portfolio" in str(err)
    clients("fsp_a").post_meter_reading(_reading(ts))  # the station's own FSP relays it
    assert _stored(runtime) == 1


def test_oracle_may_not_post_readings_of_an_unregistered_station(runtime, clients) -> None:
    ts = _market(runtime, clients)
    err = _refusal(clients("oracle"), _reading(ts, station="CS-NOBODY"), runtime)
    assert (err.status, err.field) == (422, "body.station_id")
    assert "not registered" in str(err)


def test_future_dated_reading_is_refused(runtime, clients) -> None:
    _market(runtime, clients)
    now = int(runtime.core.clock.now())
    err = _refusal(clients("oracle"), _reading(now + 1_800), runtime)
    assert (err.status, err.field) == (422, "body.timestamp")
    assert "in the future" in str(err) and "clock skew allowance 60 s" in str(err)
    clients("oracle").post_meter_reading(_reading(now + 30))  # within the clock skew


def test_reading_outside_every_delivery_window_is_refused(runtime, clients) -> None:
    ts = _market(runtime, clients)
    err = _refusal(clients("oracle"), _reading(ts - 86_400), runtime)
    assert (err.status, err.field) == (422, "body.timestamp")
    assert "outside every session's delivery window" in str(err)


def test_duplicate_reading_is_idempotent(runtime, clients) -> None:
    ts = _market(runtime, clients)
    oracle = clients("oracle")
    first = oracle.post_meter_reading(_reading(ts))
    again = oracle.post_meter_reading(_reading(ts))  # a new message id, the same reading
    by_fsp = clients("fsp_a").post_meter_reading(_reading(ts))
    assert first == again == by_fsp
    assert _stored(runtime) == 1


def test_conflicting_duplicate_reading_is_a_conflict(runtime, clients) -> None:
    ts = _market(runtime, clients)
    clients("oracle").post_meter_reading(_reading(ts))
    err = _refusal(clients("oracle"), _reading(ts, import_wh=2_000), runtime)
    assert (err.status, err.field) == (409, "body.import_wh")
    assert "stored with other registers (import 1000 Wh" in str(err)
