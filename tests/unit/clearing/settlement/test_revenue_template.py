"""Revenue-share templates (issue 19): the CPO and the platform sign the terms once; an instance
for one EV user is signed by the FSP and the user only, and binds all parties exactly when its
terms equal the template's. Each refusal is named by its field."""

from __future__ import annotations

import uuid

import pytest
from eth_account import Account

from clearing.encoding import keccak256
from clearing.settlement.revenue import sign_contract
from clearing.settlement.revenue_template import (
    RevenueShareTemplate,
    instance_problems,
    sign_template,
    verify_template_signatures,
)
from clearing.settlement.rules import SettlementError
from market.clearing_house.period import SignedContract, SignedTemplate, settle_period

CHAIN_ID = 31_337
VERIFYING = "0x" + "11" * 20
DOMAIN = {"chain_id": CHAIN_ID, "verifying_contract": VERIFYING}


def acct(name: str):
    return Account.from_key(keccak256(f"template-party:{name}".encode()))


FSP, OTHER_FSP, USER, FLEET, CPO, PLATFORM = (
    acct(n) for n in ("fsp", "other", "user", "fleet", "cpo", "platform")
)


def template(**over) -> RevenueShareTemplate:
    terms = {
        "template_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "template-test")),
        "fsp": FSP.address,
        "cpo": CPO.address,
        "platform": PLATFORM.address,
        "user_incentive_mode": "percent",
        "user_incentive_ppm": 100_000,
        "cpo_fee_per_kwh_units": 5,
        "platform_fee_ppm": 10_000,
        "valid_from": 0,
        "valid_until": 2_000_000_000,
    }
    return RevenueShareTemplate(**{**terms, **over})


def signed_template(t: RevenueShareTemplate, signers=(CPO, PLATFORM)) -> SignedTemplate:
    return SignedTemplate(
        template=t, signatures=tuple(sign_template(t, a.key, **DOMAIN) for a in signers)
    )


def instance(st: SignedTemplate, signers=(FSP, USER), **over) -> SignedContract:
    c = st.template.instance(contract_id=str(uuid.uuid4()), ev_user=USER.address.lower())
    c = c.model_copy(update=over)
    sigs = tuple(sign_contract(c, a.key, **DOMAIN) for a in signers)
    return SignedContract(contract=c, signatures=sigs, template=st)


def fields(signed: SignedContract) -> list[str]:
    return [f for f, _ in signed.problems(**DOMAIN)]


def test_an_instance_signed_by_the_fsp_and_the_user_binds_everyone() -> None:
    st = signed_template(template())
    signed = instance(st)
    assert signed.problems(**DOMAIN) == []
    c = signed.contract
    assert (c.cpo, c.platform, c.fsp) == (
        CPO.address.lower(),
        PLATFORM.address.lower(),
        FSP.address.lower(),
    )
    assert c.signers() == sorted({c.fsp, c.ev_user, c.cpo, c.platform})  # as any contract
    # nothing else signed it: the same contract without its template lacks CPO and platform
    bare = SignedContract(contract=c, signatures=signed.signatures)
    assert sorted(r for f, r in bare.problems(**DOMAIN)) == sorted(
        [f"missing {CPO.address.lower()}", f"missing {PLATFORM.address.lower()}"]
    )


def test_a_named_fleet_operator_must_sign_the_template() -> None:
    t = template(fleet_operator=FLEET.address, fleet_share_ppm=50_000)
    assert t.signers() == sorted(a.address.lower() for a in (CPO, PLATFORM, FLEET))
    assert verify_template_signatures(t, signed_template(t).signatures, **DOMAIN) == [
        f"signatures: missing {FLEET.address.lower()}"
    ]
    full = signed_template(t, (CPO, PLATFORM, FLEET))
    assert instance(full).problems(**DOMAIN) == []


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"user_incentive_ppm": 200_000}, "contract.user_incentive_ppm"),
        ({"platform_fee_ppm": 0}, "contract.platform_fee_ppm"),
        ({"cpo": OTHER_FSP.address.lower()}, "contract.cpo"),
        ({"valid_until": 2_100_000_000}, "contract.valid_until"),
    ],
)
def test_an_instance_whose_terms_differ_from_its_template_is_refused(over, field) -> None:
    signed = instance(signed_template(template()), **over)
    assert fields(signed) == [field]
    assert "differs from template" in signed.problems(**DOMAIN)[0][1]


