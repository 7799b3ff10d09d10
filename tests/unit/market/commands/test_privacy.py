"""``flexmarket privacy erase USER``: on a gateway store holding a user's token, preferences,
consent, statements (and their files), charging needs, fleet entry, payout share and claim, the
user's data goes, the statements' totals stay under a pseudonym, the erasure is recorded
without personal data; erasing again says so and changes nothing; an unknown user is exit 2
naming USER; the other user's data is untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from adapters.ocpp import sink
from market.agents.fleet import EV, UserPreferences
from market.fsp.claims import ClaimDesk
from market.fsp.config import load_config
from market.fsp.consent import CONSENT
from market.fsp.erasure import rows_naming
from market.fsp.ev_store import EvUserStore
from market.fsp.statements import write_statement_files
from market.fsp.store import GatewayStore

ROOT = Path(__file__).resolve().parents[4]
SID = "00000000-0000-0000-0000-000000000007"


def _statement(uid: str, evse: int) -> dict[str, Any]:
    return {
        "session_id": SID,
        "user_id": uid,
        "station_id": "ST",
        "evse_id": evse,
        "congestion_point": "CP-1",
        "delivery_start": 1_000,
        "delivery_end": 2_800,
        "energy_wh": 2_500,
        "isps": [{"isp_index": 0, "actual_w": 5_000}],
        "delivered_wh": 3_000,
        "fleet_delivered_wh": 4_500,
        "session_payout_units": 1_000,
        "share_units": 667,
        "rule": "by delivered flexibility",
        "orders": [],
        "delivery_root": "0xroot",
        "payout_tx": "0xtx",
        "withdrawn_units": 1_000,
    }


@pytest.fixture
def gateway(tmp_path: Path) -> Path:
    """A config with alice and bob and a store holding both users' data."""
    evses = [{"evse_id": e, "congestion_point": "CP-1", "max_import_w": 11_000} for e in (1, 2)]
    config = tmp_path / "fsp.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "market_url": "http://127.0.0.1:8000",
                "key_env": "K",
                "csms": {"stations": {"ST": {"password_env": "P", "evses": evses}}},
                "ev_users": {
                    "alice": {"station": "ST", "evse_id": 1},
                    "bob": {"station": "ST", "evse_id": 2},
                },
                "statements_dir": "statements",
            }
        )
    )
    cfg = load_config(config)
    store = GatewayStore(cfg.database_url(config), now=lambda: 5_000.0)
    ev = EvUserStore(store.engine, now=lambda: 5_000.0)
    statements = {}
    for evse, uid in enumerate(("alice", "bob"), start=1):
        store.issue_token(uid)
        store.set_preferences(uid, {"opt_in": True, "departure_unix": 1_234_567})
        both = {"flexibility_bidding": True, "revenue_statements": True}
        ev.set_consent(uid, both, version=str(CONSENT["version"]))
        store.put_charging_needs("ST", evse, {"departure_time": "2026-05-26T14:00:00Z"})
        statements[uid] = _statement(uid, evse)
        store.put_statement(SID, uid, statements[uid])
    statements_dir = cfg.statements_path(config)
    assert statements_dir is not None
    write_statement_files(statements_dir, statements)
    ev.put_payout(SID, {"payout_units": 1_000, "shares": {"alice": 667, "bob": 0}})
    prefs = UserPreferences(departure_unix=2_800, min_departure_soc_wh=40_000)
    ev.put_fleet(SID, [EV("alice", "ST", 1, "CP-1", 50_000, 20_000, 1_000, 11_000, 0, prefs)])
    ClaimDesk(store.engine, store.now, on_issue=lambda _user, _key: None).issue("alice")
    store.engine.dispose()
    return config


