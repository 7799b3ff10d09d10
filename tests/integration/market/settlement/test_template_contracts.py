"""Issue 19: contracts made from a revenue-share template. The market accepts exactly the
template's instances (terms equal, signed by the FSP and the EV user; the template by the CPO
and the platform) and refuses each other case with a 4xx naming the field; the auditor names
an instance off its template that a dishonest clearing house applied; the gateway's claim
signer refuses an expired template and a template for another FSP. Real anvil, real store,
the market API in-process, the real auditor.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from service_settlement_helpers import (
    deliver_and_finalize,
    register_roles,
    signed_template,
    station_keys_file,
)

import market.clearing_house.period as period_module
import market.clearing_house.service as service
from clearing.settlement.revenue import UserContribution, sign_contract
from clearing.settlement.revenue_template import sign_template
from market.audit.runner import run_audit
from market.clearing_house.period import SignedContract, SignedTemplate
from market.client import ApiError
from market.errors import Conflict
from market.fsp.claim_contract import check_templates, claim_signer
from market.participant.claim import claim_account, new_claim
from market.participant.errors import ParticipantError
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

USER_KEY = "0x" + "77" * 32


def _domain(chain, runtime) -> dict:
    return {
        "chain_id": runtime.ledger.chain_id,
        "verifying_contract": chain.contracts.market.address,
    }


def _instance(chain, runtime, template: SignedTemplate, fsp: str, *, signers=None, **over):
    """The template's contract for the user of USER_KEY, signed by ``signers`` (default the
    FSP and the user), with ``over`` changed after the fact."""
    from eth_account import Account

    user = Account.from_key(USER_KEY).address.lower()
    contract = template.template.instance(contract_id=str(uuid.uuid4()), ev_user=user)
    contract = contract.model_copy(update=over)
    keys = signers if signers is not None else (chain.keys[fsp], USER_KEY)
    sigs = tuple(sign_contract(contract, k, **_domain(chain, runtime)) for k in keys)
    return SignedContract(contract=contract, signatures=sigs, template=template)


def _refused(client, signed) -> tuple[int, str]:
    with pytest.raises(ApiError) as exc:
        client.post_revenue_contract(signed)
    return exc.value.status, str(exc.value.field)


def test_the_market_accepts_a_templates_instance_and_names_every_other_case(
    chain, runtime, clients
) -> None:
    fsp_b = clients("fsp_b")
    template, _cpo, _platform = signed_template(chain, runtime, "fsp_b", 0xD0, user_incentive_ppm=1)
    ok = _instance(chain, runtime, template, "fsp_b")
    assert fsp_b.post_revenue_contract(ok)["contract_id"] == ok.contract.contract_id

    # the FSP and the user agree on other terms than the CPO and the platform signed
    off = _instance(chain, runtime, template, "fsp_b", user_incentive_ppm=900_000)
    assert _refused(fsp_b, off) == (422, "body.contract.user_incentive_ppm")
    no_fee = _instance(chain, runtime, template, "fsp_b", cpo_fee_per_kwh_units=9)
    assert _refused(fsp_b, no_fee) == (422, "body.contract.cpo_fee_per_kwh_units")

    # an unknown template: its CPO never signed it (the FSP did, in the CPO's place)
    unknown = SignedTemplate(
        template=template.template,
        signatures=(
            sign_template(template.template, chain.keys["fsp_b"], **_domain(chain, runtime)),
            template.signatures[1],
        ),
    )
    status, field = _refused(fsp_b, _instance(chain, runtime, unknown, "fsp_b"))
    assert (status, field) == (422, "body.template.signatures[0]")

    # a template for another FSP
    a_template, *_ = signed_template(chain, runtime, "fsp_a", 0xD0, user_incentive_ppm=1)
    cross = ok.model_copy(update={"template": a_template})
    assert _refused(fsp_b, cross) == (422, "body.template.template.fsp")

    # missing signatures: the user's, or the template's
    assert _refused(
        fsp_b, _instance(chain, runtime, template, "fsp_b", signers=(chain.keys["fsp_b"],))
    ) == (422, "body.signatures")
    unsigned = SignedTemplate(template=template.template, signatures=template.signatures[:1])
    assert _refused(fsp_b, _instance(chain, runtime, unsigned, "fsp_b")) == (
        422,
        "body.template.signatures",
    )

    # an expired template (the chain's time is past its end)
    now = int(runtime.core.clock.now())
    old, *_ = signed_template(
        chain, runtime, "fsp_b", 0xD0, user_incentive_ppm=1, valid_from=0, valid_until=now - 1
    )
    assert _refused(fsp_b, _instance(chain, runtime, old, "fsp_b")) == (
        422,
        "body.template.template.valid_until",
    )
    # another FSP posts FSP B's instance
    assert _refused(clients("fsp_a"), ok)[0] == 403


def test_a_kept_instance_posted_again_after_its_template_expired_is_200(
    chain, runtime, clients
) -> None:
    """A restarted gateway posts its kept claim contracts again before each commitment: the
    same contract is 200 though its template expired since (a 422 stopped its bidding); a
    new instance of that template is still refused."""
    fsp_b = clients("fsp_b")
    now = int(runtime.core.clock.now())
    template, *_ = signed_template(
        chain, runtime, "fsp_b", 0xD0, user_incentive_ppm=1, valid_from=0, valid_until=now + 60
    )
    kept = _instance(chain, runtime, template, "fsp_b")
    assert fsp_b.post_revenue_contract(kept)["contract_id"] == kept.contract.contract_id
    chain.warp_to(now + 120)
    assert fsp_b.post_revenue_contract(kept)["contract_id"] == kept.contract.contract_id
    assert _refused(fsp_b, _instance(chain, runtime, template, "fsp_b")) == (
        422,
        "body.template.template.valid_until",
    )


def test_the_claim_signer_refuses_an_expired_template_and_another_fsps(
    chain, runtime, clients
) -> None:
    now = int(runtime.core.clock.now())
    old, *_ = signed_template(
        chain, runtime, "fsp_b", 0xE0, user_incentive_ppm=1, valid_from=0, valid_until=now - 1
    )
    fsp_b = chain.addresses["fsp_b"]
    participant = Participant(clients("fsp_b"), ChainAccount(chain.contracts.market, None, fsp_b))
    sign = claim_signer(
        participant, chain.keys["fsp_b"], [old], {}, runtime.core.clock.now, lambda _e: None
    )
    with pytest.raises(Conflict) as refused:
        sign("ana", claim_account(new_claim().code))
    assert refused.value.field == "claim" and "netting.templates" in refused.value.reason
    paid = claim_signer(
        participant, chain.keys["fsp_b"], [old], {"ana": "0x" + "12" * 20}, runtime.core.clock.now,
        lambda _e: None,
    )  # fmt: skip
    with pytest.raises(Conflict, match=r"netting\.ev_users"):
        paid("ana", claim_account(new_claim().code))
    with pytest.raises(ParticipantError) as other:
        check_templates([old], chain.addresses["fsp_a"])
    assert other.value.field == "netting.templates[0].template.fsp"


@pytest.mark.parametrize(
    ("case", "code", "named"),
    [
        ("terms", "netting.contract_template", "cpo_fee_per_kwh_units"),
        ("unsigned", "netting.contract_unsigned", "template.signatures: missing"),
    ],
)
def test_an_instance_off_its_template_applied_anyway_is_named_by_the_auditor(
    chain, runtime, clients, tmp_path: Path, monkeypatch, case, code, named
) -> None:
    """A dishonest clearing house nets a contract the FSP and the user signed without the
    CPO's fee the template fixes, or under a template the platform never signed (the market
    refused both at POST); the auditor names each."""
    _arbiter, house = register_roles(chain)
    sid = deliver_and_finalize(chain, runtime, clients, b_delivers=True, again=False)
    template, cpo, platform = signed_template(
        chain, runtime, "fsp_a", 0xF0, user_incentive_ppm=100_000, cpo_fee_per_kwh_units=1_000
    )
    if case == "terms":
        off = _instance(chain, runtime, template, "fsp_a", cpo_fee_per_kwh_units=0)
    else:
        half = SignedTemplate(template=template.template, signatures=template.signatures[:1])
        off = _instance(chain, runtime, half, "fsp_a")
    fsp_a = chain.addresses["fsp_a"].lower()
    user = off.contract.ev_user
    chain.contracts.market.name_netting_payees([user, cpo, platform], sender=fsp_a)
    clients("fsp_a").post_contributions(
        sid,
        [
            UserContribution(
                session_id=sid, fsp=fsp_a, ev_user=user, shifted_wh=5_000, discharged_wh=0
            )
        ],
    )
    monkeypatch.setattr(service, "_contracts", lambda *_a: [off])
    monkeypatch.setattr(period_module, "instance_problems", lambda *a, **k: [])
    out = service.settle_session(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        session_id=sid,
        clearing_house=house,
        fee_recipient=platform,
    )
    assert out["action"] == "settled"
    monkeypatch.undo()
    keys = station_keys_file(chain, tmp_path)
    report = run_audit(
        rpc=chain.node.rpc_url,
        market=chain.contracts.market.address,
        bundles=str(runtime.bundles.directory),
        station_keys=keys,
    )
    assert report.exit_code == 1, report.to_json()
    codes = {f.code for f in report.findings}
    # the market refused it, so it is in no committed set either
    assert codes == {code, "netting.contract_not_committed"}, report.to_json()
    (finding,) = [f for f in report.findings if f.code == code]
    assert named in finding.message
