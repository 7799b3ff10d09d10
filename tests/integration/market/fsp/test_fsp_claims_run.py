"""Claims in a running ``flexmarket fsp run`` (issue 19): with a revenue-share template in
``netting.templates`` (signed by a CPO and a platform through ``flexmarket participant
sign-template``), an EV user without a wallet gets a claim from the gateway process; the
market then holds the claim address's contract (the template's instance, signed by the FSP
and the claim key) and the claim address is the FSP's netting payee on-chain. Without a
template the same gateway answers 501 naming what to configure. And the whole path: the
claim's user's EV delivers in a session through the gateway's CSMS, the gateway attributes her
contribution to the claim address, the market nets the session, the claim address's on-chain
credit equals its statement and she redeems it to a fresh wallet. Real anvil, the market over
loopback HTTP, the gateway as a subprocess, OCPP stations over websockets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from eth_account import Account
from fsp_world import (
    ROOT,
    Gateway,
    deliver_session,
    gateway_config,
    give_consent,
    market,
    open_session,
)

from adapters.ports import free_port
from market.clearing_house import store as ch_store
from market.participant.claim import claim_account

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SIGNER_KEYS = {"cpo": "0x" + f"{0xC1:064x}", "platform": "0x" + f"{0xC2:064x}"}


def _cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    out = subprocess.run(
        [sys.executable, "-m", "market.cli", *args],
        env=full,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _template(chain: Any, chain_id: int) -> dict[str, Any]:
    """FSP A's template as the CPO, then the platform, sign it with the CLI."""
    doc: dict[str, Any] = {
        "template_id": str(uuid.uuid4()),
        "fsp": chain.addresses["fsp_a"].lower(),
        "cpo": Account.from_key(SIGNER_KEYS["cpo"]).address.lower(),
        "platform": Account.from_key(SIGNER_KEYS["platform"]).address.lower(),
        "user_incentive_mode": "percent",
        "user_incentive_ppm": 150_000,
        "cpo_fee_per_kwh_units": 1_000,
        "valid_from": 0,
        "valid_until": 2**40,
    }
    deployment = ["--chain-id", str(chain_id), "--market", chain.contracts.market.address]
    for who in ("cpo", "platform"):
        out = _cli(
            "participant", "sign-template", "--template", "-", *deployment, "--key-env", "SK",
            env={"SK": SIGNER_KEYS[who]}, stdin=json.dumps(doc),
        )  # fmt: skip
        doc = json.loads(out)
    return doc


