"""The station registry the auditor checks meter signatures against, read strictly.

``stations.json`` (or ``GET /assets``, or ``--station-keys FILE``) has one format: a list of
assets ``[{"station_id", "meter_public_key", "owner", "evse_id"?, "congestion_point"?}]``,
plus only the other fields ``GET /assets`` serves (``asset_id``, ``max_import_w``,
``max_export_w``). Any other shape is refused: the object form ``{station: key}`` named no
owner and so silently disabled the owner check (issue 16), and an unknown field means the
file is not what the auditor thinks it is.

Why strict but not fatal: one bad entry, or a second key for one station, must not stop the
audit of sessions that never use that station; it becomes a finding in the sessions that do
(``registry.station_invalid``, ``registry.station_key_conflict``).  Only a registry that is
not a list cannot be read at all.

Published keys are compared with the keys the stations' CPOs registered on-chain
(``cpo_registry``); readings are verified with the CPO's keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from clearing.trust import station_address
from market.audit.cpo_registry import CpoRegistry
from market.audit.findings import AuditCannotRun


class StationEntry(BaseModel):
    """One asset: exactly the fields of ``GET /assets`` (``AssetPublic``), no others."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    station_id: StrictStr
    meter_public_key: StrictStr
    owner: StrictStr
    evse_id: StrictInt | None = None
    congestion_point: StrictStr | None = None
    asset_id: StrictStr | None = None
    max_import_w: StrictInt | None = None
    max_export_w: StrictInt | None = None


@dataclass
class StationRegistry:
    """station id -> signer address, and (when known) station -> owning FSPs.

    ``conflicts``: stations registered with more than one key (none of them trusted);
    ``invalid``: stations whose entry cannot be read (reason); ``problems``: entries that do
    not even name a station."""

    keys: dict[str, str] = field(default_factory=dict)
    owners: dict[str, set[str]] = field(default_factory=dict)
    source: str = ""
    conflicts: dict[str, set[str]] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # The chain's CPO-registered keys (``cpo_registry``); None when no chain was read.
    cpo: CpoRegistry | None = None

    def keys_for(self, used: set[str]) -> dict[str, str]:
        """The keys readings are verified with: the CPO-registered ones when the chain was
        read (a published key is only ever compared with them), else the published ones."""
        return self.keys if self.cpo is None else self.cpo.keys_for(used)

    @classmethod
    def from_json(cls, data: Any, source: str) -> StationRegistry:
        """AuditCannotRun only when ``data`` is not a list."""
        reg = cls(source=source)
        if not isinstance(data, list):
            shape = "an object (the {station: key} form names no owners)"
            raise AuditCannotRun(
                f"station registry {source}: expected a list of assets (station_id, "
                f"meter_public_key, owner), got "
                f"{shape if isinstance(data, dict) else type(data).__name__}"
            )
        for i, raw in enumerate(data):
            reg._add_entry(i, raw)
        for station in reg.conflicts:
            reg.keys.pop(station, None)
        for station in reg.invalid:
            reg.keys.pop(station, None)
        return reg

    def _add_entry(self, i: int, raw: Any) -> None:
        try:
            entry = StationEntry.model_validate(raw)
        except ValidationError as exc:
            e = exc.errors()[0]
            why = f"{'.'.join(str(x) for x in e['loc']) or 'entry'}: {e['msg']}"
            station = raw.get("station_id") if isinstance(raw, dict) else None
            if isinstance(station, str) and station:
                self.invalid.setdefault(station, f"entry [{i}]: {why}")
            else:
                self.problems.append(f"{self.source}[{i}]: {why}")
            return
        if not entry.station_id:
            self.problems.append(f"{self.source}[{i}]: empty station_id")
            return
        self._add(entry.station_id, entry.meter_public_key, entry.owner)

    def _add(self, station: str, key: Any, owner: str | None) -> None:
        if not isinstance(key, str):
            self.invalid.setdefault(station, f"key is {type(key).__name__}, not a string")
            return
        try:
            address = station_address(key)
        except (ValueError, TypeError) as exc:
            self.invalid.setdefault(station, str(exc))
            return
        known = self.keys.setdefault(station, address)
        if known != address:
            self.conflicts.setdefault(station, {known}).add(address)
        if owner:
            self.owners.setdefault(station, set()).add(owner.lower())

    def trouble(self, stations: set[str]) -> list[tuple[str, str, str]]:
        """(code, message, station) for each of ``stations`` the registry cannot vouch for."""
        out = []
        for station in sorted(stations & set(self.conflicts)):
            keys = ", ".join(sorted(self.conflicts[station]))
            out.append(
                (
                    "registry.station_key_conflict",
                    f"registered with {len(self.conflicts[station])} different keys ({keys}) "
                    f"in {self.source}",
                    station,
                )
            )
        for station in sorted(stations & set(self.invalid)):
            out.append(
                (
                    "registry.station_invalid",
                    f"its entry in {self.source} cannot be read: {self.invalid[station]}",
                    station,
                )
            )
        return out
