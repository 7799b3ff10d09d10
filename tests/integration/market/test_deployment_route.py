"""``GET /deployment``: what a participant needs to reach the chain, read from the chain."""

from __future__ import annotations

import pytest

from adapters.chain.deploy import abi_hash
from market.client import ApiError

pytestmark = pytest.mark.integration


def test_deployment_names_the_chain_contracts_and_abis(chain, clients) -> None:
    anyone = clients("outsider")
    info = anyone.deployment()
    dep = chain.contracts.deployment
    assert info["chain_id"] == chain.client.chain_id == dep.chain_id
    assert (info["market"], info["token"], info["positions"]) == (
        dep.market,
        dep.token,
        dep.positions,
    )
    # the market's own deploy block (the token may be a block older): where its events start
    assert info["deploy_block"] == chain.contracts.market.deploy_block >= dep.deploy_block
    assert info["abi_hashes"] == dep.abi_hashes
    assert info["public_rpc_url"] is None  # FLEXMARKET_PUBLIC_RPC_URL not set
    # FLEXMARKET_NETTING is on, but no clearing-house key and the operator holds no
    # CLEARING_HOUSE here: nobody nets, so gateways must not wait for a netting
    assert info["netting"] is False
    for name, route in info["abis"].items():
        abi = anyone.abi(name)
        assert route == f"/deployment/abi/{name}"
        assert abi_hash(abi) == info["abi_hashes"][name]
    assert any(e.get("name") == "commitOffers" for e in anyone.abi("FlexMarket"))
    with pytest.raises(ApiError) as err:
        anyone.abi("Nope")
    assert err.value.status == 404 and err.value.field == "contract"


def test_deployment_is_documented(api) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert "/deployment" in paths and "/deployment/abi/{contract}" in paths
