"""``flexmarket participant sign-template`` (issue 19): the CPO signs the template's terms, the
platform signs the CPO's output, and the result is a template every signer signed, ready for
``netting.templates``; each refusal names its field (a key that is not a signer, a forged
signature already in the file, a bad term, a bad market address)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import yaml
from eth_account import Account
from typer.testing import CliRunner

from clearing.settlement.revenue_template import verify_template_signatures
from market.clearing_house.period import SignedTemplate
from market.cli import app
from market.fsp.config import NettingConfig

KEYS = {n: "0x" + f"{i:064x}" for i, n in enumerate(("fsp", "cpo", "platform", "other"), 11)}
ADDR = {n: Account.from_key(k).address.lower() for n, k in KEYS.items()}
MARKET = "0x" + "42" * 20
CHAIN = ["--chain-id", "31337", "--market", MARKET]
TERMS = {
    "template_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "sign-template-test")),
    "fsp": ADDR["fsp"],
    "cpo": ADDR["cpo"],
    "platform": ADDR["platform"],
    "user_incentive_mode": "percent",
    "user_incentive_ppm": 150_000,
    "platform_fee_ppm": 10_000,
    "valid_from": 1_767_225_600,
    "valid_until": 1_798_761_600,
}


def sign(path: Path, who: str, *extra: str):
    args = ["participant", "sign-template", "--template", str(path), *CHAIN, *extra]
    return CliRunner().invoke(
        app, [*args, "--key-env", "SIGNER_KEY"], env={"SIGNER_KEY": KEYS[who]}
    )


def refusal(out) -> tuple[str, str]:
    assert out.exit_code == 1, out.output
    err = json.loads(out.stdout)["error"]
    return err["field"], err["reason"]


def test_the_cpo_then_the_platform_sign_and_the_result_is_a_complete_template(
    tmp_path: Path,
) -> None:
    terms = tmp_path / "template.yaml"
    terms.write_text(yaml.safe_dump(TERMS))
    first = sign(terms, "cpo")
    assert first.exit_code == 0, first.output
    assert f"still to sign: {ADDR['platform']}" in first.stderr
    half = tmp_path / "half.json"
    half.write_text(first.stdout)
    second = sign(half, "platform")
    assert second.exit_code == 0, second.output
    assert "complete" in second.stderr
    signed = SignedTemplate.model_validate_json(second.stdout)
    assert signed.template.model_dump() == {**signed.template.model_dump(), **TERMS}
    assert (
        verify_template_signatures(
            signed.template, signed.signatures, chain_id=31337, verifying_contract=MARKET
        )
        == []
    )
    # signing again adds nothing; the output goes into fsp.yaml as it is
    again = tmp_path / "full.json"
    again.write_text(second.stdout)
    assert (
        json.loads(sign(again, "cpo").stdout)["signatures"]
        == json.loads(second.stdout)["signatures"]
    )
    cfg = NettingConfig.model_validate({"templates": [yaml.safe_load(second.stdout)]})
    assert cfg.templates == [signed]


def test_each_refusal_names_its_field(tmp_path: Path) -> None:
    terms = tmp_path / "template.yaml"
    terms.write_text(yaml.safe_dump(TERMS))
    field, reason = refusal(sign(terms, "fsp"))  # the FSP signs each instance, not the template
    assert field == "key" and "not a signer" in reason and ADDR["cpo"] in reason
    assert refusal(sign(terms, "other"))[0] == "key"

    # a signature in the file that is not the CPO's (the FSP's over the same terms)
    forged = tmp_path / "forged.json"
    by_fsp = CliRunner().invoke(
        app, ["participant", "sign-template", "--template", str(terms), *CHAIN], env={}
    )
    assert refusal(by_fsp)[0] == "--key-env"
    from clearing.settlement.revenue_template import RevenueShareTemplate, sign_template

    t = RevenueShareTemplate(**TERMS)
    bad = sign_template(t, KEYS["fsp"], chain_id=31337, verifying_contract=MARKET)
    forged.write_text(json.dumps({"template": TERMS, "signatures": [bad]}))
    field, reason = refusal(sign(forged, "platform"))
    assert field == "signatures[0]" and "not a party of the template" in reason

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump({**TERMS, "platform_fee_ppm": 2_000_000}))
    assert refusal(sign(wrong, "cpo"))[0] == "template.platform_fee_ppm"
    wrong.write_text(yaml.safe_dump({**TERMS, "template_id": "t-1"}))
    assert refusal(sign(wrong, "cpo"))[0] == "template.template_id"
    wrong.write_text("[unclosed")
    assert refusal(sign(wrong, "cpo"))[0] == "--template"
    assert refusal(sign(tmp_path / "missing.yaml", "cpo"))[0] == "--template"
    cmd = ["participant", "sign-template", "--template", str(terms), "--chain-id", "1"]
    out = CliRunner().invoke(
        app, [*cmd, "--market", "0x12", "--key-env", "K"], env={"K": KEYS["cpo"]}
    )
    assert refusal(out)[0] == "--market"
