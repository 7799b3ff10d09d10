"""The FSP gateway's config: the example parses, each refusal is named by its yaml path, and
the command's ``--check`` / missing secrets are one line naming the field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from market.fsp.config import FspConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = ROOT / "scripts" / "fsp.example.yaml"


def _base(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "market_url": "http://127.0.0.1:8000",
        "key_env": "FSP_KEY",
        "csms": {
            "stations": {
                "ST-1": {
                    "password_env": "ST1_PW",
                    "evses": [{"evse_id": 1, "congestion_point": "CP-1", "max_import_w": 11_000}],
                }
            }
        },
        "ev_users": {"alice": {"station": "ST-1", "evse_id": 1}},
    }
    cfg.update(over)
    return cfg


def test_the_example_parses_with_its_defaults() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.offers.lead_s == 600 and cfg.clock == "system" and cfg.rpc_url is None
    assert set(cfg.ev_users) == {"alice", "bob"}
    assert cfg.database_url(EXAMPLE).endswith("scripts/fsp.example.fsp.db")
    evse = cfg.csms.stations["CS-0001"].evses[0]
    # the derived asset id is stable (a restart registers the same asset)
    assert cfg.asset_id("CS-0001", evse) == cfg.asset_id("CS-0001", evse)
    assert cfg.asset_id("CS-0001", evse) != cfg.asset_id(
        "CS-0001", cfg.csms.stations["CS-0001"].evses[1]
    )


def test_defaults_of_a_minimal_config() -> None:
    cfg = parse_config(_base())
    assert cfg.poll_s == 5 and cfg.csms.meter_interval_s == 60 and not cfg.dev
    assert cfg.database_url(Path("/tmp/x/fsp.yaml")) == "sqlite:////tmp/x/fsp.fsp.db"
    assert (
        parse_config(_base(database="sqlite:///a.db")).database_url(Path("f")) == "sqlite:///a.db"
    )


_ST = "csms.stations.ST-1"


@pytest.mark.parametrize(
    ("over", "field", "reason"),
    [
        ({"market_url": "ftp://x"}, "market_url", "String should match pattern"),
        ({"key": "0xabc"}, "key", "Extra inputs are not permitted"),
        ({"clock": "ntp"}, "clock", "Input should be 'system' or 'chain'"),
        ({"offers": {"lead_s": 0}}, "offers.lead_s", "greater than 0"),
        ({"offers": {"lead_s": "600"}}, "offers.lead_s", "valid integer"),
        (
            {"csms": {"stations": {"ST-1": {"password_env": "P", "evses": []}}}},
            f"{_ST}.evses",
            "at least 1 item",
        ),
        (
            {
                "csms": {
                    "stations": {
                        "ST-1": {
                            "password_env": "P",
                            "evses": [{"evse_id": 1, "congestion_point": "CP", "max_import_w": -1}],
                        }
                    }
                }
            },
            f"{_ST}.evses[0].max_import_w",
            "greater than or equal to 0",
        ),
        (
            {
                "csms": {
                    "stations": {
                        "ST-1": {
                            "evses": [{"evse_id": 1, "congestion_point": "C", "max_import_w": 1}]
                        }
                    }
                }
            },
            f"{_ST}.password_env",
            "exactly one of password_env and password",
        ),
        (
            {
                "csms": {
                    "stations": {
                        "ST-1": {
                            "password": "secret-pass",
                            "evses": [{"evse_id": 1, "congestion_point": "C", "max_import_w": 1}],
                        }
                    }
                }
            },
            f"{_ST}.password",
            "for dev only",
        ),
        (
            {"ev_users": {"bob": {"station": "ST-9", "evse_id": 1}}},
            "ev_users.bob.station",
            "not in csms.stations",
        ),
        (
            {"ev_users": {"bob": {"station": "ST-1", "evse_id": 2}}},
            "ev_users.bob.evse_id",
            "no EVSE 2",
        ),
    ],
)
def test_refusals_name_the_yaml_path(over: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(FspConfigError) as err:
        parse_config(_base(**over))
    assert err.value.field == field
    assert reason in err.value.reason


def test_a_dev_config_may_carry_a_station_password() -> None:
    st = {
        "password": "secret-pass",
        "evses": [{"evse_id": 1, "congestion_point": "C", "max_import_w": 1}],
    }
    cfg = parse_config(_base(dev=True, csms={"stations": {"ST-1": st}}))
    assert cfg.csms.stations["ST-1"].password == "secret-pass"


def _cli(
    tmp: Path, cfg: object, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp / "fsp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    cmd = [sys.executable, "-m", "market.cli", "fsp", *args, "--config", str(path)]
    return subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=120)


def test_check_validates_and_refusals_are_one_line(tmp_path: Path) -> None:
    ok = _cli(tmp_path, _base(), "run", "--check")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: ") and "1 stations, 1 EVSEs, 1 EV users" in ok.stdout
    bad = _cli(tmp_path, _base(poll_s=0), "run", "--check")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("error: poll_s: ") and bad.stderr.count("\n") == 1


def test_missing_secrets_are_named_before_anything_starts(tmp_path: Path) -> None:
    no_key = _cli(tmp_path, _base(), "run", "--once", env={"FSP_KEY": ""})
    assert no_key.returncode == 1
    assert no_key.stderr == "error: key_env: environment variable FSP_KEY is not set\n"
    no_pw = _cli(
        tmp_path, _base(), "run", "--once", env={"FSP_KEY": "0x" + "11" * 32, "ST1_PW": ""}
    )
    assert no_pw.returncode == 1
    assert no_pw.stderr == (f"error: {_ST}.password_env: environment variable ST1_PW is not set\n")


def test_token_is_issued_once_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    cfg = _base(database=f"sqlite:///{tmp_path}/gw.db")
    first = _cli(tmp_path, cfg, "token", "--user", "alice")
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip()
    assert len(token) >= 40
    assert token.encode() not in (tmp_path / "gw.db").read_bytes()
    unknown = _cli(tmp_path, cfg, "token", "--user", "mallory")
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: --user: ")


def test_without_an_rpc_url_the_gateway_stops_before_connecting(tmp_path: Path) -> None:
    env = {"FSP_KEY": "0x" + "11" * 32, "ST1_PW": "station-secret"}
    proc = _cli(tmp_path, _base(database=f"sqlite:///{tmp_path}/gw.db"), "run", "--once", env=env)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: rpc_url: the gateway commits offers")
    assert proc.stderr.count("\n") == 1


def _tls(**csms: Any) -> dict[str, Any]:
    base = _base()
    return {**base, "csms": {**base["csms"], **csms}}


@pytest.mark.parametrize(
    ("over", "field", "reason"),
    [
        (_tls(tls_cert="c.pem"), "csms.tls_cert", "TLS files need security_profile 2 or 3"),
        (_tls(security_profile=2, tls_key="k.pem"), "csms.tls_cert", "profile 2 needs it"),
        (
            _tls(security_profile=3, tls_cert="c.pem", tls_key="k.pem"),
            "csms.tls_ca",
            "security_profile 3 needs the CA",
        ),
        (
            _tls(security_profile=2, tls_cert="c.pem", tls_key="k.pem", tls_ca="ca.pem"),
            "csms.tls_ca",
            "client certificates are profile 3",
        ),
        (_tls(security_profile=4), "csms.security_profile", "Input should be 1, 2 or 3"),
        (
            {**_base(), "ev_users": {"../x": {"station": "ST-1", "evse_id": 1}}},
            "ev_users",
            "'../x' is not an EV user id",
        ),
    ],
)
def test_tls_settings_and_user_ids_are_checked(
    over: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(FspConfigError) as err:
        parse_config(over)
    assert err.value.field == field
    assert reason in err.value.reason


def test_a_missing_tls_file_is_named(tmp_path: Path) -> None:
    cfg = parse_config(_tls(security_profile=2, tls_cert="c.pem", tls_key="k.pem"))
    assert parse_config(_base()).csms_ssl_context(tmp_path / "fsp.yaml") is None
    with pytest.raises(FspConfigError) as err:
        cfg.csms_ssl_context(tmp_path / "fsp.yaml")
    assert err.value.field == "csms.tls_cert" and "no such file" in err.value.reason
    (tmp_path / "c.pem").write_text("not a certificate")
    (tmp_path / "k.pem").write_text("not a key")
    with pytest.raises(FspConfigError) as err:
        cfg.csms_ssl_context(tmp_path / "fsp.yaml")
    assert err.value.field == "csms.tls_cert" and "cannot load" in err.value.reason


def test_statements_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    assert parse_config(_base()).statements_path(tmp_path / "fsp.yaml") is None
    cfg = parse_config(_base(statements_dir="out/statements"))
    assert cfg.statements_path(tmp_path / "fsp.yaml") == tmp_path / "out" / "statements"


def test_netting_section_parses_and_refuses_a_bad_user_address_by_its_path() -> None:
    """Issue 19: the signed contracts and each EV's user address the gateway nets with."""
    alice = "0x" + "a1" * 20
    cfg = parse_config(_base(netting={"ev_users": {"ev-1": alice}}))
    assert cfg.netting is not None and cfg.netting.ev_users == {"ev-1": alice}
    assert parse_config(_base()).netting is None  # no section: no revenue sharing
    with pytest.raises(FspConfigError) as err:
        parse_config(_base(netting={"ev_users": {"ev-1": alice.upper()}}))
    assert err.value.field == "netting.ev_users.ev-1"
    with pytest.raises(FspConfigError) as err:
        parse_config(_base(netting={"contracts": [{"contract": {}}]}))
    assert err.value.field == "netting.contracts[0].contract.fsp"  # the first missing term
    with pytest.raises(FspConfigError) as err:
        parse_config(_base(netting={"templates": [{"template": {"template_id": "x"}}]}))
    assert err.value.field.startswith("netting.templates[0].template.")
