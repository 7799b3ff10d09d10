"""The auditor checks the code that holds the money against the build, from the market's address
alone: an operator dishonest from the start who deploys other code there is a finding, whatever
its events say. Each test swaps code in place on anvil (``anvil_setCode``), as such a deployer
would have deployed it."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.chain.client import ChainClient
from adapters.chain.toolchain import compile_contracts
from market.audit.check_code import check_market_code
from market.audit.runner import run_audit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _code(chain: Any, address: str) -> bytearray:
    code = chain.client.rpc("eth_getCode", [address, "latest"])
    return bytearray(bytes.fromhex(str(code)[2:]))


def _set_code(chain: Any, address: str, code: bytes) -> None:
    method = "hardhat_setCode" if chain.node.kind == "hardhat" else "anvil_setCode"
    chain.client.rpc(method, [address, "0x" + code.hex()])


def test_an_honest_deployment_passes_and_names_its_token(chain) -> None:
    res = check_market_code(chain.client, chain.contracts.deployment.market)
    assert (res.status, res.findings) == ("pass", [])
    assert res.notes == [
        f"settlement token {chain.contracts.deployment.token} is this build's SettlementToken"
    ]


def test_other_code_at_the_market_address_fails_the_audit(chain) -> None:
    market = chain.contracts.deployment.market
    body = _code(chain, market)
    body[-3] ^= 0x01  # a bit of the CBOR metadata (compiler version): never executed
    _set_code(chain, market, bytes(body))

    report = run_audit(rpc=chain.client.rpc_url, market=market)
    code = next(c for c in report.market_checks if c.name == "code")
    (finding,) = code.findings
    assert finding.code == "code.mismatch" and finding.subject == market
    assert finding.message.startswith(f"FlexMarket at {market}: code differs from the build")
    # views of code nobody reviewed prove nothing about the token; the note says what "build" is
    (note,) = code.notes
    assert note.startswith("the build is this checkout's sources compiled by its own toolchain")
    assert report.exit_code == 1


def test_a_swapped_library_is_named_once_though_the_market_calls_it_at_many_sites(chain) -> None:
    market = chain.contracts.deployment.market
    refs = compile_contracts()["FlexMarket"].runtime_link_references
    (_lib, start, length), *_ = [r for r in refs if r[0].endswith("NettingLedger")]
    assert len([r for r in refs if r[0].endswith("NettingLedger")]) > 1
    library = "0x" + bytes(_code(chain, market)[start : start + length]).hex()
    body = _code(chain, library)
    body[-40] ^= 0x01
    _set_code(chain, library, bytes(body))

    res = check_market_code(chain.client, market)
    assert [(f.code, f.subject) for f in res.findings] == [("code.mismatch", library)]
    assert res.findings[0].message.startswith(f"NettingLedger at {library}: code differs")


def test_positions_naming_another_market_fail_though_their_masked_code_matches(chain) -> None:
    d = chain.contracts.deployment
    (start, length), *_ = compile_contracts()["FlexPositions"].immutable_ranges
    body = _code(chain, d.positions)
    body[start + length - 20 : start + length] = bytes.fromhex(d.token[2:])
    _set_code(chain, d.positions, bytes(body))

    res = check_market_code(chain.client, d.market)
    (finding,) = res.findings
    assert finding.code == "code.mismatch" and finding.subject == d.positions
    assert f"FlexPositions.market is {d.token}, not this market {d.market}" in finding.message


def test_a_token_that_is_not_the_build_is_named_not_judged(chain) -> None:
    """``deploy --token`` reuses an existing ERC-20 by design: the audit says so plainly."""
    token = chain.contracts.deployment.token
    body = _code(chain, token)
    body[-3] ^= 0x01  # metadata only: the token still works
    _set_code(chain, token, bytes(body))

    res = check_market_code(chain.client, chain.contracts.deployment.market)
    assert (res.status, res.findings) == ("pass", [])
    (note,) = res.notes
    assert note.startswith(f"settlement token {token} is not this build's SettlementToken")
    assert "an existing ERC-20" in note


def test_an_unreachable_node_is_an_error_not_a_pass(chain) -> None:
    client = ChainClient("http://127.0.0.1:9", request_timeout_s=2)
    res = check_market_code(client, chain.contracts.deployment.market)
    assert res.status == "error" and res.problems[0].code == "audit.could_not_run"
