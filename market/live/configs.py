"""The roles' config files, derived from a scenario: ``dso.yaml`` and one ``fsp-<id>.yaml``
per FSP, written into the report folder.

Why derived with the replay's helpers: the same scenario must describe the same market in
``replay`` and ``live`` (asset ids, station meter keys, congestion points, budget policy).
Secrets never go into the files: each names the environment variable (``key_env``,
``password_env``) and :func:`role_env` gives each process only its own values.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from market.live.procs import LiveError
from market.replay.derive import derived_key, derived_secret, derived_uuid
from market.replay.grid import ReplayGrid, _source
from market.replay.scenario import OPENS_BEFORE_GATE_S, Scenario
from market.replay.world import Stay, announced_stay, onchain_role, station_address

KEY_ENV = "FLEXMARKET_LIVE_KEY"  # each gateway's own key, in its own environment only
#: Large enough never to bind: the replay's DSO caps nothing per session either.
DSO_SESSION_CAP_UNITS = 10**15
#: The FSP gateways bid (prognoses first) from an hour before gate closure; the DSO requests
#: half an hour before, with their prognoses in its forecast (the replay's order).
FSP_LEAD_S = OPENS_BEFORE_GATE_S
DSO_REQUEST_LEAD_S = 1800


@dataclass(frozen=True)
class Ports:
    """Where the roles listen (loopback)."""

    api: int
    csms: dict[str, int]  # FSP id -> its CSMS port
    ev_api: dict[str, int]  # FSP id -> its EV-user API / status port


def password_env(index: int) -> str:
    """The environment variable of the ``index``-th station's password (ids are not names)."""
    return f"FLEXMARKET_LIVE_STATION_PASSWORD_{index}"


def cpo_key_env(index: int) -> str:
    """The environment variable of the ``index``-th CPO's key (sorted CPO ids)."""
    return f"FLEXMARKET_LIVE_CPO_KEY_{index}"


def _cpo_index(scenario: Scenario) -> dict[str, int]:
    return {cpo: i for i, cpo in enumerate(sorted({s.cpo for s in scenario.stations}))}


def station_owners(scenario: Scenario, stays: list[Stay]) -> dict[str, str]:
    """Station id -> the FSP whose CSMS it connects to; a station shared by two FSPs cannot
    connect to both, so it is refused by name."""
    owners: dict[str, set[str]] = defaultdict(set)
    for stay in stays:
        owners[stay.station].add(stay.ev.fsp)
    out: dict[str, str] = {}
    for station, fsps in sorted(owners.items()):
        if len(fsps) > 1:
            raise LiveError(
                f"stations.{station}: EVs of {sorted(fsps)} park there; in live each station "
                "connects to one FSP's CSMS"
            )
        out[station] = next(iter(fsps))
    return out


def fsp_ids(scenario: Scenario) -> list[str]:
    return sorted(p.id for p in scenario.participants if onchain_role(p.role) == "FSP")


def dso_ids(scenario: Scenario) -> list[str]:
    return sorted(p.id for p in scenario.participants if p.role == "DSO")


def dso_config(
    scenario: Scenario, grid: ReplayGrid, *, api_url: str, rpc_url: str, out_dir: Path
) -> dict[str, Any]:
    """The DSO gateway's config: the scenario's grid, its congestion points under the codes
    the operator registers, the replay's budget policy; day-ahead and intraday sessions are
    both requested in (the operator opens them from the scenario)."""
    g = scenario.grid
    grid_spec: dict[str, Any] = {
        "source": _source(scenario),
        "load_scale_ppm": g.load_scale_ppm,
        "pv_scale_ppm": g.pv_scale_ppm,
        "profile_date": (g.profile_date or scenario.period.day).isoformat(),
    }
    buses = {int(i): str(n) for i, n in grid.model.net.bus["name"].items()}
    grid_spec["flex_buses"] = sorted({buses[b] for b in grid.station_bus.values()})
    points = []
    for p in grid.points:
        element = "transformer" if p.kind == "transformer" else "feeder"
        index = p.trafo if element == "transformer" else min(p.lines)
        points.append(
            {
                "code": p.cp_id,
                "element": element,
                "index": int(index if index is not None else 0),
                "limit_pct": max(1, round(p.max_loading_pct)),
            }
        )
    return {
        "api_url": api_url,
        "rpc_url": rpc_url,
        "key_env": KEY_ENV,
        "clock": "chain",
        "output_dir": str(out_dir),
        "grid": grid_spec,
        "congestion_points": points,
        "budget": {
            "max_price_per_mwh": scenario.market.dso_alternative_cost_per_mwh,
            "max_budget_units_per_session": DSO_SESSION_CAP_UNITS,
        },
        "schedule": {
            "day_ahead": True,
            "intraday": True,
            "poll_s": 2,
            "request_lead_s": DSO_REQUEST_LEAD_S,  # after the FSPs' prognoses (as the replay)
        },
    }


