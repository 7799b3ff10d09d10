"""What a simulated station is: its id, credentials, OCPP version, EVSEs, meter key and faults."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.ocpp.simulator.ev import EvModel
from adapters.ocpp.simulator.faults import StationFaults

PROTOCOLS = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")


@dataclass
class EvseSpec:
    """One EVSE of a station: its id, the EV parked there (if any) and its power rating.

    ``send_charging_needs``: whether the EV's NotifyEVChargingNeeds follows the transaction
    start (2.x only; 1.6 has no such message). ``None`` keeps the long-standing default, so
    replays do not change: sent on 2.1, not on 2.0.1.

    ``initial_import_wh`` / ``initial_export_wh``: the meter registers when the simulation
    starts (a meter with history keeps counting from where it was; default 0).
    """

    evse_id: int
    ev: EvModel | None = None
    max_power_w: int = 22_000
    send_charging_needs: bool | None = None
    initial_import_wh: int = 0
    initial_export_wh: int = 0

    def sends_charging_needs(self, protocol: str) -> bool:
        if protocol == "ocpp1.6":
            return False
        if self.send_charging_needs is None:
            return protocol == "ocpp2.1"
        return self.send_charging_needs


@dataclass
class StationSpec:
    """What a simulated station is: id, credentials, protocol, EVSEs, key and faults."""

    station_id: str
    password: str
    protocol: str = "ocpp2.1"
    evses: list[EvseSpec] = field(default_factory=lambda: [EvseSpec(1)])
    private_key: bytes | None = None
    faults: StationFaults = field(default_factory=StationFaults)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol: must be one of {PROTOCOLS}, got {self.protocol!r}")
