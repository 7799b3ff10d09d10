"""A kept chain state is canonical: anvil's hash-map order does not reach the file."""

from __future__ import annotations

import json

from adapters.chain.anvil import canonical_state


def test_blocks_and_transactions_are_sorted_and_keys_too() -> None:
    state = {
        "blocks": [{"header": {"number": "0x2"}}, {"header": {"number": "0x1"}}],
        "transactions": [
            {"block_number": 2, "info": {"transaction_index": 0}},
            {"block_number": 1, "info": {"transaction_index": 1}},
            {"block_number": 1, "info": {"transaction_index": 0}},
        ],
        "accounts": {"0xb": {}, "0xa": {}},
    }
    text = canonical_state(json.loads(json.dumps(state)))
    shuffled = {k: state[k] for k in reversed(list(state))}
    shuffled["blocks"] = list(reversed(state["blocks"]))
    assert canonical_state(shuffled) == text
    out = json.loads(text)
    assert [b["header"]["number"] for b in out["blocks"]] == ["0x1", "0x2"]
    order = [(t["block_number"], t["info"]["transaction_index"]) for t in out["transactions"]]
    assert order == [(1, 0), (1, 1), (2, 0)]
    assert text.index('"0xa"') < text.index('"0xb"')
