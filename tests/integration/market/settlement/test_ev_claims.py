"""Issue 19: an EV user without a wallet gets a claim and redeems it later by proving the link.

The FSP gateway issues the claim with the ``on_issue`` ``flexmarket fsp run`` wires
(:func:`market.fsp.claim_contract.claim_signer`): from a revenue-share template the CPO and the
platform signed with ``flexmarket participant sign-template`` it makes the claim address's
contract, signs it with the FSP key and the claim key (the code is answered once), posts it to
the market and names the claim a netting payee; the user's contributions go to the claim
address (:class:`market.fsp.netting.RevenueSharing`); the clearing house nets the user's incentive
there on-chain, equal to its statement; the user redeems it to a fresh wallet with the code
through the gateway's API over HTTP (the gateway relays ``withdrawBySignature``, the user pays
no gas). Real anvil, real store, the market API in-process, the gateway's API on a socket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from eth_account import Account
from market_helpers import served
from service_settlement_helpers import (
    ORDER_W,
    PRICE_B,
    deliver_and_finalize,
    energy,
    paid,
    register_roles,
    signed_template,
)

from market.agents.fsp import DispatchPlan, Incentive
from market.clearing_house import store as ch_store
from market.clearing_house.service import settle_session
from market.fsp.claim_contract import claim_signer
from market.fsp.claims import ClaimDesk
from market.fsp.config import NettingConfig
from market.fsp.ev_api import gateway_app
from market.fsp.netting import RevenueSharing
from market.fsp.sharing_queue import SharingQueue
from market.fsp.store import GatewayStore
from market.participant.claim import claim_account, new_claim, redeem
from market.participant.errors import ParticipantError
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant

pytestmark = pytest.mark.integration

USER = "ana"
INCENTIVE_PPM = 100_000
CPO_FEE_PER_KWH = 1_000
SHIFTED_WH = 5_000


def _store_text(engine: sa.Engine) -> str:
    """Every row of every table of the gateway's database, as text."""
    out = []
    with engine.connect() as conn:
        for name in sa.inspect(engine).get_table_names():
            table = sa.Table(name, sa.MetaData(), autoload_with=engine)
            out += [repr(tuple(row)) for row in conn.execute(sa.select(table))]
    return "\n".join(out)


def _plan(user: str) -> DispatchPlan:
    """What the gateway's dispatch says the user's EV shifted in the session."""
    inc = Incentive(
        ev_id=user, shifted_wh=SHIFTED_WH, discharged_wh=0, rate_per_mwh=0, amount_units=0
    )
    return DispatchPlan(schedules={}, by_point={}, shortfalls={}, misses=[], incentives=[inc])


