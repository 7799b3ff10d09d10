"""The EV users' API: 401 without or with a wrong token, 403 for another user's data, 422
naming the field of a bad preference; a user's own preferences and statements; /status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from market.fsp.ev_api import gateway_app
from market.fsp.store import GatewayStore


@pytest.fixture
def env(tmp_path: Path) -> tuple[TestClient, GatewayStore, dict[str, str]]:
    store = GatewayStore(f"sqlite:///{tmp_path}/gw.db")
    tokens = {u: store.issue_token(u) for u in ("alice", "bob")}
    app = gateway_app(store, {"alice", "bob"}, lambda: {"outbox": {"pending": 3}})
    return TestClient(app), store, tokens


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _problem(resp: Any, status: int, field: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["field"] == field
    return body


def test_no_token_or_an_unknown_one_is_401(env: Any) -> None:
    client, _, _ = env
    _problem(client.get("/ev-users/alice/preferences"), 401, "authorization")
    _problem(
        client.get("/ev-users/alice/preferences", headers=_auth("guess")), 401, "authorization"
    )
    basic = {"Authorization": "Basic YWxpY2U6eA=="}
    _problem(client.get("/ev-users/alice/preferences", headers=basic), 401, "authorization")


def test_another_users_data_is_403_and_an_unknown_user_404(env: Any) -> None:
    client, _, tokens = env
    body = _problem(
        client.get("/ev-users/bob/statements", headers=_auth(tokens["alice"])), 403, "user_id"
    )
    assert "alice" in body["detail"]
    _problem(
        client.put("/ev-users/bob/preferences", json={}, headers=_auth(tokens["alice"])),
        403,
        "user_id",
    )
    _problem(client.get("/ev-users/zed/statements", headers=_auth(tokens["alice"])), 404, "user_id")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"min_soc_pct": 101}, "min_soc_pct"),
        ({"min_price_per_mwh": -1}, "min_price_per_mwh"),
        ({"departure_unix": "tomorrow"}, "departure_unix"),
        ({"opt_in": "yes"}, "opt_in"),
        ({"campaigns": {"s1": "maybe"}}, "campaigns.s1"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_preference_is_422_naming_the_field(
    env: Any, body: dict[str, Any], field: str
) -> None:
    client, store, tokens = env
    resp = client.put("/ev-users/alice/preferences", json=body, headers=_auth(tokens["alice"]))
    _problem(resp, 422, field)
    assert store.preferences("alice") is None  # nothing stored


def test_own_preferences_round_trip_and_statements(env: Any) -> None:
    client, store, tokens = env
    prefs = {
        "opt_in": True,
        "campaigns": {"s1": False},
        "departure_unix": 1_700_000_000,
        "min_soc_pct": 80,
        "min_price_per_mwh": 40_000_000,
        "arrival_soc_pct": 30,
        "battery_wh": 75_000,
    }
    put = client.put("/ev-users/alice/preferences", json=prefs, headers=_auth(tokens["alice"]))
    assert put.status_code == 200, put.text
    got = client.get("/ev-users/alice/preferences", headers=_auth(tokens["alice"]))
    assert got.json() == prefs
    assert store.preferences("alice") == prefs
    assert client.get("/ev-users/alice/statements", headers=_auth(tokens["alice"])).json() == []
    store.put_statement("s1", "alice", {"session_id": "s1", "share_units": 12})
    store.put_statement("s1", "bob", {"session_id": "s1", "share_units": 99})
    own = client.get("/ev-users/alice/statements", headers=_auth(tokens["alice"]))
    assert own.json() == [{"session_id": "s1", "share_units": 12}]
    assert client.get("/status").json() == {"outbox": {"pending": 3}}
