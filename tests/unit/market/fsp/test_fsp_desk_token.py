"""The fleet desk's operator token: off unless configured, no short or unset token, the
state route refuses a missing or wrong token (RFC 9457, field named), and the next session
is the earliest unfinished one."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from market.api.problems import install as install_problems
from market.fsp import desk
from market.fsp.config import FspConfigError, parse_config
from market.fsp.runner import operator_token
from market.participant.errors import ParticipantError

GOOD = "t" * 32


def _cfg(**ev_api: Any) -> Any:
    return parse_config(
        {
            "market_url": "http://127.0.0.1:8000",
            "key_env": "FSP_KEY",
            "csms": {
                "stations": {
                    "ST-1": {
                        "password_env": "PW",
                        "evses": [
                            {"evse_id": 1, "congestion_point": "CP-1", "max_import_w": 11_000}
                        ],
                    }
                }
            },
            "ev_api": ev_api,
        }
    )


def test_the_desk_is_off_without_a_token_env_and_refuses_a_short_or_unset_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert operator_token(_cfg()) is None
    cfg = _cfg(desk_token_env="DESK_TOKEN")
    monkeypatch.delenv("DESK_TOKEN", raising=False)
    with pytest.raises(ParticipantError) as unset:
        operator_token(cfg)
    assert unset.value.field == "ev_api.desk_token_env"
    monkeypatch.setenv("DESK_TOKEN", "short")
    with pytest.raises(ParticipantError, match="at least 32"):
        operator_token(cfg)
    monkeypatch.setenv("DESK_TOKEN", GOOD)
    assert operator_token(cfg) == GOOD
    with pytest.raises(FspConfigError) as bad:
        _cfg(desk_token_env="not a name")
    assert bad.value.field == "ev_api.desk_token_env"


def _client(token: str | None) -> TestClient:
    app = FastAPI()
    install_problems(app)
    desk.install(app, lambda: {"fsp": "0xabc"}, token)
    return TestClient(app)


def test_the_state_route_needs_the_operator_token() -> None:
    off = _client(None).get("/desk/state", headers={"Authorization": f"Bearer {GOOD}"})
    assert off.status_code == 404 and off.json()["field"] == "ev_api.desk_token_env"
    client = _client(GOOD)
    for headers in ({}, {"Authorization": "Bearer " + "u" * 32}, {"Authorization": GOOD}):
        refused = client.get("/desk/state", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["field"] == "authorization"
    ok = client.get("/desk/state", headers={"Authorization": f"Bearer {GOOD}"})
    assert ok.status_code == 200 and ok.json() == {"fsp": "0xabc"}
    documented = client.get("/openapi.json").json()["paths"]["/desk/state"]["get"]["responses"]
    assert {"200", "401", "404"} <= set(documented)
    page = client.get("/desk")
    assert (
        page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    )


def test_the_next_session_is_the_earliest_unfinished_one() -> None:
    def c(sid: str, state: str, start: int) -> dict[str, Any]:
        return {
            "session_id": sid,
            "state": state,
            "delivery_start": start,
            "delivery_end": start + 240,
        }

    campaigns = [
        c("a", "FINAL", 0),
        c("b", "OPEN", 2000),
        c("c", "CLEARED", 1000),
        c("d", "OPEN", 100),
    ]
    assert desk.next_campaign(campaigns, now=500)["session_id"] == "c"  # "d" has ended
    assert desk.next_campaign(campaigns, now=5000) is None
