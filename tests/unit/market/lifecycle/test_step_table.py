"""The lifecycle's one state -> step table, and the state enum it shares with the contract."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.chain.types import SessionState
from market.lifecycle import steps
from market.lifecycle.worker import NEXT_STEP

ROOT = Path(__file__).resolve().parents[4]


def _solidity_states() -> list[str]:
    source = (ROOT / "contracts" / "interfaces" / "IFlexMarket.sol").read_text()
    body = re.search(r"enum State \{(.*?)\}", source, re.S)
    assert body is not None, "IFlexMarket.State not found"
    return [re.sub(r"//.*", "", line).strip(" ,") for line in body.group(1).splitlines()]


def test_session_state_enum_matches_the_contract() -> None:
    names = [n for n in _solidity_states() if n]
    assert [s.name for s in SessionState] == [n.upper() for n in names]
    assert [s.value for s in SessionState] == list(range(len(names)))


def test_every_live_state_has_one_step_and_every_step_its_function() -> None:
    contract = {s.name for s in SessionState if s != SessionState.NONE}
    assert set(steps.STEP_TABLE) == contract | {steps.PENDING, steps.DELIVERING}
    for state, (name, fn) in steps.STEP_TABLE.items():
        assert fn.__name__ == f"step_{name}", state
        assert steps.STEPS[name] is fn
    assert NEXT_STEP == {  # the lifecycle's order, pinned
        "PENDING": "open",
        "OPEN": "close",
        "CLOSED": "clear",
        "CLEARED": "dispatch",
        "DELIVERING": "verify",
        "VERIFIED": "finalize",
        "DISPUTED": "finalize",
        "FINAL": "clearing",
    }


def test_chain_states_map_to_the_store_states_of_the_table() -> None:
    for state, stored in steps._STORE_STATE.items():
        assert stored == state.name and stored in steps.STEP_TABLE
