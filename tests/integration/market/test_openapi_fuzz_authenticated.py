"""Authenticated fuzzing (issue 14 item 5): every operation as operator, DSO, FSP and nobody,
then linked money-path steps (session -> request -> offer -> clearing), on a served app on
anvil. Fixed seed; no answer may be a 5xx and the server must never stop answering.

The longer run is ``flexmarket bench fuzz --examples N --seed S``.
"""

from __future__ import annotations

import pytest
from market_helpers import make_worker

from market.fuzz.chain_hooks import chain_hooks
from market.fuzz.run import run_fuzz
from market.fuzz.tally import FuzzTally

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
EXAMPLES = 3
SEED = 14


def test_authenticated_fuzz_has_no_server_errors(server, chain, runtime) -> None:
    tally = FuzzTally()
    hooks = chain_hooks(
        market=chain.contracts.market,
        addresses={
            "dso": chain.addresses["dso"],
            "fsp": chain.addresses["fsp_a"],
            "cpo": chain.addresses["cpo"],
        },
        warp_by=lambda s: chain.warp_to(int(runtime.core.clock.now()) + s),
        run_worker=make_worker(runtime).run_once,
        tally=tally,
    )
    keys = {
        role: chain.keys[who]
        for role, who in (
            ("operator", "operator"),
            ("dso", "dso"),
            ("fsp", "fsp_a"),
            ("oracle", "oracle"),
        )
    }
    summary = run_fuzz(
        server,
        keys,
        now=runtime.core.clock.now,
        examples=EXAMPLES,
        seed_value=SEED,
        hooks=hooks,
        tally=tally,
    )
    print(summary)
    assert summary["server_errors_5xx"] == 0, tally.server_errors
    assert summary["crashes"] == 0, tally.crashes
    assert summary["operations"] >= 30
    assert summary["by_status_class"].get("2xx", 0) > 50  # the handlers were really reached
    accepted = summary["money_path_accepted"]
    assert accepted.get("POST /requests (request as dso)", 0) >= 1  # escrowed on-chain
    assert accepted.get("POST /offers (offer as fsp)", 0) >= 1
    assert accepted.get("POST /meter-readings (meter_reading as oracle)", 0) >= 1
    assert set(summary["session_states"]) - {"PENDING", "OPEN"}, "nothing got past gate closure"
