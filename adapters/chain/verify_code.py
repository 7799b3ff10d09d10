"""Does the code on the chain match the build? ``eth_getCode`` against ``deployedBytecode``.

Why after every deploy on a real network: the deployment file is trusted by the service, the
indexer and the auditor; a wrong address or a contract swapped behind it would make them talk
to code nobody reviewed. Immutables are written into the runtime code by the constructor, so
their byte ranges (the compiler's ``immutableReferences``) are masked on both sides first,
and then read back through the views: the immutable addresses must be the deployment's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from adapters.chain.client import ChainClient
from adapters.chain.deploy import Deployment
from adapters.chain.market_contract import FlexMarketContract
from adapters.chain.positions import FlexPositionsContract
from adapters.chain.revert import ChainError
from adapters.chain.toolchain import Artifact


@dataclass(frozen=True)
class CodeCheck:
    """One contract's verdict: ``ok`` only if its masked runtime code equals the build's."""

    contract: str
    address: str
    ok: bool
    detail: str


def mask(code: bytes, ranges: Sequence[tuple[int, int]]) -> bytes:
    """``code`` with every ``(start, length)`` range zeroed (ranges past the end are ignored)."""
    out = bytearray(code)
    for start, length in ranges:
        end = min(start + length, len(out))
        if start < end:
            out[start:end] = bytes(end - start)
    return bytes(out)


def compare_code(artifact: Artifact, onchain: bytes) -> str | None:
    """None if ``onchain`` is the artifact's runtime code up to immutables, else why not."""
    built = bytes.fromhex(artifact.deployed_bytecode.removeprefix("0x"))
    if not onchain:
        return "no code at this address"
    if len(onchain) != len(built):
        return f"code is {len(onchain)} bytes, the build's is {len(built)}"
    ranges = artifact.immutable_ranges
    a, b = mask(onchain, ranges), mask(built, ranges)
    if a == b:
        return None
    first = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
    return f"code differs from the build at byte {first}"


def deployed_contracts(deployment: Deployment) -> list[tuple[str, str]]:
    """``(contract, address)`` of every contract the deployment made (not a reused token)."""
    pairs = [("FlexMarket", deployment.market), ("FlexPositions", deployment.positions)]
    if deployment.token_deployed:
        pairs.insert(0, ("SettlementToken", deployment.token))
    return pairs


def verify_deployment(
    client: ChainClient, deployment: Deployment, artifacts: Mapping[str, Artifact]
) -> list[CodeCheck]:
    """Check chain id, then every deployed contract's code; one CodeCheck per contract."""
    if client.chain_id != deployment.chain_id:
        raise ChainError(
            f"deployment: made for chain id {deployment.chain_id}, "
            f"but {client.rpc_url} is chain id {client.chain_id}"
        )
    checks = verify_contracts(client, deployed_contracts(deployment), artifacts)
    if all(check.ok for check in checks):
        checks.append(_wiring(client, deployment))
    return checks


def verify_contracts(
    client: ChainClient, pairs: Sequence[tuple[str, str]], artifacts: Mapping[str, Artifact]
) -> list[CodeCheck]:
    """Each ``(contract, address)``'s code against the build, and the libraries it links."""
    checks = []
    for name, address in pairs:
        code = _code(client, address)
        why = compare_code(artifacts[name], code)
        checks.append(CodeCheck(name, address, why is None, why or "matches the build"))
        if why is None:
            checks.extend(_linked_libraries(client, artifacts, artifacts[name], code))
    return checks


