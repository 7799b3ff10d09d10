"""SIWE sign-in over the API: one token per signed message, sign-out, throttled failures.

Issue 14 item 3/4: a replayed message is refused (also when two sign-ins race on one
PostgreSQL from two "processes"), a signed-out token gets 401, failed sign-ins get 429 with
Retry-After, and the operator can list them.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from eth_utils import to_checksum_address

from market.auth import siwe
from market.auth.sign_in_store import SignInStore
from market.client import ApiError
from market.errors import FlexMarketError
from market.store.db import make_engine

pytestmark = pytest.mark.integration


def _signed(api: Any, key: str, address: str, now: float) -> dict[str, str]:
    info = api.get("/market").json()
    nonce = api.get("/auth/nonce").json()["nonce"]
    text = siwe.build_message(
        domain=info["siwe_domain"],
        address=to_checksum_address(address),
        uri=info["siwe_uri"],
        chain_id=info["chain_id"],
        nonce=nonce,
        now=now,
    )
    return {"message": text, "signature": siwe.sign_text(key, text)}


def test_replayed_sign_in_message_is_refused(api, chain, runtime) -> None:
    body = _signed(api, chain.keys["fsp_a"], chain.addresses["fsp_a"], runtime.core.clock.now())
    first = api.post("/auth/siwe", json=body)
    assert first.status_code == 200, first.text
    again = api.post("/auth/siwe", json=body)
    assert again.status_code == 401
    assert again.headers["content-type"].startswith("application/problem+json")
    assert "already used" in again.json()["detail"]


def test_two_processes_racing_one_message_yield_exactly_one_token(db_url, chain, runtime) -> None:
    """Two issuers with their own engines (as two API processes) on one database."""
    issuers = []
    for _ in range(2):
        store = SignInStore(make_engine(db_url, pool_size=2))
        issuers.append(
            siwe.TokenIssuer(
                "shared-secret",
                domain=runtime.issuer.domain,
                chain_id=runtime.issuer.chain_id,
                token_ttl_s=600,
                store=store,
            )
        )
    now = runtime.core.clock.now()
    nonce = issuers[0].new_nonce(now)
    text = siwe.build_message(
        domain=runtime.issuer.domain,
        address=to_checksum_address(chain.addresses["dso"]),
        uri="http://market.test",
        chain_id=runtime.issuer.chain_id,
        nonce=nonce,
        now=now,
    )
    body = (text, siwe.sign_text(chain.keys["dso"], text))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(issuer: siwe.TokenIssuer) -> None:
        barrier.wait()
        try:
            issuer.sign_in(*body, now + 1)
            outcomes.append("token")
        except FlexMarketError as exc:
            outcomes.append(exc.slug)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in issuers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["token", "unauthenticated"]
    for issuer in issuers:
        issuer.store.engine.dispose()


def test_signed_out_token_gets_401(clients) -> None:
    fsp = clients("fsp_a")
    token = fsp.sign_in()
    with pytest.raises(ApiError) as signed_in:
        fsp._get("/auth/failures")
    assert signed_in.value.status == 403  # authenticated, just not the operator
    fsp.sign_out()
    fsp.token = token
    with pytest.raises(ApiError) as refused:
        fsp._get("/auth/failures")
    assert refused.value.status == 401
    assert "signed out" in refused.value.problem["detail"]


def test_failed_sign_ins_are_throttled_and_listed_for_the_operator(api, chain, runtime, clients):
    victim = chain.addresses["fsp_b"]
    wrong_key = chain.keys["outsider"]
    statuses = []
    for _ in range(6):
        body = _signed(api, wrong_key, victim, runtime.core.clock.now())
        statuses.append(api.post("/auth/siwe", json=body))
    assert [r.status_code for r in statuses] == [401] * 5 + [429]
    throttled = statuses[-1]
    assert int(throttled.headers["retry-after"]) >= 1
    assert throttled.json()["type"].endswith("/too-many-requests")
    assert throttled.headers["content-type"].startswith("application/problem+json")

    fsp = clients("fsp_a")
    fsp.sign_in()
    with pytest.raises(ApiError) as forbidden:
        fsp._get("/auth/failures")
    assert forbidden.value.status == 403
    operator = clients("operator")
    operator.sign_in()
    listed = {f["key"]: f for f in operator._get("/auth/failures")["failures"]}
    assert listed[f"address:{victim.lower()}"]["failures"] == 5
    assert listed[f"address:{victim.lower()}"]["last_failure_at"] > 0
