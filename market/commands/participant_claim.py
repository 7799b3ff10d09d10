"""``flexmarket participant claim``: redeem an EV user's claim (issue 19) with its code.

Why its own module: the participant commands are one module at the size limit; this one only
adds the claim's refusals before connecting (a mistyped code or address costs no RPC).
"""

from __future__ import annotations

from typing import Any

import typer

from market.commands.participant import ApiOpt, KeyEnvOpt, RpcOpt, _on_chain, _run


def claim(
    code: str = typer.Option(..., "--code", help="The claim code the FSP showed (FMC-...)."),
    to: str = typer.Option(..., "--to", help="The wallet address that receives the claim."),
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """Redeem an EV user's claim: sign its withdrawal with the code and relay it from this
    account (which pays the gas only); the claim's whole credit goes to --to."""
    from market.participant.claim import check_recipient, claim_account, redeem

    def step() -> dict[str, Any]:
        claim_account(code)  # a mistyped code or address is refused before connecting
        check_recipient(to)
        return redeem(_on_chain(api, key_env, rpc).chain, code, to)

    _run(step)


def register(app: typer.Typer) -> None:
    """Add ``claim`` to the ``participant`` commands."""
    app.command("claim")(claim)
