"""``flexmarket bench audit``: time one audit of a synthetic 96-ISP day staged on anvil.

The day comes from ``clearing.synthetic.generate_session`` (seeded).  Its random FSP addresses
are replaced by funded dev accounts (one per (congestion point, direction) modulo ``fsps``, so
no portfolio holds UP and DOWN orders in one ISP) and its requests are cut to the contract's
64 per session (offers for a dropped request become unsolicited).  Staging (escrow, commits,
clearing, signed readings, attestation, finalization) is not timed; the audit is.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from clearing.bundle import InputBundle
from clearing.encoding import keccak256
from clearing.synthetic import generate_session
from market.audit.staging import Actors, stage_session

MAX_REQUESTS = 64


def bench_accounts(n: int) -> list[str]:
    return [
        "0x" + keccak256(b"flexmarket-bench-audit-fsp" + i.to_bytes(4, "big")).hex()
        for i in range(n)
    ]


def remap(bundle: InputBundle, fsp_addresses: list[str]) -> InputBundle:
    """Give offers to our FSP accounts and keep at most 64 requests (see module docstring)."""
    keep = bundle.requests[:MAX_REQUESTS]
    kept = {r.request_id for r in keep}
    codes = {cp.code: i for i, cp in enumerate(bundle.congestion_points)}
    offers = []
    for o in bundle.offers:
        slot = (2 * codes[o.congestion_point] + (o.direction == "DOWN")) % len(fsp_addresses)
        offers.append(
            o.model_copy(
                update={
                    "fsp": fsp_addresses[slot].lower(),
                    "request_id": o.request_id if o.request_id in kept else None,
                }
            )
        )
    return bundle.model_copy(
        update={"requests": tuple(keep), "offers": tuple(offers), "prognoses": ()}
    )


def run_bench(*, offers: int = 1000, fsps: int = 20, seed: int = 0) -> dict[str, Any]:
    from adapters.chain.anvil import AnvilNode
    from adapters.chain.client import ChainClient
    from adapters.chain.deploy import deploy_market
    from adapters.chain.toolchain import compile_contracts
    from market.audit.runner import run_audit

    if fsps < 2:
        raise ValueError("fsps: need at least 2 (UP and DOWN of a point go to different FSPs)")
    keys = bench_accounts(fsps)
    bundle = remap(generate_session(offers, seed), [Account.from_key(k).address for k in keys])
    with AnvilNode(accounts=4) as node, tempfile.TemporaryDirectory() as tmp:
        client = ChainClient(
            node.rpc_url, private_keys=node.private_keys, artifacts=compile_contracts()
        )
        admin, dso, oracle, cpo = client.accounts[:4]
        mc = deploy_market(client, deployer=admin)
        market = mc.market
        fsp_addresses = [client.add_account(k) for k in keys]
        for a in fsp_addresses:
            node.set_balance(a, 10**21)
        market.register_participant(dso, keccak256(b"dso"), [market.role("DSO")], sender=admin)
        market.register_participant(
            oracle, keccak256(b"oracle"), [market.role("METER_ORACLE")], sender=admin
        )
        market.register_participant(cpo, keccak256(b"cpo"), [market.role("CPO")], sender=admin)
        for a in fsp_addresses:
            market.register_participant(
                a, keccak256(a.encode()), [market.role("FSP")], sender=admin
            )
        mc.token.mint(dso, sum(r.budget_units for r in bundle.requests), sender=admin)
        t0 = time.perf_counter()
        staged = stage_session(
            market=market,
            token=mc.token,
            control=node,
            actors=Actors(
                operator=admin,
                dso=dso,
                oracle=oracle,
                fsps=fsp_addresses,
                cpo=cpo,
                cpo_key=node.private_keys[3],
            ),
            bundle=bundle,
            folder=Path(tmp),
        )
        stage_s = time.perf_counter() - t0
        report = run_audit(rpc=node.rpc_url, market=market.address, bundles=tmp)
        assert staged.delivery is not None
        return {
            "bench": "audit",
            "offers": len(bundle.offers),
            "isps": bundle.isp_count,
            "requests": len(bundle.requests),
            "fsps": fsps,
            "orders": len(staged.result.orders),
            "reservations": len([c for c in staged.result.payment_caps if c.payment_cap_units]),
            "readings": len(json.loads(staged.delivery.bundle_bytes)["inputs"]["readings"]),
            "exit_code": report.exit_code,
            "message": report.message,
            "audit_s": round(report.seconds, 3),
            "timing": {k: round(v, 3) for k, v in report.timing.items()},
            "stage_s": round(stage_s, 3),
            "target_s": 60,
            "machine": f"{platform.machine()} {platform.python_version()}",
        }
