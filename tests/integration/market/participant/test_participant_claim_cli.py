"""``flexmarket participant claim``: the one-line refusals (real anvil, the market API on a
loopback socket). The redemption itself runs through the same library call in
tests/integration/market/settlement/test_ev_claims.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from test_participant_cli import Cli

from market.participant.claim import new_claim

pytestmark = pytest.mark.integration


def test_claim_refusals_name_the_field(server: str, chain, tmp_path: Path) -> None:
    cli = Cli(server, chain.node.rpc_url, chain.keys["fsp_a"], tmp_path)
    code, wallet = new_claim().code, Account.create().address
    typo = code[:-1] + ("A" if code[-1] != "A" else "B")
    for args, field in (
        (("--code", typo, "--to", wallet), "code"),
        (("--code", "FMC-1234", "--to", wallet), "code"),
        (("--code", code, "--to", "0x" + "00" * 20), "to"),
        (("--code", code, "--to", "me"), "to"),
        (("--code", code, "--to", wallet), "credits"),  # a fresh claim holds nothing
    ):
        out = cli.run("claim", *args, ok=False)
        assert out["error"]["field"] == field, (args, out)
    assert "nothing to claim" in out["error"]["reason"]