def test_a_template_for_another_fsp_is_refused() -> None:
    st = signed_template(template(fsp=OTHER_FSP.address))
    c = template().instance(contract_id=str(uuid.uuid4()), ev_user=USER.address.lower())
    sigs = tuple(sign_contract(c, a.key, **DOMAIN) for a in (FSP, USER))
    signed = SignedContract(contract=c, signatures=sigs, template=st)
    assert fields(signed) == ["template.template.fsp"]


def test_a_template_its_signers_did_not_sign_is_refused() -> None:
    """An unknown template: one the CPO named in it never signed (here the FSP forged it)."""
    t = template()
    forged = SignedTemplate(
        template=t,
        signatures=(sign_template(t, FSP.key, **DOMAIN), sign_template(t, PLATFORM.key, **DOMAIN)),
    )
    problems = instance(forged).problems(**DOMAIN)
    assert ("template.signatures", f"missing {CPO.address.lower()}") in problems
    assert ("template.signatures[0]", f"{FSP.address.lower()} is not a party of the template") in (
        problems
    )
    # a signature over other terms (another chain) does not count either
    elsewhere = SignedTemplate(
        template=t,
        signatures=tuple(
            sign_template(t, a.key, chain_id=1, verifying_contract=VERIFYING)
            for a in (CPO, PLATFORM)
        ),
    )
    assert "template.signatures" in fields(instance(elsewhere))


@pytest.mark.parametrize("signers", [(FSP,), (USER,), (FSP, CPO)])
def test_an_instance_without_the_fsps_or_the_users_signature_is_refused(signers) -> None:
    signed = instance(signed_template(template()), signers=signers)
    assert any(f.startswith("signatures") for f in fields(signed))
    assert all(f.startswith("signatures") for f in fields(signed))


def test_settle_period_accepts_an_instance_and_refuses_one_off_its_template() -> None:
    st = signed_template(template())
    common = {
        "period": "p",
        "reports": [],
        "dso_of_request": {},
        "contributions": [],
        "fee_recipient": PLATFORM.address.lower(),
        "at_ts": 1_000,
        **DOMAIN,
    }
    settle_period(contracts=[instance(st)], **common)
    with pytest.raises(SettlementError, match=r"contract\.user_incentive_ppm: 500000 differs"):
        settle_period(contracts=[instance(st, user_incentive_ppm=500_000)], **common)


def test_a_contract_without_a_template_serialises_as_before() -> None:
    """No ``template`` key unless there is one: published bundles keep their bytes."""
    st = signed_template(template())
    signed = instance(st)
    bare = SignedContract(contract=signed.contract, signatures=signed.signatures)
    assert "template" not in bare.model_dump() and "template" not in bare.model_dump_json()
    assert signed.model_dump()["template"]["template"]["template_id"] == st.template.template_id
    assert SignedContract.model_validate_json(signed.model_dump_json()) == signed


def test_a_template_id_must_be_a_uuid() -> None:
    with pytest.raises(ValueError, match="template_id"):
        template(template_id="not-a-uuid")


def test_instance_problems_is_what_signed_contract_problems_applies() -> None:
    st = signed_template(template())
    signed = instance(st, fleet_share_ppm=1)
    assert signed.problems(**DOMAIN) == instance_problems(
        signed.contract, signed.signatures, st.template, st.signatures, **DOMAIN
    )
