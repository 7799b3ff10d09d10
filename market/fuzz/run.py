"""One authenticated fuzz run against a served market: operations as each role, then the money
path state machine; returns the tally's summary (the JSON ``flexmarket bench fuzz`` prints)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from market.auth import eip712
from market.client import MarketClient
from market.fuzz.identities import Identity, sign_in_all
from market.fuzz.money_path import MoneyPathContext, MoneyPathHooks, run_money_path
from market.fuzz.operations import fuzz_operations
from market.fuzz.tally import FuzzTally, TalliedHttp


def run_fuzz(
    base_url: str,
    keys: Mapping[str, str],
    *,
    now: Callable[[], float],
    examples: int,
    seed_value: int,
    money_path_examples: int | None = None,
    money_path_steps: int = 25,
    hooks: MoneyPathHooks | None = None,
    tally: FuzzTally | None = None,
) -> dict[str, Any]:
    """Fuzz ``base_url`` signed in as operator, DSO and FSP (``keys``: role -> private key)."""
    tally = tally or FuzzTally()
    with MarketClient(base_url) as anonymous:
        domain = anonymous.domain()
    identities = sign_in_all(base_url, keys, now)
    if "oracle" in keys:  # posts meter readings in the money path; never signs in
        identities["oracle"] = Identity(
            "oracle", keys["oracle"], eip712.address_of(keys["oracle"]), None
        )
    operations = fuzz_operations(
        base_url,
        identities.values(),
        domain=domain,
        now=now,
        tally=tally,
        examples=examples,
        seed_value=seed_value,
    )
    http = TalliedHttp(base_url, tally)
    try:
        ctx = MoneyPathContext(
            base_url, http, dict(identities), domain, now, hooks or MoneyPathHooks()
        )
        run_money_path(
            ctx,
            examples=money_path_examples or max(5, 2 * examples),
            steps=money_path_steps,
            seed_value=seed_value,
        )
    finally:
        http.close()
    with MarketClient(base_url) as anonymous:
        states = Counter(str(s["state"]) for s in anonymous.sessions())
    summary = tally.summary()
    summary["session_states"] = dict(sorted(states.items()))
    summary.update({"examples_per_operation": examples, "seed": seed_value})
    summary["operations"] = operations
    return summary