def fsp_config(
    scenario: Scenario,
    grid: ReplayGrid,
    stays: list[Stay],
    fsp: str,
    *,
    api_url: str,
    rpc_url: str,
    ports: Ports,
    database: str,
    netting: dict[str, Any] | None = None,
    deployment: tuple[int, str],
) -> dict[str, Any]:
    """One FSP gateway's config: its stations (those its EVs park at) with the EVSEs and
    asset ids the replay registers, its CSMS and API ports, chain clock, fast polling, and
    the EV stays its users announce (the replay's FSP plans the same ones), and its
    ``netting`` section (``market.live.clearing.fsp_netting``) when it shares revenue."""
    owners = station_owners(scenario, stays)
    index = {s.id: i for i, s in enumerate(sorted(scenario.stations, key=lambda s: s.id))}
    cpo_of = {s.id: _cpo_index(scenario)[s.cpo] for s in scenario.stations}
    stations: dict[str, Any] = {}
    for stay in sorted(stays, key=lambda s: (s.station, s.evse)):
        if owners[stay.station] != fsp:
            continue
        st = stations.setdefault(
            stay.station,
            {
                "password_env": password_env(index[stay.station]),
                "meter_public_key": station_address(scenario.seed, stay.station),
                # the CSMS signs this station's readings digests for its CPO
                "cpo_key_env": cpo_key_env(cpo_of[stay.station]),
                "evses": [],
            },
        )
        st["evses"].append(
            {
                "evse_id": stay.evse,
                "congestion_point": grid.station_point[stay.station],
                "max_import_w": stay.max_import_w,
                "max_export_w": stay.max_export_w,
                "asset_id": derived_uuid(scenario.seed, "asset", stay.station, stay.evse),
            }
        )
    if not stations:
        raise LiveError(f"participants.{fsp}: no EV of this FSP parks at any station")
    out: dict[str, Any] = {
        "market_url": api_url,
        "key_env": KEY_ENV,
        "rpc_url": rpc_url,
        "database": database,
        # the deployment the stations' CPO signs digests for (the orchestrator deployed it)
        "deployment": {"chain_id": deployment[0], "market_address": deployment[1]},
        "clock": "chain",
        "poll_s": 1,
        "relay_delay_s": 0.05,  # delivery steps behind each interval's relay: relay it at once
        "offers": {"lead_s": FSP_LEAD_S},
        "csms": {
            "host": "127.0.0.1",
            "port": ports.csms[fsp],
            "meter_interval_s": scenario.period.meter_interval_s,
            "stations": stations,
        },
        "ev_api": {"host": "127.0.0.1", "port": ports.ev_api[fsp]},
        # what the EV users announce in their app: planned day-ahead as the replay plans them
        "ev_stays": [
            announced_stay(scenario, grid, s).model_dump(mode="json")
            for s in stays
            if owners[s.station] == fsp
        ],
    }
    if netting is not None:
        out["netting"] = netting
    return out


def role_env(scenario: Scenario, who: str, stations: list[str] | None = None) -> dict[str, str]:
    """The secrets one role's process gets: its own key and, for an FSP's gateway and its
    stations, the passwords of ``stations`` (its own). Nothing else's."""
    env = {KEY_ENV: derived_key(scenario.seed, who)}
    for i, st in enumerate(sorted(scenario.stations, key=lambda s: s.id)):
        if st.id in (stations or ()):
            env[password_env(i)] = derived_secret(scenario.seed, f"station-password:{st.id}")
    return env


def cpo_env(scenario: Scenario, stations: list[str]) -> dict[str, str]:
    """The keys of the CPOs of ``stations``, for the gateway whose CSMS signs their readings
    digests (not for the stations' process)."""
    index = _cpo_index(scenario)
    return {
        cpo_key_env(index[st.cpo]): derived_key(scenario.seed, st.cpo)
        for st in scenario.stations
        if st.id in stations
    }


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=True))
    return path
