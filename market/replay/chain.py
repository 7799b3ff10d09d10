"""The replay's chain: an embedded anvil (or a given dev RPC), deployment, funded derived keys,
and the gas accounting that the report needs.

Gas is read back from the chain itself (every transaction of every block, named by the
function selector), so transactions sent by the worker, the agents and the replay count alike.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from eth_utils.abi import function_abi_to_4byte_selector
from eth_utils.crypto import keccak

from adapters.chain.anvil import AnvilControl
from adapters.chain.client import ChainClient
from adapters.chain.deploy import MarketContracts, deploy_market
from adapters.chain.toolchain import compile_contracts
from market.ledger import Ledger
from market.participant import ChainAccount
from market.replay.derive import derived_key

FUNDING_WEI = 10**21
TOKEN_PER_DSO = 10**15  # 1 000 000 000 EUR of settlement token for each DSO


@dataclass
class ReplayChain:
    control: AnvilControl
    client: ChainClient
    contracts: MarketContracts
    ledger: Ledger
    operator: str
    oracle: str
    addresses: dict[str, str] = field(default_factory=dict)  # participant id -> address
    deploy_block: int = 0

    @property
    def rpc_url(self) -> str:
        return self.control.rpc_url


def setup_chain(
    control: AnvilControl,
    *,
    seed: int,
    participants: list[tuple[str, str]],  # (id, on-chain role or "")
) -> ReplayChain:
    """Deploy the market, fund and register every participant under its derived key."""
    ids = ["operator", "meter-oracle", *(pid for pid, _ in participants)]
    keys = {pid: derived_key(seed, pid) for pid in ids}
    client = ChainClient(control.rpc_url, private_keys=keys.values(), artifacts=compile_contracts())
    addresses = {pid: client.add_account(k) for pid, k in keys.items()}
    for address in addresses.values():
        control.set_balance(address, FUNDING_WEI)
    op = addresses["operator"]
    start_block = client.block_number()
    contracts = deploy_market(client, deployer=op)
    market = contracts.market
    market.grant_role(market.role("CLEARING_HOUSE"), op, sender=op)  # the replay nets too
    market.register_participant(
        addresses["meter-oracle"],
        keccak(text="meter-oracle"),
        [market.role("METER_ORACLE")],
        sender=op,
    )
    for pid, role in participants:
        if not role:
            continue
        market.register_participant(
            addresses[pid], keccak(text=pid), [market.role(role)], sender=op
        )
        if role == "DSO":
            contracts.token.mint(addresses[pid], TOKEN_PER_DSO, sender=op)
            ChainAccount(market, contracts.token, addresses[pid]).approve(2**255)
    ledger = Ledger(client, market, operator=op)
    return ReplayChain(
        control=control,
        client=client,
        contracts=contracts,
        ledger=ledger,
        operator=op,
        oracle=addresses["meter-oracle"],
        addresses=addresses,
        deploy_block=start_block,
    )


def _selectors(client: ChainClient) -> dict[str, str]:
    out: dict[str, str] = {}
    for art in client.artifacts.values():
        abi: list[dict[str, Any]] = getattr(art, "abi", None) or []
        for item in abi:
            if item.get("type") != "function":
                continue
            # the library canonicalises tuple (struct) inputs, e.g. Reservation[]
            selector = function_abi_to_4byte_selector(item)  # type: ignore[arg-type]
            out.setdefault("0x" + selector.hex(), item["name"])
    return out


def gas_by_kind(chain: ReplayChain, from_block: int) -> dict[str, dict[str, int]]:
    """{function name: {count, gas}} over every transaction mined since ``from_block``."""
    names = _selectors(chain.client)
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "gas": 0})
    latest = chain.client.block_number()
    for n in range(from_block, latest + 1):
        block = chain.client.rpc("eth_getBlockByNumber", [hex(n), True])
        for tx in block.get("transactions", []):
            receipt = chain.client.rpc("eth_getTransactionReceipt", [tx["hash"]])
            data = tx.get("input") or "0x"
            if tx.get("to") is None:
                kind = "deploy"
            elif len(data) < 10:
                kind = "transfer"
            else:
                kind = names.get(data[:10].lower(), data[:10].lower())
            totals[kind]["count"] += 1
            totals[kind]["gas"] += int(receipt["gasUsed"], 16)
    return {k: dict(v) for k, v in sorted(totals.items())}