def test_a_wallet_less_user_is_netted_to_a_claim_and_redeems_it(
    chain, runtime, clients, tmp_path: Path
) -> None:
    _arbiter, house = register_roles(chain)
    market = chain.contracts.market
    fsp_b = chain.addresses["fsp_b"]
    template, cpo, _platform = signed_template(
        chain, runtime, "fsp_b", 0xC0,
        user_incentive_ppm=INCENTIVE_PPM, cpo_fee_per_kwh_units=CPO_FEE_PER_KWH,
    )  # fmt: skip
    relayer = ChainAccount(market, chain.contracts.token, fsp_b)
    participant = Participant(clients("fsp_b"), relayer)
    events: list[dict[str, Any]] = []
    gw = GatewayStore(f"sqlite:///{tmp_path}/gateway.db")
    desk = ClaimDesk(gw.engine, gw.now, relayer=relayer)
    desk.on_issue = claim_signer(
        participant, chain.keys["fsp_b"], [template], {}, runtime.core.clock.now, events.append,
        desk.keep_contract,
    )  # fmt: skip
    app = gateway_app(gw, {USER, "ben"}, lambda: {}, claims=desk)
    auth = {"Authorization": f"Bearer {gw.issue_token(USER)}"}
    with served(app) as base, httpx.Client(base_url=base, timeout=60) as api:
        # a user who named a wallet is paid there: no claim
        ben = {"Authorization": f"Bearer {gw.issue_token('ben')}"}
        prefs = {"opt_in": False, "wallet_address": "0x" + "ab" * 20}
        assert api.put("/ev-users/ben/preferences", json=prefs, headers=ben).status_code == 200
        refused = api.post("/ev-users/ben/claim", headers=ben)
        assert (refused.status_code, refused.json()["field"]) == (409, "wallet_address")
        assert api.post("/ev-users/ben/claim", headers=auth).status_code == 403

        assert api.get(f"/ev-users/{USER}/claim", headers=auth).json()["issuable"] is True
        issued = api.post(f"/ev-users/{USER}/claim", headers=auth)
        assert issued.status_code == 201, issued.text
        code, address = issued.json()["code"], issued.json()["address"]
        assert claim_account(code).address.lower() == address
        again = api.post(f"/ev-users/{USER}/claim", headers=auth)
        assert (again.status_code, again.json()["field"]) == (409, "claim")

        # the market holds the claim's contract: the template's instance for the claim address
        (posted,) = ch_store.load_contracts(runtime.engine)
        assert posted.template == template and posted.contract.ev_user == address
        assert posted.contract.cpo == cpo and len(posted.signatures) == 2
        assert events[-1]["event"] == "claim_contract_posted"
        # in the set FSP B's next commitment binds, and kept for a restarted gateway's
        assert participant.contracts == {posted.contract.contract_id: posted.contract}
        assert desk.kept_contracts() == [posted]
        assert market.is_netting_payee(fsp_b, address) and market.is_netting_payee(fsp_b, cpo)

        # a session: the user's EV shifts energy; the gateway attributes it to the claim
        # the session comes after the claim: FSP B's commitment binds the user's contract
        session_id = deliver_and_finalize(
            chain, runtime, clients, b_delivers=True, again=False,
            contracts={"fsp_b": [posted]},
        )  # fmt: skip
        sharing = RevenueSharing(SharingQueue(gw.engine), claimed=desk.addresses)
        sharing.add(participant, NettingConfig(), session_id, _plan(USER))
        sharing.retry(participant, NettingConfig(), events.append)
        assert sharing.queue.pending() == {}
        out = settle_session(
            engine=runtime.engine,
            ledger=runtime.ledger,
            bundles=runtime.bundles,
            session_id=session_id,
            clearing_house=house,
            fee_recipient=house.lower(),
        )
        assert out["action"] == "settled"
        share = paid(4 * energy(ORDER_W, 900), PRICE_B) * INCENTIVE_PPM // 1_000_000
        statements = ch_store.load_period(runtime.engine, session_id)["settlement"]["statements"]
        assert share > 0 and statements[address]["onchain_position_units"] == share
        assert market.credits(address) == share  # withdrawable on-chain = the statement
        cpo_fee = SHIFTED_WH * CPO_FEE_PER_KWH // 1000
        assert statements[cpo]["onchain_position_units"] == cpo_fee == market.credits(cpo)
        view = api.get(f"/ev-users/{USER}/claim", headers=auth).json()
        assert view == {
            "address": address,
            "withdrawable_units": share,
            "redeemed": None,
            "issuable": True,
        }

        # the code is nowhere in the gateway's store, nor the claim key
        text = _store_text(gw.engine).lower()
        assert address in text
        assert code.lower() not in text and code.replace("-", "").lower() not in text
        assert claim_account(code).key.hex().removeprefix("0x") not in text

        wallet = Account.create().address
        redeem_at = f"/ev-users/{USER}/claim/redeem"
        for body, field in (
            ({"code": new_claim().code, "to": wallet}, "code"),  # another claim's code
            ({"code": code[:-1] + ("A" if code[-1] != "A" else "B"), "to": wallet}, "code"),
            ({"code": "not a code", "to": wallet}, "code"),
            ({"code": code, "to": "0x" + "00" * 20}, "to"),
            ({"code": code, "to": "wallet"}, "to"),
        ):
            r = api.post(redeem_at, json=body, headers=auth)
            assert (r.status_code, r.json()["field"]) == (422, field), (body, r.text)
        assert market.credits(address) == share

        # an expired signature is refused by the contract (named: deadline)
        now = chain.client.block_timestamp()
        with pytest.raises(ParticipantError) as expired:
            redeem(relayer, code, wallet, deadline=now - 1)
        assert expired.value.field == "deadline"

        done = api.post(redeem_at, json={"code": code, "to": wallet}, headers=auth)
        assert done.status_code == 200, done.text
        assert done.json()["withdrawn_units"] == share
        assert chain.contracts.token.balance_of(wallet) == share
        assert market.credits(address) == 0
        view = api.get(f"/ev-users/{USER}/claim", headers=auth).json()
        assert view["withdrawable_units"] == 0
        assert view["redeemed"]["tx"] == done.json()["tx"]
        assert view["redeemed"]["to"] == wallet.lower()

        nothing = api.post(redeem_at, json={"code": code, "to": wallet}, headers=auth)
        assert (nothing.status_code, nothing.json()["field"]) == (409, "credits")
