"""The CPO registry read from events: keys, dating against gate closure, grants in time."""

from __future__ import annotations

from adapters.chain.client import DecodedEvent
from clearing.settlement.meter import MeterRef
from clearing.settlement.report import Portfolio
from market.audit.cpo_registry import ZERO, CpoRegistry, cpo_stations, station_hash

CPO, KEY, OTHER = "0x" + "c0" * 20, "0x" + "ab" * 20, "0x" + "cd" * 20
FSP_A, FSP_B = "0x" + "a1" * 20, "0x" + "b2" * 20


def _event(name: str, block: int, **args: object) -> DecodedEvent:
    return DecodedEvent(name, dict(args), "0xmarket", "FlexMarket", block, "0xtx", 0)


def _registry() -> CpoRegistry:
    events = [
        _event("StationRegistered", 10, stationHash=station_hash("CS-1"), cpo=CPO, meterKey=KEY),
        _event("StationGranted", 11, stationHash=station_hash("CS-1"), fsp=FSP_A, cpo=CPO),
        _event("StationGranted", 30, stationHash=station_hash("CS-1"), fsp=FSP_B, cpo=CPO),
        # a grant of a station nobody registered is ignored
        _event("StationGranted", 12, stationHash=station_hash("CS-X"), fsp=FSP_A, cpo=CPO),
    ]
    return CpoRegistry(cpo_stations(events, lambda block: 1000 + block))


def test_keys_and_grants_follow_the_chain() -> None:
    reg = _registry()
    assert reg.keys_for({"CS-1", "CS-2"}) == {"CS-1": KEY}
    entry = reg.stations[station_hash("CS-1")]
    assert [entry.granted_to(t) for t in (1005, 1011, 1029, 1030)] == [ZERO, FSP_A, FSP_A, FSP_B]


def test_trouble_names_unregistered_other_key_and_late_registration() -> None:
    reg = _registry()
    assert reg.trouble({"CS-1"}, {"CS-1": KEY}, "stations.json", gate_closure=1010) == []
    found = reg.trouble({"CS-1", "CS-2"}, {"CS-1": OTHER}, "stations.json", gate_closure=1009)
    assert [(code, station) for code, _, station in found] == [
        ("registry.station_key_not_cpo", "CS-1"),
        ("registry.station_key_after_gate", "CS-1"),
        ("registry.station_not_cpo_registered", "CS-2"),
    ]


def test_grant_trouble_names_another_fsp_and_a_meter_in_two_portfolios() -> None:
    reg = _registry()
    meter = (MeterRef(station="CS-1", evse=1),)
    mine = Portfolio(fsp=FSP_A, congestion_point="CP-1", meters=meter)
    assert reg.grant_trouble([mine], gate_closure=1020) == []
    after_regrant = reg.grant_trouble([mine], gate_closure=1030)
    assert [code for code, _, _ in after_regrant] == ["registry.station_not_granted"]
    twice = Portfolio(fsp=FSP_A, congestion_point="CP-2", meters=meter)
    codes = [code for code, _, _ in reg.grant_trouble([mine, twice], gate_closure=1020)]
    assert codes == ["registry.meter_in_two_portfolios"]
