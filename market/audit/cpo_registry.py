"""The CPO-attested station-key registry as the chain holds it (``FlexMarketStations``).

Why: the published asset registry (``stations.json``, ``GET /assets``) is the operator's. An
operator dishonest from the start can list its own key for a station and sign readings with
it consistently; only a key the station's CPO registered on-chain, before the session's gate
closure, binds the readings. This module reads that registry from the market's events, and
names what a session uses that it does not vouch for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from adapters.chain.tx import DecodedEvent
from clearing.encoding import keccak256
from clearing.settlement.report import Portfolio

ZERO = "0x" + "00" * 20


def station_hash(station_id: str) -> bytes:
    """The registry key of a station: keccak256 of its id (as ``FlexMarketStations``)."""
    return keccak256(station_id.encode())


@dataclass
class CpoStation:
    """One registered station: its CPO, its key, when, and its grants in chain order."""

    cpo: str
    meter_key: str
    registered_at: int  # block timestamp of StationRegistered
    grants: list[tuple[int, str]] = field(default_factory=list)  # (timestamp, fsp or ZERO)

    def granted_to(self, at: int) -> str:
        """The FSP the station was granted to at time ``at`` (ZERO: none)."""
        fsp = ZERO
        for ts, who in self.grants:
            if ts <= at:
                fsp = who
        return fsp


def cpo_stations(
    events: Iterable[DecodedEvent], ts: Callable[[int], int]
) -> dict[bytes, CpoStation]:
    """Station hash -> its entry, from StationRegistered/StationGranted (``ts``: block time)."""
    out: dict[bytes, CpoStation] = {}
    for e in events:
        if e.name == "StationRegistered":
            key = bytes(e.args["stationHash"])
            out.setdefault(
                key,
                CpoStation(
                    cpo=str(e.args["cpo"]).lower(),
                    meter_key=str(e.args["meterKey"]).lower(),
                    registered_at=ts(e.block_number),
                ),
            )
        elif e.name == "StationGranted":
            entry = out.get(bytes(e.args["stationHash"]))
            if entry is not None:
                entry.grants.append((ts(e.block_number), str(e.args["fsp"]).lower()))
    return out


@dataclass(frozen=True)
class CpoRegistry:
    """The chain's station keys, checked against what a session uses."""

    stations: dict[bytes, CpoStation]

    def keys_for(self, used: Iterable[str]) -> dict[str, str]:
        """Station id -> the CPO-registered key, for the used stations that have one."""
        out = {}
        for station in used:
            entry = self.stations.get(station_hash(station))
            if entry is not None:
                out[station] = entry.meter_key
        return out

    def trouble(
        self, used: set[str], published: dict[str, str], source: str, gate_closure: int
    ) -> list[tuple[str, str, str]]:
        """(code, message, station) for each used station whose key the CPO does not vouch
        for: none registered, another key published, or registered after gate closure."""
        out = []
        for station in sorted(used):
            entry = self.stations.get(station_hash(station))
            if entry is None:
                out.append(
                    (
                        "registry.station_not_cpo_registered",
                        "no CPO registered a meter key for this station on-chain",
                        station,
                    )
                )
                continue
            listed = published.get(station)
            if listed is not None and listed != entry.meter_key:
                out.append(
                    (
                        "registry.station_key_not_cpo",
                        f"{source} lists key {listed}, but its CPO {entry.cpo} registered "
                        f"{entry.meter_key} on-chain",
                        station,
                    )
                )
            if entry.registered_at > gate_closure:
                out.append(
                    (
                        "registry.station_key_after_gate",
                        f"its key was registered at {entry.registered_at}, after the gate "
                        f"closed at {gate_closure}",
                        station,
                    )
                )
        return out

    def grant_trouble(
        self, portfolios: Iterable[Portfolio], gate_closure: int
    ) -> list[tuple[str, str, str]]:
        """Portfolio meters whose CPO had not granted the station to that FSP at gate closure,
        and meters in more than one portfolio (FSP or congestion point) of the session."""
        out = []
        seen: dict[tuple[str, int], str] = {}
        for p in portfolios:
            holder = f"{p.fsp.lower()}@{p.congestion_point}"
            for m in p.meters:
                first = seen.setdefault(m.key, holder)
                if first != holder:
                    out.append(
                        (
                            "registry.meter_in_two_portfolios",
                            f"meter {m.station}/{m.evse} is in the portfolios {first} and {holder}",
                            holder,
                        )
                    )
                entry = self.stations.get(station_hash(m.station))
                if entry is None:
                    continue  # trouble() names it
                granted = entry.granted_to(gate_closure)
                if granted != p.fsp.lower():
                    out.append(
                        (
                            "registry.station_not_granted",
                            f"meter {m.station}/{m.evse}: its CPO {entry.cpo} granted the "
                            f"station to {granted if granted != ZERO else 'nobody'} at gate "
                            "closure",
                            holder,
                        )
                    )
        return out
