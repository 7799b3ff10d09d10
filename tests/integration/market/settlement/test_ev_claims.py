"""Issue 19: an EV user without a wallet gets a claim and redeems it later by proving the link.

The FSP gateway issues the claim (the code is answered once), signs the user's revenue-share
contract with the claim key at that moment, and keeps only the claim address; the clearing
house nets the user's incentive to that address on-chain; the user redeems it to a fresh
wallet with the code, through the gateway's API (the gateway relays, the user pays no gas) or
``flexmarket participant claim``. Real anvil, real store, the market API in-process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from eth_account import Account
from service_settlement_helpers import (
    ORDER_W,
    PRICE_B,
    deliver_and_finalize,
    energy,
    paid,
    register_roles,
    signed_revenue_contract,
)
from starlette.testclient import TestClient

from clearing.settlement.revenue import UserContribution
from market.clearing_house.period import contract_payees
from market.clearing_house.service import settle_session
from market.fsp.claims import ClaimDesk
from market.fsp.ev_api import gateway_app
from market.fsp.store import GatewayStore
from market.participant.claim import claim_account, new_claim, redeem
from market.participant.errors import ParticipantError
from market.participant.onchain import ChainAccount

pytestmark = pytest.mark.integration

USER = "ana"
INCENTIVE_PPM = 100_000


def _store_text(engine: sa.Engine) -> str:
    """Every row of every table of the gateway's database, as text."""
    out = []
    with engine.connect() as conn:
        for name in sa.inspect(engine).get_table_names():
            table = sa.Table(name, sa.MetaData(), autoload_with=engine)
            out += [repr(tuple(row)) for row in conn.execute(sa.select(table))]
    return "\n".join(out)


def test_a_wallet_less_user_is_netted_to_a_claim_and_redeems_it(
    chain, runtime, clients, tmp_path: Path
) -> None:
    _arbiter, house = register_roles(chain)
    market = chain.contracts.market
    fsp_b = chain.addresses["fsp_b"]
    issued_contracts = []

    def sign_contract_at_issue(user_id: str, account) -> None:
        """What the gateway signs with the claim key at creation: the user's contract."""
        signed, *_ = signed_revenue_contract(
            chain, runtime, "fsp_b", 0xC0, user_key=account.key,
            user_incentive_ppm=INCENTIVE_PPM, cpo_fee_per_kwh_units=0, platform_fee_ppm=0,
        )  # fmt: skip
        assert signed.contract.ev_user == account.address.lower()
        issued_contracts.append(signed)  # posted by FSP B before it commits its next offers
        market.name_netting_payees(contract_payees([signed]), sender=fsp_b)

    gw = GatewayStore(f"sqlite:///{tmp_path}/gateway.db")
    relayer = ChainAccount(market, chain.contracts.token, fsp_b)
    desk = ClaimDesk(gw.engine, gw.now, relayer=relayer, on_issue=sign_contract_at_issue)
    app = gateway_app(gw, {USER, "ben"}, lambda: {}, claims=desk)
    auth = {"Authorization": f"Bearer {gw.issue_token(USER)}"}
    with TestClient(app) as api:
        # a user who named a wallet is paid there: no claim
        ben = {"Authorization": f"Bearer {gw.issue_token('ben')}"}
        prefs = {"opt_in": False, "wallet_address": "0x" + "ab" * 20}
        assert api.put("/ev-users/ben/preferences", json=prefs, headers=ben).status_code == 200
        refused = api.post("/ev-users/ben/claim", headers=ben)
        assert (refused.status_code, refused.json()["field"]) == (409, "wallet_address")
        assert api.post("/ev-users/ben/claim", headers=auth).status_code == 403

        issued = api.post(f"/ev-users/{USER}/claim", headers=auth)
        assert issued.status_code == 201, issued.text
        code, address = issued.json()["code"], issued.json()["address"]
        assert claim_account(code).address.lower() == address
        again = api.post(f"/ev-users/{USER}/claim", headers=auth)
        assert (again.status_code, again.json()["field"]) == (409, "claim")
        # the session comes after the claim: FSP B's commitment binds the user's contract
        session_id = deliver_and_finalize(
            chain, runtime, clients, b_delivers=True, again=False,
            contracts={"fsp_b": issued_contracts},
        )  # fmt: skip

        # the user's share of FSP B's revenue is netted to the claim address
        clients("fsp_b").post_contributions(
            session_id,
            [
                UserContribution(
                    session_id=session_id,
                    fsp=fsp_b.lower(),
                    ev_user=address,
                    shifted_wh=5_000,
                    discharged_wh=0,
                )
            ],
        )
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
        assert share > 0 and market.credits(address) == share
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