def verify_market(
    client: ChainClient, market: str, artifacts: Mapping[str, Artifact]
) -> tuple[list[CodeCheck], CodeCheck | None]:
    """What an auditor can check from the market's address alone, with no deployment file an
    operator wrote: the market's code and its libraries', then -- read through the market's
    views, which are the build's own once its code is -- the positions contract's code and that
    it names this market back. Returns (those checks, the token's: is it this build's
    SettlementToken; None when the market's code already failed and its views prove nothing).

    A token other than the build's is no failure here: ``deploy --token`` reuses an existing
    ERC-20 by design; the caller says which it is."""
    checks = verify_contracts(client, [("FlexMarket", market)], artifacts)
    if not all(check.ok for check in checks):
        return checks, None
    try:
        views = FlexMarketContract(client, market)
        token, positions = views.token(), views.positions()
        positions_market = FlexPositionsContract(client, positions).market()
    except ChainError as exc:
        return [*checks, CodeCheck("immutables", market, False, f"views fail: {exc}")], None
    checks += verify_contracts(client, [("FlexPositions", positions)], artifacts)
    if positions_market.lower() != market.lower():
        detail = f"FlexPositions.market is {positions_market}, not this market {market}"
        checks.append(CodeCheck("immutables", positions, False, detail))
    why = compare_code(artifacts["SettlementToken"], _code(client, token))
    return checks, CodeCheck("SettlementToken", token, why is None, why or "matches the build")


def _code(client: ChainClient, address: str) -> bytes:
    """The runtime code at ``address``; a node's answer that is not 0x-hex is a ChainError."""
    answer = client.rpc("eth_getCode", [address, "latest"])
    try:
        return bytes.fromhex(str(answer).removeprefix("0x"))
    except ValueError:
        raise ChainError(
            f"eth_getCode {address}: the node answered {str(answer)[:40]!r}, not hex"
        ) from None


#: A library's runtime code starts with ``PUSH20 <its own address>`` (the guard against calls
#: that are not DELEGATECALLs); the deployer fills it in, so it is masked like an immutable.
_LIBRARY_SELF_ADDRESS = (1, 20)


def _linked_libraries(
    client: ChainClient,
    artifacts: Mapping[str, Artifact],
    artifact: Artifact,
    code: bytes,
) -> list[CodeCheck]:
    """Each library linked into ``code``, at the address the code holds: its code must be the
    build's too. The masked comparison above cannot see a library swapped for other code, and
    a library runs by DELEGATECALL on the market's own storage, with its money."""
    checks = []
    seen: set[tuple[str, str]] = set()  # a library is referenced at every call site
    for lib, start, length in artifact.runtime_link_references:
        address = "0x" + code[start : start + length].hex()
        name = lib.rsplit(":", 1)[-1]
        if (name, address) in seen:
            continue
        seen.add((name, address))
        built = artifacts[name]
        onchain = _code(client, address)
        masked = Artifact(
            name=built.name,
            source=built.source,
            abi=built.abi,
            bytecode=built.bytecode,
            deployed_bytecode=built.deployed_bytecode,
            immutable_ranges=(*built.immutable_ranges, _LIBRARY_SELF_ADDRESS),
        )
        why = compare_code(masked, onchain)
        if why is None and onchain[1:21] != code[start : start + length]:
            why = "the library's code names another address than its own"
        detail = why or f"linked into {artifact.name} at byte {start}, its code is the build's"
        checks.append(CodeCheck(name, address, why is None, detail))
    return checks


def _wiring(client: ChainClient, deployment: Deployment) -> CodeCheck:
    """The masked bytes, read back through the views: each immutable address is the
    deployment's own (a swapped token or positions would pass the masked comparison)."""
    market = FlexMarketContract(client, deployment.market)
    positions = FlexPositionsContract(client, deployment.positions)
    try:
        seen = {
            "FlexMarket.token": market.token(),
            "FlexMarket.positions": market.positions(),
            "FlexPositions.market": positions.market(),
        }
    except ChainError as exc:
        return CodeCheck("immutables", deployment.market, False, f"views fail: {exc}")
    expected = {
        "FlexMarket.token": deployment.token,
        "FlexMarket.positions": deployment.positions,
        "FlexPositions.market": deployment.market,
    }
    wrong = [k for k, v in expected.items() if seen[k].lower() != v.lower()]
    if wrong:
        detail = ", ".join(f"{k} is {seen[k]}, expected {expected[k]}" for k in wrong)
        return CodeCheck("immutables", deployment.market, False, detail)
    return CodeCheck(
        "immutables", deployment.market, True, "token, positions and market point at each other"
    )
