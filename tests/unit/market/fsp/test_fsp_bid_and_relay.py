"""Two passes of the gateway that used to loop: the prognosis is posted once per (session,
congestion point) even when a later pass's fleet gives another body (the market would answer
409 to the same message id with a new body), and a refusal never blocks the offers; readings
outside every known delivery window stay in the outbox, not relayed one by one.

The market is a stand-in here (it records what it was sent and refuses as the API does);
the real API's refusals are tested in tests/integration/market/api/test_meter_readings.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from adapters.ocpp.sink import MeterReading
from market.agents.common import MarketSession
from market.agents.fleet import EV, UserPreferences
from market.agents.fsp import FspAgent
from market.fsp.config import parse_config
from market.fsp.gateway import FspGateway
from market.fsp.outbox import WINDOW_MARGIN_S, relay
from market.fsp.store import GatewayStore
from market.participant.errors import ParticipantError

T0 = 1_767_225_600  # an ISP boundary
CP = "ean.871685000000000001"
SID = "6f1c1b7e-0000-4000-8000-000000000001"
FSP = "0x" + "ab" * 20


class StandInMarket:
    """Records each post; refuses prognoses of ``refuse_cp`` and readings in ``outside``."""

    def __init__(self, refuse_cp: str = "", outside: tuple[int, int] = (0, -1)) -> None:
        self.address = FSP
        self.prognoses: list[Any] = []
        self.readings: list[int] = []
        self.refuse_cp = refuse_cp
        self.outside = outside

    def post_prognosis(self, prognosis: Any) -> dict[str, Any]:
        if prognosis.congestion_point == self.refuse_cp:
            raise ParticipantError("prognosis.body", "message id reused", status=409)
        self.prognoses.append(prognosis)
        return {}

    def post_readings(self, readings: list[Any]) -> None:
        ts = readings[0].timestamp
        if self.outside[0] <= ts <= self.outside[1]:
            raise ParticipantError(
                "body.timestamp", f"{ts} is outside every session's delivery window", status=422
            )
        self.readings.append(ts)


def _gateway(tmp_path: Path, market: StandInMarket, log: list[dict[str, Any]]) -> FspGateway:
    cfg = parse_config(
        {
            "market_url": "http://m",
            "key_env": "K",
            "csms": {
                "stations": {
                    "ST": {
                        "password_env": "P",
                        "evses": [{"evse_id": 1, "congestion_point": CP, "max_import_w": 11_000}],
                    }
                }
            },
        }
    )
    store = GatewayStore(f"sqlite:///{tmp_path}/gw.db", now=lambda: T0)
    return FspGateway(
        cfg=cfg,
        participant=cast(Any, market),
        store=store,
        csms=cast(Any, None),  # post_prognoses never reaches the CSMS
        now=lambda: T0,
        log=log.append,
    )


def _agent(soc_wh: int) -> FspAgent:
    session = MarketSession(session_id=SID, start_unix=T0, n_isps=8, gate_closure_unix=T0)
    car = EV(
        ev_id="ev1",
        station_id="ST",
        evse_id=1,
        congestion_point=CP,
        capacity_wh=60_000,
        soc_wh=soc_wh,
        arrival_unix=T0,
        max_charge_w=11_000,
        max_discharge_w=0,
        preferences=UserPreferences(departure_unix=T0 + 8 * 3600, min_departure_soc_wh=40_000),
    )
    return FspAgent(fsp_address=FSP, session=session, evs=[car])


def test_the_prognosis_is_posted_once_per_session_and_point_whatever_later_passes_plan(
    tmp_path: Path,
) -> None:
    market, log = StandInMarket(), []
    gw = _gateway(tmp_path, market, log)
    first, later = _agent(20_000), _agent(55_000)
    assert first.prognoses()[0] != later.prognoses()[0]  # the fleet changed: another body
    gw.post_prognoses(SID, first)
    gw.post_prognoses(SID, later)
    assert market.prognoses == first.prognoses()
    # a restarted gateway (same database) does not post it again either
    _gateway(tmp_path, market, log).post_prognoses(SID, later)
    assert market.prognoses == first.prognoses()
    assert gw.ev.prognosis_outcome(SID, CP) == "posted"


def test_a_refused_prognosis_is_logged_once_and_does_not_stop_the_bid(tmp_path: Path) -> None:
    market, log = StandInMarket(refuse_cp=CP), []
    gw = _gateway(tmp_path, market, log)
    gw.post_prognoses(SID, _agent(20_000))  # returns: the offers come next
    gw.post_prognoses(SID, _agent(55_000))
    refused = [e for e in log if e["event"] == "prognosis_refused"]
    assert len(refused) == 1 and refused[0]["congestion_point"] == CP
    assert (gw.ev.prognosis_outcome(SID, CP) or "").startswith("refused: prognosis.body")


def _reading(ts: int) -> MeterReading:
    return MeterReading(
        "ST", 1, ts, ts - T0 + 100, 0, 7_000, 40, "ocpp2.1", ts, "d", "0x01", "0x02"
    )


def test_readings_outside_every_window_stay_in_the_outbox_and_are_logged_once(
    tmp_path: Path,
) -> None:
    market, log = StandInMarket(outside=(T0 + 7_200, T0 + 7_200)), []
    gw = _gateway(tmp_path, market, log)
    window = (T0, T0 + 3_600)
    far = T0 + 3_600 + WINDOW_MARGIN_S + 60  # no known window comes near it
    stamps = [T0 - 60, T0 + 60, T0 + 7_200, far]
    for ts in stamps:
        assert gw.store.put_reading(_reading(ts))
    sent = relay(gw.store, cast(Any, market), log.append, windows=[window])
    assert sent == 2 and market.readings == [T0 - 60, T0 + 60]
    # ``far``: kept as outside, never posted; T0 + 7 200: the market's own "outside every
    # session's delivery window", kept as outside too; one log line for both
    assert gw.store.outbox_counts() == {"sent": 2, "outside": 2}
    assert [(e["event"], e["readings"]) for e in log] == [("readings_outside_windows", 2)]
    assert relay(gw.store, cast(Any, market), log.append, windows=[window]) == 0
    assert market.readings == [T0 - 60, T0 + 60] and len(log) == 1


def test_the_relay_yields_to_a_market_event_and_keeps_the_rest_pending(tmp_path: Path) -> None:
    """A session cleared while a meter interval of every station is being relayed: the relay
    stops before the next reading, so the pass that dispatches the orders starts at once."""
    market, log = StandInMarket(), []
    gw = _gateway(tmp_path, market, log)
    for k in range(5):
        assert gw.store.put_reading(_reading(T0 + 60 * k))
    woken = lambda: len(market.readings) >= 2  # noqa: E731 - the event came after the second
    assert (
        relay(gw.store, cast(Any, market), log.append, windows=[(T0, T0 + 3600)], stop=woken) == 2
    )
    assert gw.store.outbox_counts() == {"sent": 2, "pending": 3}
    assert relay(gw.store, cast(Any, market), log.append, windows=[(T0, T0 + 3600)]) == 3
    assert market.readings == [T0 + 60 * k for k in range(5)]
