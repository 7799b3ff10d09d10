"""The FSP gateway's CSMS acting for the stations' CPO (``market/fsp/cpo.py``): after the
meter grace it signs digests of the readings in its outbox and posts them as the CPO; the
worker then attests; a reading that reaches the CSMS after the cut is held back from the relay
until the session is attested.  Real anvil, real store, the API in-process, a real gateway
store (SQLite)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from service_settlement_helpers import STATION_KEYS, digests_to_delivery, pubkey
from service_settlement_helpers import store_readings as store

from adapters.chain.types import SessionState
from adapters.ocpp.sink import MeterReading
from clearing.settlement.meter import SignedMeterReading, sign_reading
from market.client import MarketClient
from market.fsp.cpo import CpoDigests
from market.fsp.store import GatewayStore
from market.participant.errors import ParticipantError
from market.runtime import attach_settlement

pytestmark = pytest.mark.integration


def _outbox_reading(r: SignedMeterReading) -> MeterReading:
    """A reading as the gateway's CSMS stores it (the station's signed bytes kept)."""
    return MeterReading(
        station_id=r.station,
        evse_id=r.evse,
        timestamp=r.timestamp,
        import_wh=r.import_wh,
        export_wh=r.export_wh,
        power_w=0,
        soc_pct=None,
        protocol="ocpp2.0.1",
        received_at=r.timestamp,
        signed_data=r.payload().decode(),
        signature=r.signature,
        public_key=pubkey(STATION_KEYS[r.station]),
    )


def _cpo(chain, runtime, api, gw, log: list[dict[str, Any]], deployment) -> CpoDigests:
    """The gateway's CPO side for both stations, posting in-process, configured with
    ``deployment`` (chain id, market address)."""
    now = runtime.core.clock.now
    return CpoDigests(
        gw,
        {"ST-A": chain.keys["cpo"], "ST-B": chain.keys["cpo"]},
        "http://market.test",
        now,
        log.append,
        client_for=lambda key: MarketClient("http://market.test", key, http_client=api, now=now),
        deployment=deployment,
    )


def test_gateway_signs_and_posts_the_cpo_digests_and_holds_late_readings(
    chain, runtime, clients, api, monkeypatch, tmp_path
) -> None:
    s, worker, received = digests_to_delivery(chain, runtime, clients, monkeypatch)
    store(runtime.engine, received)  # what the relay already delivered to the market
    settings = runtime.settings.model_copy(update={"oracle_key": chain.keys["oracle"]})
    attach_settlement(worker, settings, ledger=runtime.ledger)

    gw = GatewayStore(f"sqlite:///{tmp_path / 'gateway.db'}")
    for r in received:
        assert gw.put_reading(_outbox_reading(r))
    log: list[dict[str, Any]] = []
    cpo = _cpo(
        chain, runtime, api, gw, log, (runtime.ledger.chain_id, runtime.ledger.market_address)
    )
    fsp = SimpleNamespace(client=clients("fsp_a"))
    row = {"id": s.session_id, "state": "CLEARED", "delivery_end": s.delivery_end}

    chain.warp_to(s.delivery_end + 30)  # inside the meter grace (60 s): not yet
    cpo.step(row, fsp)  # type: ignore[arg-type]
    assert not log
    chain.warp_to(s.delivery_end + 61)
    cpo.step(row, fsp)  # type: ignore[arg-type]
    assert [e["event"] for e in log] == ["readings_digests_cut", "readings_digests_sent"]
    stored = clients("cpo")._get(f"/sessions/{s.session_id}/readings-digests")
    assert {d["station"] for d in stored} == {"ST-A", "ST-B"}
    assert sum(d["count"] for d in stored) == len(received)

    # a reading in the window that reaches the CSMS after the cut: held back while CLEARED
    late = sign_reading(
        STATION_KEYS["ST-A"],
        station="ST-A",
        evse=1,
        timestamp=s.delivery_end + 60,
        import_wh=received[-1].import_wh + 10_000,
        export_wh=0,
    )
    assert gw.put_reading(_outbox_reading(late))
    (pending,) = [p for p in gw.pending() if p.reading.timestamp == late.timestamp]
    assert cpo.hold([row])(pending.id, late.timestamp)
    assert not cpo.hold([row])(pending.id - 1, late.timestamp)  # counted rows are relayed

    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.VERIFIED
    attested = {**row, "state": "VERIFIED"}
    assert not cpo.hold([attested])(pending.id, late.timestamp)  # released after attestation
    cpo.step(attested, fsp)  # type: ignore[arg-type]
    assert len(log) == 2  # posted once


@pytest.mark.parametrize(
    ("field", "change"),
    [("deployment.chain_id", (1, 0)), ("deployment.market_address", (0, 1))],
)
def test_gateway_signs_nothing_for_a_deployment_its_configuration_does_not_name(
    chain, runtime, clients, api, monkeypatch, tmp_path, field, change
) -> None:
    """The market's ``GET /deployment`` names another chain id or market contract than the
    CPO's own configuration: the cut is refused naming the field, no digest is signed or
    stored; the same gateway configured with the advertised deployment signs (honest twin:
    the test above)."""
    s, _worker, received = digests_to_delivery(chain, runtime, clients, monkeypatch)
    gw = GatewayStore(f"sqlite:///{tmp_path / 'gateway.db'}")
    for r in received:
        assert gw.put_reading(_outbox_reading(r))
    chain_id, market = runtime.ledger.chain_id, runtime.ledger.market_address
    own = (chain_id + change[0], "0x" + "ab" * 20 if change[1] else market)
    log: list[dict[str, Any]] = []
    cpo = _cpo(chain, runtime, api, gw, log, own)
    fsp = SimpleNamespace(client=clients("fsp_a"))
    row = {"id": s.session_id, "state": "CLEARED", "delivery_end": s.delivery_end}
    chain.warp_to(s.delivery_end + 61)
    with pytest.raises(ParticipantError) as err:
        cpo.step(row, fsp)  # type: ignore[arg-type]
    assert err.value.field == field and "no readings digest signed" in err.value.reason
    assert "\n" not in err.value.reason
    assert not log  # no cut taken, nothing signed
    assert clients("cpo")._get(f"/sessions/{s.session_id}/readings-digests") == []