def _erase(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "market.cli", "privacy", "erase", *args, "--config", str(config)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def _market_needs(url: str) -> list[tuple[str, int]]:
    """A market store whose CSMS kept charging needs: two of alice's EVSE, one of bob's."""
    engine = sa.create_engine(url)
    sink.metadata.create_all(engine, tables=[sink.ev_charging_needs])
    with engine.begin() as conn:
        for evse, departure in ((1, 3_000), (1, 9_000), (2, 4_000)):
            conn.execute(
                sink.ev_charging_needs.insert().values(
                    station_id="ST",
                    evse_id=evse,
                    protocol="ocpp2.1",
                    requested_energy_transfer="AC_BPT",
                    departure_unix=departure,
                    received_at=1_000,
                )
            )
    with engine.connect() as conn:
        t = sink.ev_charging_needs
        rows = [(r.station_id, r.evse_id) for r in conn.execute(sa.select(t)).all()]
    engine.dispose()
    return rows


def test_erase_removes_the_users_data_keeps_pseudonymous_totals_and_is_idempotent(
    gateway: Path,
) -> None:
    market_db = f"sqlite:///{gateway.parent}/market.db"
    assert len(_market_needs(market_db)) == 3
    out = _erase(gateway, "alice", "--by", "dpo", "--market-db", market_db)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["already_erased"] is False
    assert summary["removed"] == {
        "tokens": 1,
        "preferences": 1,
        "consents": 2,
        "charging_needs": 1,
        "statement_files": 1,
        "market_charging_needs": 2,
    }
    assert summary["pseudonymised"] == {
        "statements": 1,
        "fleet_entries": 1,
        "payout_shares": 1,
        "claims": 1,
    }
    assert summary["recorded"]["erased_by"] == "dpo"
    pseudonym = summary["pseudonym"]
    assert pseudonym.startswith("erased-") and len(pseudonym) == len("erased-") + 16

    cfg = load_config(gateway)
    engine = sa.create_engine(cfg.database_url(gateway))
    assert summary["still_named_in"] == []
    assert rows_naming(engine, "alice") == []  # nothing in the store names her any more
    assert rows_naming(engine, "bob") != []  # the check finds a user who is there
    assert [r.split(":")[0] for r in rows_naming(engine, "dpo")] == ["fsp_privacy_erasures"]
    store = GatewayStore(engine)
    (kept,) = store.statements_of(pseudonym)
    assert kept["share_units"] == 667 and kept["payout_tx"] == "0xtx"
    assert kept["itemised"] is False and "isps" not in kept and "station_id" not in kept
    payout = EvUserStore(engine, now=lambda: 0.0).payout(SID)
    assert payout is not None and payout["shares"] == {pseudonym: 667, "bob": 0}
    (planned,) = EvUserStore(engine, now=lambda: 0.0).fleet(SID) or []
    assert planned.ev_id == pseudonym
    desk = ClaimDesk(engine, lambda: 0.0)
    assert desk.address_of("alice") is None and desk.address_of(pseudonym) is not None
    # bob is untouched
    assert store.preferences("bob") is not None and store.statements_of("bob")[0]["isps"]
    assert store.charging_needs() == {("ST", 2): {"departure_time": "2026-05-26T14:00:00Z"}}
    statements_dir = cfg.statements_path(gateway)
    assert statements_dir is not None
    assert not (statements_dir / "alice").exists() and (statements_dir / "bob").is_dir()
    engine.dispose()
    market = sa.create_engine(market_db)
    with market.connect() as conn:
        left = conn.execute(sa.select(sink.ev_charging_needs.c.evse_id)).scalars().all()
    market.dispose()
    assert left == [2]  # bob's EVSE only

    again = _erase(gateway, "alice")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["already_erased"] is True and second["pseudonym"] == pseudonym
    assert second["recorded"] == summary["recorded"]  # the first erasure, not a new one
    assert all(n == 0 for n in second["removed"].values())
    assert "market_charging_needs" not in second["removed"]  # not asked this time


def test_an_unknown_user_is_exit_2_naming_user(gateway: Path) -> None:
    out = _erase(gateway, "zed")
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.strip() == (
        "error: USER: no EV user 'zed' in the config or the gateway's store"
    )


@pytest.mark.parametrize("user", ["", ".", "..", "../statements", "alice/.."])
def test_a_user_id_that_is_a_path_is_refused_and_no_statement_file_goes(
    gateway: Path, user: str
) -> None:
    """The id names the user's statements folder: "" or ".." would name the whole folder."""
    statements = gateway.parent / "statements"
    before = sorted(p.relative_to(statements) for p in statements.rglob("*.json"))
    out = _erase(gateway, user)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"error: USER: {user!r} is not an EV user id")
    assert sorted(p.relative_to(statements) for p in statements.rglob("*.json")) == before
    assert before


def test_market_db_needs_the_users_evse_in_the_config(gateway: Path) -> None:
    """A user no longer configured has no EVSE to erase the market's charging needs by:
    exit 1 naming --market-db, before anything is erased."""
    cfg = yaml.safe_load(gateway.read_text())
    del cfg["ev_users"]["alice"]
    gateway.write_text(yaml.safe_dump(cfg))
    out = _erase(gateway, "alice", "--market-db", f"sqlite:///{gateway.parent}/market.db")
    assert out.returncode == 1
    assert out.stderr.startswith("error: --market-db: 'alice' has no EVSE in ev_users")
    cfg = load_config(gateway)
    engine = sa.create_engine(cfg.database_url(gateway))
    assert GatewayStore(engine).preferences("alice") is not None  # nothing erased
    engine.dispose()


def test_a_bad_config_is_exit_1_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "fsp.yaml"
    config.write_text(yaml.safe_dump({"market_url": "http://127.0.0.1:8000"}))
    out = _erase(config, "alice")
    assert out.returncode == 1
    assert out.stderr.startswith("error: ") and "key_env" in out.stderr