def test_a_running_gateway_issues_a_claim_from_its_template(chain: Any, tmp_path: Path) -> None:
    with market(chain, tmp_path) as m:
        open_session(m, chain, chain.keys["fsp_a"])
        api_port = free_port()
        config = gateway_config(m, chain, tmp_path, free_port(), api_port)
        cfg = yaml.safe_load(config.read_text())
        template = _template(chain, m.rt.ledger.chain_id)
        cfg["netting"] = {"templates": [template]}
        config.write_text(yaml.safe_dump(cfg))
        token = _cli("fsp", "token", "--config", str(config), "--user", "alice").strip()
        gw = Gateway(config, chain.keys["fsp_a"], api_port, cpo_key=chain.keys["cpo"])
        gw.start()
        try:
            base, auth = f"http://127.0.0.1:{api_port}", {"Authorization": f"Bearer {token}"}
            view = httpx.get(f"{base}/ev-users/alice/claim", headers=auth, timeout=30)
            assert view.json() == {
                "address": None,
                "withdrawable_units": None,
                "redeemed": None,
                "issuable": True,
            }
            issued = httpx.post(f"{base}/ev-users/alice/claim", headers=auth, timeout=60)
            assert issued.status_code == 201, issued.text + gw.tail()
            code, address = issued.json()["code"], issued.json()["address"]
            assert claim_account(code).address.lower() == address
            (posted,) = ch_store.load_contracts(m.rt.engine)
            assert posted.contract.ev_user == address
            assert posted.template is not None
            assert posted.template.model_dump(mode="json") == template
            market_contract = chain.contracts.market
            fsp = chain.addresses["fsp_a"]
            for payee in (address, template["template"]["cpo"], template["template"]["platform"]):
                assert market_contract.is_netting_payee(fsp, payee), payee
            shown = httpx.get(f"{base}/ev-users/alice/claim", headers=auth, timeout=30).json()
            assert shown["address"] == address and shown["withdrawable_units"] == 0
            posted_events = [e for e in gw.events() if e.get("event") == "claim_contract_posted"]
            assert [e["contract_id"] for e in posted_events] == [posted.contract.contract_id]
            assert code not in "".join(log.read_text() for log in gw.logs)  # never logged
        finally:
            gw.stop()

        # the same gateway without a template: 501 naming what to configure
        cfg["netting"] = {}
        config.write_text(yaml.safe_dump(cfg))
        gw.start()
        try:
            bob = _cli("fsp", "token", "--config", str(config), "--user", "bob").strip()
            refused = httpx.post(
                f"http://127.0.0.1:{api_port}/ev-users/bob/claim",
                headers={"Authorization": f"Bearer {bob}"},
                timeout=30,
            )
            assert refused.status_code == 501, refused.text
            assert refused.json()["field"] == "claim"
            assert "netting.templates" in refused.json()["detail"]
        finally:
            gw.stop()


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_a_claim_from_a_running_gateway_is_netted_on_chain_and_redeemed(
    chain: Any, tmp_path: Path
) -> None:
    """The whole path through ``fsp run``: alice (no wallet) gets a claim before the session,
    her EV is bid, dispatched and delivers; the gateway posts her contribution under the claim
    address; the market's worker nets the FINAL session; the claim address's on-chain credit
    equals its statement; she redeems it to a fresh wallet through the gateway."""
    contract = chain.contracts.market
    operator = chain.addresses["operator"]
    contract.grant_role(contract.role("CLEARING_HOUSE"), operator, sender=operator)
    with market(chain, tmp_path) as m:
        session = open_session(m, chain, chain.keys["fsp_a"])
        sid = session.session_id
        api_port = free_port()
        config = gateway_config(m, chain, tmp_path, free_port(), api_port)
        cfg = yaml.safe_load(config.read_text())
        cfg["netting"] = {"templates": [_template(chain, m.rt.ledger.chain_id)]}
        config.write_text(yaml.safe_dump(cfg))
        tokens = {
            u: _cli("fsp", "token", "--config", str(config), "--user", u).strip()
            for u in ("alice", "bob")
        }
        gw = Gateway(config, chain.keys["fsp_a"], api_port, cpo_key=chain.keys["cpo"])
        gw.start()
        base = f"http://127.0.0.1:{api_port}"
        alice = {"Authorization": f"Bearer {tokens['alice']}"}
        try:
            for user, token in tokens.items():
                give_consent(api_port, user, token)
            issued = httpx.post(f"{base}/ev-users/alice/claim", headers=alice, timeout=60)
            assert issued.status_code == 201, issued.text + gw.tail()
            code, address = issued.json()["code"], issued.json()["address"]
            # bid, clear, dispatch, deliver, verify, FINAL, netted, withdrawn
            await deliver_session(m, chain, gw, config, session)
            assert ch_store.load_period(m.rt.engine, sid) is not None  # the market netted it
            shared = [e for e in gw.events() if e.get("event") == "revenue_shared"]
            assert shared and shared[0]["contributions"] == 1, gw.tail()  # alice's, as the claim
            statements = ch_store.load_period(m.rt.engine, sid)["settlement"]["statements"]
            owed = statements[address]["onchain_position_units"]
            assert owed > 0 and contract.credits(address) == owed
            shown = httpx.get(f"{base}/ev-users/alice/claim", headers=alice, timeout=30).json()
            assert shown["withdrawable_units"] == owed
            wallet = Account.create().address
            done = httpx.post(
                f"{base}/ev-users/alice/claim/redeem",
                json={"code": code, "to": wallet},
                headers=alice,
                timeout=60,
            )
            assert done.status_code == 200, done.text
            assert done.json()["withdrawn_units"] == owed
            assert chain.contracts.token.balance_of(wallet) == owed
            assert contract.credits(address) == 0
        finally:
            gw.stop()
