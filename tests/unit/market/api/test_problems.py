"""Every domain error maps to its RFC 9457 problem in one place."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from market import errors
from market.api.problems import MEDIA_TYPE, install, problem_type

CASES = [
    (errors.BadSignature, 401, "bad-signature"),
    (errors.MessageExpired, 401, "message-expired"),
    (errors.Unauthenticated, 401, "unauthenticated"),
    (errors.RoleRequired, 403, "role-required"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.StationNotGranted, 403, "station-not-granted"),
    (errors.NotFound, 404, "not-found"),
    (errors.GateClosed, 409, "gate-closed"),
    (errors.DuplicateMessage, 409, "duplicate-message"),
    (errors.WrongSessionState, 409, "wrong-session-state"),
    (errors.ChainMismatch, 409, "chain-mismatch"),
    (errors.UnknownCongestionPoint, 422, "unknown-congestion-point"),
    (errors.ChainUnavailable, 503, "chain-unavailable"),
]


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install(app)

    @app.get("/raise/{index}")
    def raiser(index: int) -> None:
        cls = CASES[index][0]
        raise cls("the reason", field="body.thing")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)))
def test_domain_error_to_problem(client: TestClient, index: int, case) -> None:
    _, status, slug = case
    r = client.get(f"/raise/{index}")
    assert r.status_code == status
    assert r.headers["content-type"] == MEDIA_TYPE
    body = r.json()
    assert body["type"] == problem_type(slug)
    assert body["status"] == status
    assert body["field"] == "body.thing"
    assert "the reason" in body["detail"]
    assert body["instance"] == f"/raise/{index}"


def test_unexpected_error_hides_details(client: TestClient) -> None:
    r = client.get("/boom")
    assert r.status_code == 500
    assert r.json()["type"] == problem_type("internal-error")
    assert "secret" not in r.text


def test_unknown_route_is_problem(client: TestClient) -> None:
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["type"] == problem_type("not-found")
