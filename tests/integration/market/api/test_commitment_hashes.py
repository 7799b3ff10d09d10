"""``GET /sessions/{id}/commitment-hashes`` answers what the participant library commits."""

from __future__ import annotations

import uuid

import httpx
import pytest
from coincurve import PrivateKey
from eth_account import Account
from market_helpers import CP, client_for, cpo_grants, make_worker, open_session, setup_market

from clearing.commitments import contract_set_root, own_prognoses, portfolio_hash, prognosis_hash
from clearing.encoding import hex32
from clearing.messages import BaselineIsp, DPrognosis
from clearing.settlement.revenue import RevenueShareContract, sign_contract
from market.agents.common import as_message
from market.api.schemas import AssetCreate, ParticipantCreate
from market.clearing_house.period import SignedContract
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant

pytestmark = pytest.mark.integration


def test_the_hashes_equal_the_participant_librarys(chain, runtime, server) -> None:
    op = client_for(server, chain, "operator", runtime)
    fsp = client_for(server, chain, "fsp_a", runtime)
    setup_market(op)
    fsp.register_participant(ParticipantCreate(name="EMSP A"))
    s = open_session(op, int(runtime.core.clock.now()))
    make_worker(runtime).run_once()
    url = f"{server}/sessions/{s.session_id}/commitment-hashes"
    empty = httpx.get(url, params={"fsp": fsp.address}).json()
    assert empty["prognosis_hash"] == hex32(prognosis_hash(()))
    assert empty["portfolio_hash"] == hex32(portfolio_hash(()))
    assert empty["contract_set_root"] == hex32(contract_set_root(())) and not empty["contract_ids"]

    meter = "0x" + PrivateKey(b"\x12" * 32).public_key.format(compressed=False).hex()
    cpo_grants(chain, "CS-H", meter, "fsp_a")
    fsp.register_asset(
        AssetCreate(
            asset_id=str(uuid.uuid4()),
            congestion_point=CP,
            station_id="CS-H",
            max_import_w=11_000,
            max_export_w=0,
        )
    )
    fsp.post_prognosis(
        DPrognosis(
            prognosis_id=str(uuid.uuid4()),
            session_id=s.session_id,
            fsp=fsp.address,
            congestion_point=CP,
            isps=(BaselineIsp(isp_index=0, power_w=7_000),),
        )
    )
    got = httpx.get(url, params={"fsp": fsp.address.upper().replace("0X", "0x")}).json()
    me = Participant(fsp, ChainAccount(chain.contracts.market, None, fsp.address))
    prognoses = [as_message(DPrognosis, r) for r in fsp.prognoses(s.session_id)]
    assert got["prognosis_hash"] == hex32(prognosis_hash(own_prognoses(prognoses, fsp.address)))
    assert got["portfolio_hash"] == hex32(portfolio_hash(me.portfolios()))
    assert got["portfolio_hash"] != empty["portfolio_hash"]
    assert got["prognosis_hash"] != empty["prognosis_hash"]
    # a revenue-sharing contract the FSP posts joins the set its portfolio hash binds
    other = "0x" + "cd" * 20
    contract = RevenueShareContract(
        contract_id=str(uuid.uuid4()),
        fsp=fsp.address,
        ev_user=chain.addresses["fsp_b"],
        cpo=other,
        platform=other,
        user_incentive_mode="percent",
        valid_from=0,
        valid_until=2**40,
    )
    dom = {
        "chain_id": runtime.ledger.chain_id,
        "verifying_contract": chain.contracts.market.address,
    }
    keys = (chain.keys["fsp_a"], chain.keys["fsp_b"], "0x" + "07" * 32)
    other = Account.from_key(keys[2]).address.lower()
    contract = contract.model_copy(update={"cpo": other, "platform": other})
    signed = SignedContract(
        contract=contract, signatures=tuple(sign_contract(contract, k, **dom) for k in keys)
    )
    me.post_revenue_contract(signed)
    with_contract = httpx.get(url, params={"fsp": fsp.address}).json()
    root = contract_set_root([signed.contract])
    assert with_contract["contract_set_root"] == hex32(root)
    assert with_contract["contract_ids"] == [signed.contract.contract_id]
    assert with_contract["portfolio_hash"] == hex32(portfolio_hash(me.portfolios(), root))
    assert me.contracts == {contract.contract_id: contract}  # what the library commits
    bad = httpx.get(url, params={"fsp": "0x123"})
    assert bad.status_code == 422
