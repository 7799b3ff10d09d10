"""``describe``: each kind of user error becomes one line that names the setting to change."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.chain.revert import ChainError
from market.commands.errors import describe
from market.errors import ChainMismatch
from market.settings import SettingError, Settings, refuse_default_secrets

DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def test_settings_fields_are_named_as_environment_variables() -> None:
    exc = ChainMismatch("no chain configured", field="settings.rpc_url")
    assert describe(exc) == "FLEXMARKET_RPC_URL: no chain configured"
    with pytest.raises(ValidationError) as err:
        Settings(port="x")  # type: ignore[arg-type]
    assert describe(err.value).startswith("FLEXMARKET_PORT: ")


def test_unreachable_node_says_how_to_get_one() -> None:
    line = describe(ChainError("eth_chainId at http://x: node unreachable (refused)"))
    assert line.startswith(
        "FLEXMARKET_RPC_URL (or --rpc): eth_chainId at http://x: node unreachable;"
    )
    assert "flexmarket chain up" in line and "refused" not in line


def test_unknown_errors_point_at_debug() -> None:
    line = describe(RuntimeError("boom\nsecond line"))
    assert line.startswith("internal error RuntimeError: boom") and "--debug" in line


@pytest.mark.parametrize(
    ("fields", "setting"),
    [
        ({}, "FLEXMARKET_TOKEN_SECRET"),
        ({"token_secret": "short"}, "FLEXMARKET_TOKEN_SECRET"),
        ({"token_secret": "s" * 32}, "FLEXMARKET_RPC_URL"),
        ({"token_secret": "s" * 32, "rpc_url": "http://n"}, "FLEXMARKET_OPERATOR_KEY"),
        (
            {"token_secret": "s" * 32, "rpc_url": "http://n", "operator_key": DEV_KEY},
            "FLEXMARKET_OPERATOR_KEY",
        ),
        (
            {
                "token_secret": "s" * 32,
                "rpc_url": "http://n",
                "operator_key": "0x" + "11" * 32,
                "oracle_key": DEV_KEY[2:],
            },
            "FLEXMARKET_ORACLE_KEY",
        ),
        (  # netting is on by default: production needs the clearing house's own key
            {"token_secret": "s" * 32, "rpc_url": "http://n", "operator_key": "0x" + "11" * 32},
            "FLEXMARKET_CLEARING_HOUSE_KEY",
        ),
    ],
)
def test_production_mode_refuses_default_secrets(fields: dict[str, str], setting: str) -> None:
    settings = Settings(mode="production", **fields)  # type: ignore[arg-type]
    with pytest.raises(SettingError) as err:
        refuse_default_secrets(settings)
    assert err.value.setting == setting


def test_production_mode_with_own_secrets_and_development_mode_pass() -> None:
    own = {"token_secret": "s" * 32, "rpc_url": "http://n", "operator_key": "0x" + "11" * 32}
    house = {"clearing_house_key": "0x" + "22" * 32}
    refuse_default_secrets(Settings(mode="production", **own, **house))  # type: ignore[arg-type]
    refuse_default_secrets(Settings(mode="production", netting=False, **own))  # type: ignore[arg-type]
    refuse_default_secrets(Settings())  # development: the service makes up what is missing


def test_production_netting_refusal_names_the_key_and_the_way_out() -> None:
    own = {"token_secret": "s" * 32, "rpc_url": "http://n", "operator_key": "0x" + "11" * 32}
    with pytest.raises(SettingError) as err:
        refuse_default_secrets(Settings(mode="production", **own))  # type: ignore[arg-type]
    line = str(err.value)
    assert line.startswith("FLEXMARKET_CLEARING_HOUSE_KEY: ") and "\n" not in line
    assert "FLEXMARKET_NETTING=false" in line


def test_readings_digests_are_required_by_default_and_production_refuses_false(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without digests withheld readings are undetectable: on unless explicitly turned off,
    and production mode refuses that with one line naming the setting."""
    monkeypatch.delenv("FLEXMARKET_READINGS_DIGESTS_REQUIRED", raising=False)
    assert Settings().readings_digests_required
    own = {"token_secret": "s" * 32, "rpc_url": "http://n", "operator_key": "0x" + "11" * 32}
    monkeypatch.setenv("FLEXMARKET_READINGS_DIGESTS_REQUIRED", "false")
    off = Settings(mode="production", **own)  # type: ignore[arg-type]
    assert not off.readings_digests_required
    with pytest.raises(SettingError) as err:
        refuse_default_secrets(off)
    assert err.value.setting == "FLEXMARKET_READINGS_DIGESTS_REQUIRED"
    assert "development only" in str(err.value) and "\n" not in str(err.value)
    refuse_default_secrets(Settings())  # development may turn it off
