"""The state a replay carries from phase to phase, shared by the driver and its phases.

Kept below the driver, the phases, the netting and the report, so all of them can import these
types without importing each other (no import circle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.ocpp.csms import Csms
from adapters.ocpp.simulator.fleet import StationFleet
from clearing.bundle import ResultBundle
from clearing.messages import DPrognosis, FlexOffer, FlexRequest
from clearing.settlement.delivery import DeliveryReport
from market.agents.common import MarketSession as AgentSession
from market.agents.dso import DsoAgent
from market.agents.fsp import DispatchPlan
from market.clearing_house.period import PeriodSettlement
from market.client import MarketClient
from market.lifecycle.worker import Worker
from market.participant.participant import Participant
from market.replay.chain import ReplayChain
from market.replay.cpo import CpoReadings
from market.replay.grid import ReplayGrid
from market.replay.phase_meter import PhaseMeter
from market.replay.scenario import Scenario, SessionSpec
from market.replay.simclock import StepClock
from market.replay.world import Stay
from market.runtime import Runtime

PHASES = ("open", "gate closure", "dispatch", "delivery", "verify", "final")
ProgressFn = Callable[[str, str, int, int], None]  # session, phase, done, total


class ReplayError(RuntimeError):
    """The replay could not complete; the message names the phase and the cause."""


@dataclass
class ReplayOptions:
    report_dir: Path
    rpc_url: str | None = None
    db_url: str | None = None
    speed: float = 0.0  # 0: as fast as possible; X: simulated time at most X x wall time
    seed: int | None = None
    audit: bool = True
    netting: bool = True  # net each session on-chain (settleNetting); False: off-chain only


@dataclass
class NettingOutcome:
    """A session's clearing-house period, and whether it was settled on-chain."""

    settlement: PeriodSettlement
    names: dict[str, str]  # lower-case address -> participant / user id
    onchain: bool  # settled with settleNetting (else computed for the report only)


@dataclass
class SessionRun:
    """What one session produced; the report is built from these."""

    spec: SessionSpec
    session_id: str
    agent_session: AgentSession
    dso: dict[str, DsoAgent] = field(default_factory=dict)  # dso participant -> agent
    ev_load: dict[int, dict[int, float]] = field(default_factory=dict)
    requests: list[FlexRequest] = field(default_factory=list)
    prognoses: list[DPrognosis] = field(default_factory=list)
    offers: list[FlexOffer] = field(default_factory=list)
    result: ResultBundle | None = None
    plans: dict[str, DispatchPlan] = field(default_factory=dict)
    dispatch_status: dict[str, int] = field(default_factory=dict)
    delivery: DeliveryReport | None = None  # the report the money followed
    roots: dict[str, Any] = field(default_factory=dict)
    withdrawn: dict[str, int] = field(default_factory=dict)
    # lower-case address -> the contract's credits view just before that party withdrew
    credited: dict[str, int] = field(default_factory=dict)
    forged: list[str] = field(default_factory=list)
    issues: dict[str, str] = field(default_factory=dict)  # EV id -> why it was left out
    netting: NettingOutcome | None = None
    timing: dict[str, float] = field(default_factory=dict)


@dataclass
class ReplayContext:
    scenario: Scenario
    options: ReplayOptions
    grid: ReplayGrid
    chain: ReplayChain
    runtime: Runtime
    base_url: str
    clients: dict[str, MarketClient]
    worker: Worker
    stays: list[Stay]
    csms: Csms | None = None
    fleet: StationFleet | None = None
    clock: StepClock | None = None
    participants: dict[str, Participant] = field(default_factory=dict)  # same keys as clients
    runs: list[SessionRun] = field(default_factory=list)
    contracts_posted: set[str] = field(default_factory=set)  # revenue-sharing contract ids
    timing: dict[str, float] = field(default_factory=dict)
    meter: PhaseMeter = field(default_factory=PhaseMeter)  # wall/CPU per phase (timing.json)
    phase: str = "setup"
    # The CPOs' own copy of the readings, which they sign digests over (None: no stations).
    cpos: CpoReadings | None = None
