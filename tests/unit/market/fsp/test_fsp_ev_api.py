"""The EV users' API: 401 without or with a wrong token, 403 for another user's data, 422
naming the field of a bad preference; consent per purpose (stored with a time, bidding
consent required to opt in, withdrawing it opts out of every campaign, the legacy one-per-user
table migrated); campaigns; a user's own preferences and statements; the EV-user page;
/status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from market.fsp.consent import CONSENT, PURPOSES
from market.fsp.ev_api import gateway_app
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
        "wallet_address": "0x" + "ab" * 20,
    }
    consent = {"purposes": {"flexibility_bidding": True}, "version": CONSENT["version"]}
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
    bad = client.put(
        "/ev-users/alice/preferences",
        json={**prefs, "wallet_address": "0x12"},
        headers=_auth(tokens["alice"]),
    )
    assert bad.status_code == 422 and bad.json()["field"] == "wallet_address", bad.text


def _campaign(sid: str, start: int) -> dict[str, Any]:
    return {
        "id": sid,
        "state": "OPEN",
        "gate_closure": start,
        "delivery_start": start,
        "delivery_end": start + 3600,
        "isp_s": 900,
    }


def _decide(purposes: dict[str, bool], version: str = CONSENT["version"]) -> dict[str, Any]:
    return {"purposes": purposes, "version": version}


def test_consent_is_stored_per_purpose_with_a_time_and_bidding_is_needed_to_opt_in(
    env: Any,
) -> None:
    client, store, tokens = env
    store.now = lambda: 1_800_000_000.0
    alice = _auth(tokens["alice"])
    never = {"given": False, "version": None, "at": None}
    got = client.get("/ev-users/alice/consent", headers=alice).json()
    assert got == {
        "purposes": dict.fromkeys(PURPOSES, never),
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
        "/ev-users/alice/consent", json=_decide({"flexibility_bidding": True}, "v0"), headers=alice
    )
    _problem(old, 422, "version")
    # consent to the statement only: still no bidding, so still no opt-in
    stmt = client.put(
        "/ev-users/alice/consent", json=_decide({"revenue_statements": True}), headers=alice
    )
    assert stmt.status_code == 200, stmt.text
    body = stmt.json()["purposes"]
    assert body["revenue_statements"] == {
        "given": True,
        "version": CONSENT["version"],
        "at": 1_800_000_000,
    }
    assert body["flexibility_bidding"] == never
    refused = client.put("/ev-users/alice/preferences", json={"opt_in": True}, headers=alice)
    _problem(refused, 409, "consent")
    ev = EvUserStore(store.engine, store.now)
    assert ev.consenting("flexibility_bidding") == set()
    assert ev.consenting("revenue_statements") == {"alice"}
    store.now = lambda: 1_800_000_060.0
    given = client.put(
        "/ev-users/alice/consent", json=_decide({"flexibility_bidding": True}), headers=alice
    )
    purposes = given.json()["purposes"]
    assert purposes["flexibility_bidding"]["at"] == 1_800_000_060
    assert purposes["revenue_statements"]["at"] == 1_800_000_000  # not named: unchanged
    assert ev.consenting("flexibility_bidding") == {"alice"}
    ok = client.put("/ev-users/alice/preferences", json={"opt_in": True}, headers=alice)
    assert ok.status_code == 200, ok.text
    _problem(
        client.put(
            "/ev-users/bob/consent", json=_decide({"flexibility_bidding": True}), headers=alice
        ),
        403,
        "user_id",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"purposes": {"research": True}, "version": CONSENT["version"]}, "purposes.research"),
        (
            {"purposes": {"flexibility_bidding": "yes"}, "version": CONSENT["version"]},
            "purposes.flexibility_bidding",
        ),
        ({"purposes": {}, "version": CONSENT["version"]}, "purposes"),
        ({"given": True, "version": CONSENT["version"]}, "purposes"),  # the old body
    ],
)
def test_a_bad_consent_decision_is_422_naming_the_field(
    env: Any, body: dict[str, Any], field: str
) -> None:
    client, store, tokens = env
    resp = client.put("/ev-users/alice/consent", json=body, headers=_auth(tokens["alice"]))
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"].startswith(field)
    assert EvUserStore(store.engine, store.now).consent("alice") == {}


def test_withdrawing_bidding_consent_opts_out_of_every_campaign(env: Any) -> None:
    client, store, tokens = env
    ev = EvUserStore(store.engine, store.now)
    ev.put_campaign(_campaign("s1", 1_000_000))
    ev.put_campaign(_campaign("s2", 2_000_000))
    alice = _auth(tokens["alice"])
    both = {"flexibility_bidding": True, "revenue_statements": True}
    client.put("/ev-users/alice/consent", json=_decide(both), headers=alice)
    prefs = {"opt_in": True, "campaigns": {"s1": True}, "min_soc_pct": 70}
    assert client.put("/ev-users/alice/preferences", json=prefs, headers=alice).status_code == 200
    campaigns = client.get("/ev-users/alice/campaigns", headers=alice).json()
    assert [(c["session_id"], c["opted_in"]) for c in campaigns] == [("s2", True), ("s1", True)]
    # withdrawing the statement consent alone leaves the campaigns alone
    client.put(
        "/ev-users/alice/consent", json=_decide({"revenue_statements": False}), headers=alice
    )
    campaigns = client.get("/ev-users/alice/campaigns", headers=alice).json()
    assert [c["opted_in"] for c in campaigns] == [True, True]
    out = client.put(
        "/ev-users/alice/consent", json=_decide({"flexibility_bidding": False}), headers=alice
    )
    assert (
        out.status_code == 200 and out.json()["purposes"]["flexibility_bidding"]["given"] is False
    )
    stored = store.preferences("alice")
    assert stored is not None
    assert stored["opt_in"] is False and stored["campaigns"] == {"s1": False, "s2": False}
    assert stored["min_soc_pct"] == 70  # the limits stay
    campaigns = client.get("/ev-users/alice/campaigns", headers=alice).json()
    assert [c["opted_in"] for c in campaigns] == [False, False]
    assert ev.consenting("flexibility_bidding") == set()


def test_a_store_with_one_consent_per_user_is_migrated_per_purpose(tmp_path: Path) -> None:
    """The table before per-purpose consent: its decision covered bidding and the
    statement, so it becomes that decision for both; the old table is dropped."""
    engine = sa.create_engine(f"sqlite:///{tmp_path}/old.db")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE fsp_ev_consents (user_id VARCHAR(64) PRIMARY KEY, "
            "given BOOLEAN NOT NULL, version VARCHAR(32) NOT NULL, at BIGINT NOT NULL)"
        )
        conn.exec_driver_sql("INSERT INTO fsp_ev_consents VALUES ('alice', 1, 'ev-data-1', 7)")
        conn.exec_driver_sql("INSERT INTO fsp_ev_consents VALUES ('bob', 0, 'ev-data-1', 8)")
    ev = EvUserStore(engine, now=lambda: 9.0)
    assert ev.consent("alice") == {
        "flexibility_bidding": {"given": True, "version": "ev-data-1", "at": 7},
        "revenue_statements": {"given": True, "version": "ev-data-1", "at": 7},
    }
    assert ev.consenting("flexibility_bidding") == {"alice"}
    assert ev.consent("bob")["revenue_statements"]["given"] is False
    assert "fsp_ev_consents" not in sa.inspect(engine).get_table_names()
    assert EvUserStore(engine, now=lambda: 9.0).consent("alice") == ev.consent("alice")


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
    assert [p["id"] for p in text["purposes"]] == list(PURPOSES)
    bidding, statements = text["purposes"]
    assert [s["with"].split(" ")[1] for s in bidding["shared"]] == ["FSP", "market", "blockchain"]
    assert [s["with"].split(" ")[1] for s in statements["shared"]] == ["FSP"]
    assert all(p["without"] for p in text["purposes"])
