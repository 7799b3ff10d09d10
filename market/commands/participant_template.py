"""``flexmarket participant sign-template``: the CPO's, the platform's or the fleet operator's
signature on a revenue-share template (issue 19), offline.

Why offline and with the deployment given: a signer binds terms for every future EV user of
one FSP, so it names the chain and market contract it signs for from its own records, not from
whatever a server answers; no RPC or API is contacted.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import typer
import yaml

from market.commands.participant import KeyEnvOpt, _key, _run
from market.participant.errors import ParticipantError


def sign_template(
    template: Path = typer.Option(
        ...,
        "--template",
        help="The template (YAML or JSON): its terms, or {template, signatures} another signer "
        "made; - for stdin.",
    ),
    chain_id: int = typer.Option(..., "--chain-id", min=1, help="The market's chain id."),
    market: str = typer.Option(
        ..., "--market", help="The market contract's address (the EIP-712 verifying contract)."
    ),
    key_env: str = KeyEnvOpt,
) -> None:
    """Sign a revenue-share template (CPO, platform, named fleet operator): prints {template,
    signatures} with this key's signature added, for the next signer or for the FSP's fsp.yaml
    (netting.templates); stderr says who must still sign."""
    from market.participant.template import add_template_signature

    def step() -> object:
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", market):
            raise ParticipantError("--market", f"{market!r} is not a 0x-prefixed 20-byte address")
        try:
            text = sys.stdin.read() if str(template) == "-" else template.read_text()
        except OSError as exc:
            raise ParticipantError("--template", f"cannot read {template}: {exc.strerror}") from exc
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ParticipantError("--template", f"{template} is not YAML or JSON: {exc}") from exc
        signed, missing = add_template_signature(
            raw, _key(key_env), chain_id=chain_id, verifying_contract=market
        )
        note = "complete" if not missing else "still to sign: " + ", ".join(missing)
        typer.echo(f"template {signed.template.template_id}: {note}", err=True)
        return signed.model_dump(mode="json")

    _run(step)


def register(app: typer.Typer) -> None:
    """Add ``sign-template`` to the ``participant`` commands."""
    app.command("sign-template")(sign_template)
