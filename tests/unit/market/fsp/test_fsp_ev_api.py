"""The EV users' API: 401 without or with a wrong token, 403 for another user's data, 422
naming the field of a bad preference; consent (stored with a time, required to opt in,
withdrawing it opts out of every campaign); campaigns; a user's own preferences and
statements; the EV-user page; /status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from market.fsp.ev_api import gateway_app
from market.fsp.ev_page import CONSENT
from market.fsp.ev_store import EvUserStore
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
    consent = {"given": True, "version": CONSENT["version"]}
    client.put("/ev-users/alice/consent", json=consent, headers=_auth(tokens["alice"]))
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


def _campaign(sid: str, start: int) -> dict[str, Any]:
    return {
        "id": sid,
        "state": "OPEN",
        "gate_closure": start,
        "delivery_start": start,
        "delivery_end": start + 3600,
        "isp_s": 900,
    }


def test_consent_is_stored_with_a_time_and_needed_to_opt_in(env: Any) -> None:
    client, store, tokens = env
    store.now = lambda: 1_800_000_000.0
    alice = _auth(tokens["alice"])
    got = client.get("/ev-users/alice/consent", headers=alice).json()
    assert got == {
        "given": False,
        "version": None,
        "at": None,
        "current_version": CONSENT["version"],
    }
    refused = client.put("/ev-users/alice/preferences", json={"opt_in": True}, headers=alice)
    _problem(refused, 409, "consent")
    refused = client.put(
        "/ev-users/alice/preferences",
        json={"opt_in": False, "campaigns": {"s1": True}},
        headers=alice,
    )
    _problem(refused, 409, "consent")
    assert store.preferences("alice") is None
    # limits without any opt-in may be saved before consenting
    ok = client.put("/ev-users/alice/preferences", json={"opt_in": False}, headers=alice)
    assert ok.status_code == 200, ok.text
    old = client.put(
        "/ev-users/alice/consent", json={"given": True, "version": "v0"}, headers=alice
    )
    _problem(old, 422, "version")
    given = client.put(
        "/ev-users/alice/consent",
        json={"given": True, "version": CONSENT["version"]},
        headers=alice,
    )
    assert given.json()["given"] is True and given.json()["at"] == 1_800_000_000
    assert EvUserStore(store.engine, store.now).consenting() == {"alice"}
    ok = client.put("/ev-users/alice/preferences", json={"opt_in": True}, headers=alice)
    assert ok.status_code == 200, ok.text
    _problem(
        client.put("/ev-users/bob/consent", json={"given": True, "version": "x"}, headers=alice),
        403,
        "user_id",
    )


def test_withdrawing_consent_opts_out_of_every_campaign(env: Any) -> None:
    client, store, tokens = env
    ev = EvUserStore(store.engine, store.now)
    ev.put_campaign(_campaign("s1", 1_000_000))
    ev.put_campaign(_campaign("s2", 2_000_000))
    alice = _auth(tokens["alice"])
    version = CONSENT["version"]
    client.put("/ev-users/alice/consent", json={"given": True, "version": version}, headers=alice)
    prefs = {"opt_in": True, "campaigns": {"s1": True}, "min_soc_pct": 70}
    assert client.put("/ev-users/alice/preferences", json=prefs, headers=alice).status_code == 200
    campaigns = client.get("/ev-users/alice/campaigns", headers=alice).json()
    assert [(c["session_id"], c["opted_in"]) for c in campaigns] == [("s2", True), ("s1", True)]
    out = client.put(
        "/ev-users/alice/consent", json={"given": False, "version": version}, headers=alice
    )
    assert out.status_code == 200 and out.json()["given"] is False
    stored = store.preferences("alice")
    assert stored is not None
    assert stored["opt_in"] is False and stored["campaigns"] == {"s1": False, "s2": False}
    assert stored["min_soc_pct"] == 70  # the limits stay
    campaigns = client.get("/ev-users/alice/campaigns", headers=alice).json()
    assert [c["opted_in"] for c in campaigns] == [False, False]
    assert ev.consenting() == set()


def test_the_page_and_its_consent_text_are_served_same_origin(env: Any) -> None:
    client, _, _ = env
    page = client.get("/ev-user")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/ev-static/ev-user.js">' in page.text
    assert "https://" not in page.text
    assert client.get("/ev-static/ev-user.js").status_code == 200
    text = client.get("/consent-text").json()
    assert text["version"] == CONSENT["version"]
    assert [s["with"].split(" ")[1] for s in text["shared"]] == ["FSP", "market", "blockchain"]
