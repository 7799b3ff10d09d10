"""Issue 16 item 3: station keys are the CPO's, registered on-chain before gate closure.

The operator, dishonest from the start, publishes its own key for a station in stations.json
and signs that station's readings with it, consistently: every signature verifies against the
published registry, the report recomputes, the root matches. Only the CPO's on-chain key shows
the readings are not the station's. Each case has an honest twin that exits 0.
"""

from __future__ import annotations

import json

import pytest
from audit_helpers import CPS, Route, actors_of, audit, codes, stage
from eth_account import Account

from market.audit.staging import Tamper, station_key, station_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
OPERATORS_OWN_KEY = "0x" + "0d" * 32


def _finding(report, code: str):  # type: ignore[no-untyped-def]
    found = [f for f in report.findings if f.code == code]
    assert found, f"expected {code}, got {sorted(codes(report))}: {report.message}"
    return found


def test_honest_cpo_registered_keys_pass(chain, route) -> None:
    staged = stage(chain, route)
    report = audit(chain, route, staged)
    assert report.exit_code == 0, sorted(codes(report))
    assert staged.delivery is not None and staged.delivery.report.payout_vector()


def test_operator_key_for_a_station_signed_consistently_is_named(chain, route) -> None:
    victim = station_of(chain.addresses["fsp_a"].lower(), CPS[0])
    own = Account.from_key(OPERATORS_OWN_KEY).address.lower()

    def operators_key(station: str) -> str:  # registry and readings agree: only the chain not
        return OPERATORS_OWN_KEY if station == victim else station_key(station)

    staged = stage(chain, route, Tamper(meter_key=operators_key))
    published = json.loads((route.folder / "stations.json").read_text())
    assert {a["meter_public_key"] for a in published if a["station_id"] == victim} == {own}
    report = audit(chain, route, staged)
    assert report.exit_code == 1
    (finding,) = _finding(report, "registry.station_key_not_cpo")
    assert finding.subject == victim and own in finding.message
    # verified with the CPO's key, the operator's readings of that station do not count
    assert "delivery.bad_signature" in codes(report)


def test_a_station_no_cpo_registered_is_named(chain, route) -> None:
    actors = actors_of(chain)
    actors.cpo = None  # nobody registers the stations' keys on-chain
    staged = stage(chain, route, actors_override=actors)
    report = audit(chain, route, staged)
    assert report.exit_code == 1
    found = _finding(report, "registry.station_not_cpo_registered")
    assert {f.subject for f in found} == {
        a["station_id"] for a in json.loads((route.folder / "stations.json").read_text())
    }


def test_a_key_registered_after_gate_closure_is_named(chain, tmp_path) -> None:
    route = Route(name="dir", folder=tmp_path, bundles=str(tmp_path))
    actors = actors_of(chain)
    actors.cpo = None
    staged = stage(chain, route, actors_override=actors)
    market, cpo = chain.contracts.market, chain.addresses["cpo"]
    for asset in json.loads((tmp_path / "stations.json").read_text()):  # with hindsight
        market.register_station(asset["station_id"], asset["meter_public_key"], sender=cpo)
        market.grant_station(asset["station_id"], asset["owner"], sender=cpo)
    report = audit(chain, route, staged)
    assert report.exit_code == 1
    assert "registry.station_key_after_gate" in codes(report)
    assert "registry.station_not_cpo_registered" not in codes(report)


def test_a_meter_its_cpo_granted_to_another_fsp_is_named(chain, tmp_path) -> None:
    route = Route(name="dir", folder=tmp_path, bundles=str(tmp_path))
    market, cpo, a = chain.contracts.market, chain.addresses["cpo"], chain.addresses
    fsps = [a["fsp_a"], a["fsp_b"], a["fsp_c"]]
    for i, fsp in enumerate(fsps):  # before the session: each station granted to the next FSP
        for cp in CPS:
            station = station_of(fsp.lower(), cp)
            market.register_station(
                station, Account.from_key(station_key(station)).address, sender=cpo
            )
            market.grant_station(station, fsps[(i + 1) % len(fsps)], sender=cpo)
    actors = actors_of(chain)
    actors.cpo = None  # the operator places the meters in the portfolios regardless
    staged = stage(chain, route, actors_override=actors)
    report = audit(chain, route, staged)
    assert report.exit_code == 1
    found = _finding(report, "registry.station_not_granted")
    assert all("granted the station to" in f.message for f in found)
    assert "registry.station_not_cpo_registered" not in codes(report)
