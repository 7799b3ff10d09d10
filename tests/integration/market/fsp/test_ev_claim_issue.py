"""Issuing an EV user's claim at the FSP gateway's API (issue 19): a gateway without a
revenue-share template cannot make the claim address a payee and says what to configure (501
not-configured) instead of handing out a code nothing would pay; a signing step that fails
leaves no claim behind, so the user may ask again. The gateway's real store and API
in-process; the netted, redeemed claim is in
tests/integration/market/settlement/test_ev_claims.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from market.fsp.claims import ClaimDesk
from market.fsp.ev_api import gateway_app
from market.fsp.store import GatewayStore

pytestmark = pytest.mark.integration


def _api(tmp_path: Path, desk_hook) -> tuple[TestClient, dict[str, str], GatewayStore]:
    gw = GatewayStore(f"sqlite:///{tmp_path}/gateway.db")
    desk = ClaimDesk(gw.engine, gw.now, on_issue=desk_hook)
    app = gateway_app(gw, {"ana", "ben"}, lambda: {}, claims=desk)
    return TestClient(app), {"Authorization": f"Bearer {gw.issue_token('ana')}"}, gw


def test_a_gateway_without_a_template_refuses_to_issue_and_says_what_to_configure(
    tmp_path: Path,
) -> None:
    api, auth, _gw = _api(tmp_path, None)
    with api:
        refused = api.post("/ev-users/ana/claim", headers=auth)
        assert refused.status_code == 501, refused.text
        problem = refused.json()
        assert problem["field"] == "claim" and "netting.templates" in problem["detail"]
        assert "sign-template" in problem["detail"]
        assert "not-configured" in problem["type"]
        view = api.get("/ev-users/ana/claim", headers=auth)  # none kept, and none issuable
        assert view.status_code == 200 and view.json()["address"] is None
        assert view.json()["issuable"] is False


def test_a_failed_signing_keeps_no_claim_and_the_next_request_issues_one(tmp_path: Path) -> None:
    calls: list[str] = []

    def hook(user_id: str, account) -> None:
        calls.append(account.address.lower())
        if len(calls) == 1:
            raise RuntimeError("the market refused the contract")

    api, auth, _gw = _api(tmp_path, hook)
    with api:
        with pytest.raises(RuntimeError):
            api.post("/ev-users/ana/claim", headers=auth)
        assert api.get("/ev-users/ana/claim", headers=auth).json()["address"] is None
        issued = api.post("/ev-users/ana/claim", headers=auth)
        assert issued.status_code == 201, issued.text
        assert issued.json()["address"] == calls[-1] and calls[0] != calls[-1]
        again = api.post("/ev-users/ana/claim", headers=auth)
        assert (again.status_code, again.json()["field"]) == (409, "claim")


def test_redeem_refuses_an_oversized_a_deeply_nested_and_another_users_body(
    tmp_path: Path,
) -> None:
    api, auth, _gw = _api(tmp_path, lambda _user, _account: None)
    at = "/ev-users/ana/claim/redeem"
    with api:
        long_code = api.post(at, json={"code": "F" * 129, "to": "0x" + "12" * 20}, headers=auth)
        assert (long_code.status_code, long_code.json()["field"]) == (422, "code")
        deep: object = "x"
        for _ in range(200):
            deep = {"code": deep}
        nested = api.post(at, json={"code": deep, "to": "0x" + "12" * 20}, headers=auth)
        assert nested.status_code in (400, 422), nested.text
        # ana's token on ben's claim
        other = api.post("/ev-users/ben/claim/redeem", json={"code": "x", "to": "y"}, headers=auth)
        assert other.status_code == 403, other.text
