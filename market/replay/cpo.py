"""The CPOs of a replay: each keeps the readings its stations sent and signs their digests.

Why: the replay's sessions run under terms with ``readings_digests_required`` (every scenario
station names its CPO, whose derived key registered the station's meter key on-chain), so the
meter oracle attests only after the CPOs' signed readings digests are published and committed
(``market/lifecycle/readings.py``).  A CPO's digests must come from its own copy of what the
stations sent, not from the market's store, or a reading the store lost would go unnoticed: the
replay's CSMS sink is wrapped in :class:`CpoTee`, which records every reading on its way to the
store.  ``digests`` is the meter oracle's ``DigestSource``: each CPO signs, with its own key, a
digest per station of its own and ISP (``clearing/readings_digest.py: cpo_digests``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from adapters.ocpp.sink import MeterEvent, MeterReading, ReadingSink
from clearing.readings_digest import Domain, ReadingsDigest, cpo_digests
from clearing.settlement.meter import SignedMeterReading
from clearing.trust import secp256k1_key
from market.replay.derive import derived_key
from market.replay.scenario import Scenario

__all__ = ["CpoReadings", "CpoTee"]


class CpoReadings:
    """What each CPO received from its stations, and its signed digests over it."""

    def __init__(self, scenario: Scenario, domain: Domain) -> None:
        self.domain = domain  # the deployment (chain id, market) the digests are signed for
        self.received: list[SignedMeterReading] = []
        self.stations: dict[str, set[str]] = defaultdict(set)  # CPO id -> its station ids
        for st in scenario.stations:
            self.stations[st.cpo].add(st.id)
        self._keys = {cpo: derived_key(scenario.seed, cpo) for cpo in self.stations}

    def record(self, r: MeterReading) -> None:
        self.received.append(
            SignedMeterReading(
                station=r.station_id,
                evse=r.evse_id,
                timestamp=r.timestamp,
                import_wh=r.import_wh,
                export_wh=r.export_wh,
                signature=r.signature or "",
            )
        )

    def digests(
        self, session_id: str, window: tuple[int, int], delivery_start: int, isp_s: int
    ) -> list[ReadingsDigest]:
        """Every CPO's signed digests for the session (a ``DigestSource``)."""
        out: list[ReadingsDigest] = []
        for cpo in sorted(self.stations):
            mine = self.stations[cpo]
            out += cpo_digests(
                session_id=session_id,
                readings=[r for r in self.received if r.station in mine],
                stations=mine,
                window=window,
                delivery_start=delivery_start,
                isp_s=isp_s,
                key=secp256k1_key(self._keys[cpo]),
                domain=self.domain,
            )
        return out


class CpoTee:
    """A ReadingSink that hands every reading to the CPOs' record, then to ``inner``; every
    other call (events, charging needs, flush) goes to ``inner`` unchanged."""

    def __init__(self, inner: ReadingSink, cpos: CpoReadings) -> None:
        self._inner = inner
        self._cpos = cpos

    async def store(self, reading: MeterReading) -> None:
        self._cpos.record(reading)
        await self._inner.store(reading)

    async def record_event(self, event: MeterEvent) -> None:
        await self._inner.record_event(event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
