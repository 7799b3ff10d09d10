"""A gateway that makes no offer says why in its log (``no_bid``), once per session and
reason: before its lead time, with no EV in the session, and with requests only where it
has no EV. ``bench live`` once reached no station because every gateway returned silently
while the DSO requested at a feeder where no FSP had an EV.

The market is a stand-in (it records what it was sent), as in test_fsp_bid_and_relay.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from adapters.ocpp.csms import Csms
from adapters.ocpp.sink import MeterReading
from clearing.messages import FlexRequest, RequestIsp
from market.fsp.config import parse_config
from market.fsp.gateway import FspGateway
from market.fsp.store import GatewayStore

T0 = 1_767_225_600  # delivery start, an ISP boundary
GATE = T0 - 900
CP, OTHER_CP = "ean.871685000000000001", "ean.871685000000000002"
SID = "6f1c1b7e-0000-4000-8000-000000000001"
REQ = "6f1c1b7e-0000-4000-8000-0000000000aa"
FSP = "0x" + "ab" * 20
ROW = {
    "id": SID,
    "state": "OPEN",
    "gate_closure": GATE,
    "delivery_start": T0,
    "delivery_end": T0 + 3600,
    "isp_s": 900,
}


class StandInMarket:
    """Answers the session's requests; records the prognoses it was sent."""

    def __init__(self, requests: list[FlexRequest]) -> None:
        self.address = FSP
        self.prognoses: list[Any] = []
        self._requests = requests

    def post_prognosis(self, prognosis: Any) -> dict[str, Any]:
        self.prognoses.append(prognosis)
        return {}

    def requests(self, session_id: str) -> list[FlexRequest]:
        return [r for r in self._requests if r.session_id == session_id]

    def commit_offers(self, offers: list[Any]) -> str:
        return "0x" + "00" * 32

    def post_offers(self, offers: list[Any]) -> None:
        self.offers = list(offers)


def _request(cp: str) -> FlexRequest:
    return FlexRequest(
        request_id=REQ,
        session_id=SID,
        congestion_point=cp,
        direction="DOWN",
        revision=0,
        expires_at=GATE,
        max_price_per_mwh=500_000_000,
        budget_units=10**9,
        all_or_nothing=False,
        isps=tuple(
            RequestIsp(isp_index=k, disposition="Requested", min_power_w=0, max_power_w=5_000)
            for k in range(4)
        ),
    )


def _gateway(tmp_path: Path, market: StandInMarket, clock: list[int], stays: bool) -> Any:
    stay = {
        "ev_id": "ev1",
        "station": "ST",
        "evse_id": 1,
        "congestion_point": CP,
        "battery_wh": 60_000,
        "arrival_soc_pct": 40,
        "arrival_unix": T0 - 7200,
        "departure_unix": T0 + 8 * 3600,
        "max_charge_w": 7_400,
        "min_departure_soc_pct": 60,
    }
    cfg = parse_config(
        {
            "market_url": "http://m",
            "key_env": "K",
            "csms": {
                "stations": {
                    "ST": {
                        "password_env": "P",
                        "evses": [{"evse_id": 1, "congestion_point": CP, "max_import_w": 7_400}],
                    }
                }
            },
            "offers": {"lead_s": 3600},
            "ev_stays": [stay] if stays else [],
        }
    )
    log: list[dict[str, Any]] = []
    gw = FspGateway(
        cfg=cfg,
        participant=cast(Any, market),
        store=GatewayStore(f"sqlite:///{tmp_path}/gw.db", now=lambda: clock[0]),
        csms=Csms(
            credentials={"ST": "secret"}
        ),  # not started: no station has connected, none is plugged
        now=lambda: clock[0],
        log=log.append,
    )
    return gw, log


def _no_bids(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in log if e["event"] == "no_bid"]


def test_before_the_lead_time_it_says_so_once_then_bids_at_exactly_the_lead(
    tmp_path: Path,
) -> None:
    market, clock = StandInMarket([_request(OTHER_CP)]), [GATE - 3601]
    gw, log = _gateway(tmp_path, market, clock, stays=True)
    gw.bid(ROW)
    gw.bid(ROW)
    assert [(e["reason"], e["lead_s"]) for e in _no_bids(log)] == [("before_lead", 3600)]
    clock[0] = GATE - 3600  # the orchestrator opens the session at exactly gate - lead
    gw.bid(ROW)
    assert [p.congestion_point for p in market.prognoses] == [CP]  # it planned its fleet


def test_requests_only_where_it_has_no_ev_are_named_with_its_own_points(tmp_path: Path) -> None:
    market, clock = StandInMarket([_request(OTHER_CP)]), [GATE - 600]
    gw, log = _gateway(tmp_path, market, clock, stays=True)
    gw.bid(ROW)
    gw.bid(ROW)  # said once per session and reason
    (said,) = _no_bids(log)
    assert said["reason"] == "no_offer" and said["evs"] == 1
    assert said["requests"] == {REQ: f"no flexible EV at {OTHER_CP} (this FSP's EVs are at {CP})"}
    assert gw.store.offer_record(SID) is None  # nothing planned: the next pass looks again


def test_no_ev_in_the_session_is_said_with_what_it_knows(tmp_path: Path) -> None:
    market, clock = StandInMarket([_request(CP)]), [GATE - 600]
    gw, log = _gateway(tmp_path, market, clock, stays=False)
    gw.bid(ROW)
    (said,) = _no_bids(log)
    assert said == {
        "event": "no_bid",
        "session_id": SID,
        "reason": "no_ev",
        "announced_in_delivery": 0,
        "plugged": 0,
    }
    clock[0] = GATE
    gw.bid(ROW)
    assert [e["reason"] for e in _no_bids(log)] == ["no_ev", "gate_closed"]


def test_the_offers_bid_the_fleet_the_prognosis_planned(tmp_path: Path) -> None:
    """The fleet is planned once, at the first pass in the lead time: a charger's later report
    does not change the EVs the offers are built on (their baseline is the prognosis), and
    ``flexmarket live`` plans from the same reports as the replay however late the DSO asks."""
    market, clock = StandInMarket([]), [GATE - 3600]
    gw, log = _gateway(tmp_path, market, clock, stays=True)
    gw.bid(ROW)  # no request yet: the prognosis is posted, the fleet kept
    assert [e["reason"] for e in _no_bids(log)] == ["no_request"]
    (planned,) = gw.ev.fleet(SID)
    assert planned.soc_wh == 24_000  # the announced 40 % of 60 kWh
    late = GATE - 1800  # the charger reports 90 % when the DSO's request comes
    assert gw.store.put_reading(MeterReading("ST", 1, late, 0, 0, 0, 90, "ocpp2.1", late))
    market._requests, clock[0] = [_request(CP)], late
    gw.bid(ROW)
    assert gw.ev.fleet(SID) == [planned]
    assert len(market.prognoses) == 1
