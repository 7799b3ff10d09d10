"""The development wallet and its chain relay exist only for a development market on a local
chain: in production no key is served and nothing is relayed; the relay never passes a call
that moves the chain's clock or balances; the nonce carries the market's clock."""

from __future__ import annotations

import pytest

from market.auth import eip712

pytestmark = pytest.mark.integration


def test_development_market_lists_the_local_keys_with_their_roles(api, chain) -> None:
    answer = api.get("/dev-wallet")
    assert answer.status_code == 200, answer.text
    wallet = answer.json()
    assert wallet["rpc_url"] == "/dev/rpc" and wallet["chain_id"] == 31337
    by_address = {a["address"]: a for a in wallet["accounts"]}
    dso = by_address[chain.addresses["dso"].lower()]
    assert dso["roles"] == ["DSO"]
    assert eip712.address_of(dso["private_key"]) == chain.addresses["dso"].lower()
    assert by_address[chain.addresses["fsp_a"].lower()]["roles"] == ["FSP"]


def test_the_relay_passes_chain_reads_and_refuses_cheats(api) -> None:
    ok = api.post("/dev/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
    assert ok.status_code == 200 and int(ok.json()["result"], 16) == 31337
    for method in ("anvil_setBalance", "evm_increaseTime", "eth_sendTransaction"):
        cheat = api.post("/dev/rpc", json=[{"jsonrpc": "2.0", "id": 1, "method": method}])
        assert cheat.status_code == 422, method
        assert cheat.json()["field"] == "[0].method"
    garbage = api.post("/dev/rpc", content=b"", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 422 and garbage.json()["field"] == "body"


def test_production_serves_no_key_and_relays_nothing(api, runtime) -> None:
    app = api.app
    app.state.settings = runtime.settings.model_copy(update={"mode": "production"})
    wallet = api.get("/dev-wallet")
    assert wallet.status_code == 404 and wallet.json()["field"] == "mode"
    assert "private_key" not in wallet.text
    relay = api.post("/dev/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
    assert relay.status_code == 404


def test_the_nonce_carries_the_market_clock(api, runtime, chain) -> None:
    chain.warp_to(int(runtime.core.clock.now()) + 7 * 86400)  # far from the wall clock
    answer = api.get("/auth/nonce").json()
    assert abs(answer["now"] - runtime.core.clock.now()) < 5
