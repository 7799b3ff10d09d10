"""The roles' configs derived from the acceptance scenario: each parses with its gateway's own
strict loader, names the replay's assets and points, and holds no secret; each process's
environment holds only its own secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from market.dso.config import parse_config as parse_dso
from market.dso.grid import load_dso_grid
from market.fsp.config import parse_config as parse_fsp
from market.live import configs
from market.live.procs import LiveError
from market.replay.derive import derived_key, derived_uuid
from market.replay.grid import check_scenario
from market.replay.world import stays

ROOT = Path(__file__).resolve().parents[4]
SCENARIO = ROOT / "scripts" / "scenarios" / "uc4-1-isle-of-wight.yaml"


@pytest.fixture(scope="module")
def world():
    sc, grid = check_scenario(SCENARIO)
    return sc, grid, stays(sc)


DEPLOYMENT = (31337, "0x" + "ab" * 20)


def _ports(fsps: list[str]) -> configs.Ports:
    return configs.Ports(
        api=8000, csms={f: 9000 + i for i, f in enumerate(fsps)}, ev_api=dict.fromkeys(fsps, 9100)
    )


def test_fsp_config_parses_and_registers_the_replays_assets(world, tmp_path: Path) -> None:
    sc, grid, all_stays = world
    fsp = "flow-emsp"
    data = configs.fsp_config(
        sc, grid, all_stays, fsp, api_url="http://127.0.0.1:8000",
        rpc_url="http://127.0.0.1:8545", ports=_ports([fsp]), database="sqlite:///x.db",
        deployment=DEPLOYMENT,
    )  # fmt: skip
    text = yaml.safe_dump(data)
    cfg = parse_fsp(yaml.safe_load(text))
    assert cfg.clock == "chain" and cfg.key_env == configs.KEY_ENV
    assert cfg.deployment is not None
    assert (cfg.deployment.chain_id, cfg.deployment.market_address) == DEPLOYMENT
    mine = [s for s in all_stays if s.ev.fsp == fsp]
    evses = {(sid, e.evse_id): e for sid, st in cfg.csms.stations.items() for e in st.evses}
    assert set(evses) == {(s.station, s.evse) for s in mine}
    for s in mine:
        e = evses[(s.station, s.evse)]
        assert cfg.asset_id(s.station, e) == derived_uuid(sc.seed, "asset", s.station, s.evse)
        assert e.congestion_point == grid.station_point[s.station]
    env = configs.role_env(sc, fsp, sorted(cfg.csms.stations))
    for secret in env.values():
        assert secret not in text  # no key, no password in the file
    assert env[configs.KEY_ENV] == derived_key(sc.seed, fsp)
    assert all(st.password_env in env for st in cfg.csms.stations.values())


def test_dso_config_parses_and_finds_every_scenario_point(world, tmp_path: Path) -> None:
    sc, grid, _ = world
    data = configs.dso_config(
        sc, grid, api_url="http://127.0.0.1:8000", rpc_url="http://127.0.0.1:8545",
        out_dir=tmp_path,
    )  # fmt: skip
    text = yaml.safe_dump(data)
    cfg = parse_dso(yaml.safe_load(text))
    dso_grid = load_dso_grid(cfg)
    assert sorted(p.cp_id for p in dso_grid.points) == sorted(p.cp_id for p in grid.points)
    assert cfg.budget.max_price_per_mwh == sc.market.dso_alternative_cost_per_mwh
    env = configs.role_env(sc, "ssen")
    assert env == {configs.KEY_ENV: derived_key(sc.seed, "ssen")}  # no station password
    assert env[configs.KEY_ENV] not in text


def test_a_station_shared_by_two_fsps_is_refused_by_name(world) -> None:
    sc, _, all_stays = world
    first = all_stays[0]
    other = first.ev.model_copy(update={"fsp": "car-club"})
    shared = [*all_stays, type(first)(**{**first.__dict__, "ev": other})]
    with pytest.raises(LiveError, match=f"stations.{first.station}"):
        configs.station_owners(sc, shared)


@pytest.mark.parametrize("name", ["uc4-1-isle-of-wight", "uc5-terni-microgrid"])
def test_fsp_gateway_plans_the_same_evs_as_the_replay_from_the_configs_stays(name) -> None:
    """The stays ``live`` hands each gateway (through its YAML) become exactly the EVs the
    replay's FSP plans before any EV is plugged in (the day-ahead gate)."""
    from market.fsp.fleet_state import announced_fleet_ev
    from market.replay.world import agent_ev

    sc, grid = check_scenario(ROOT / "scripts" / "scenarios" / f"{name}.yaml")
    all_stays = stays(sc)
    fsps = configs.fsp_ids(sc)
    planned = 0
    for fsp in fsps:
        mine = [s for s in all_stays if s.ev.fsp == fsp]
        if not mine:
            continue
        data = configs.fsp_config(
            sc, grid, all_stays, fsp, api_url="http://127.0.0.1:8000",
            rpc_url="http://127.0.0.1:8545", ports=_ports(fsps), database="sqlite:///x.db",
            deployment=DEPLOYMENT,
        )  # fmt: skip
        cfg = parse_fsp(yaml.safe_load(yaml.safe_dump(data)))
        first_arrival = min(s.arrival for s in mine)
        got = {s.ev_id: announced_fleet_ev(s, None, {}, first_arrival) for s in cfg.ev_stays}
        want = {s.ev.id: agent_ev(sc, grid, s) for s in mine}
        assert got == want
        planned += len(got)
    assert planned == len(all_stays) > 0
