"""Check: the inputs a session's netting used are the ones their owners bound.

Why: recomputing ``settle_period`` from the netting bundle only proves the arithmetic. The
contributions move EV users' shares, so they must be exactly the rows each FSP signed (its
``user_contributions`` envelope, published in the bundle).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from clearing.settlement.revenue import UserContribution
from market.audit.findings import CheckResult
from market.auth.eip712 import Domain, verify_envelope
from market.clearing_house.netting_bundle import ContributionsEnvelope
from market.errors import FlexMarketError

__all__ = ["check_contribution_envelopes"]

_Row = tuple[str, str, str, int, int]


def _row(c: UserContribution) -> _Row:
    return (c.session_id, c.fsp, c.ev_user, c.shifted_wh, c.discharged_wh)


def _signed_rows(
    res: CheckResult,
    env: ContributionsEnvelope,
    session_id: str,
    domain: Domain,
    gate_closure: int,
) -> list[UserContribution] | None:
    """The rows of one envelope when it is a valid FSP signature over this session's
    contributions (each row naming the signer); None (with a finding) otherwise."""
    who = env.signer.lower()
    try:
        signer, _ = verify_envelope(domain, env.model_dump(mode="python"))
    except (FlexMarketError, KeyError, TypeError, ValueError) as exc:
        res.add(
            "netting.contributions_bad_signature",
            f"message {env.message_id}: not signed by {who} for this market: {exc}"[:300],
            who,
        )
        return None
    if env.kind != "user_contributions":
        res.add(
            "netting.contributions_wrong_signer",
            f"message {env.message_id} is a {env.kind!r}, not user_contributions",
            signer,
        )
        return None
    try:
        rows = [UserContribution.model_validate(r) for r in env.body.get("contributions", [])]
    except (ValidationError, TypeError) as exc:
        res.add("netting.contributions_unsigned", f"message {env.message_id}: {exc}"[:300], who)
        return None
    if env.body.get("session_id") != session_id or any(r.session_id != session_id for r in rows):
        res.add(
            "netting.contributions_wrong_session",
            f"message {env.message_id} is for session {env.body.get('session_id')}, "
            f"not {session_id}",
            signer,
        )
        return None
    if env.expiry <= gate_closure:
        res.add(
            "netting.contributions_expired",
            f"message {env.message_id} expired at {env.expiry}, before the session's gate "
            f"closure {gate_closure}: it cannot report on this session's orders",
            signer,
        )
        return None
    strangers = sorted({r.fsp for r in rows if r.fsp != signer})
    if strangers:
        res.add(
            "netting.contributions_wrong_signer",
            f"message {env.message_id} signed by {signer} carries rows of {', '.join(strangers)}",
            signer,
        )
        return None
    return rows


def check_contribution_envelopes(
    res: CheckResult,
    envelopes: Sequence[ContributionsEnvelope],
    contributions: Sequence[UserContribution],
    *,
    session_id: str,
    domain: Domain,
    gate_closure: int,
) -> None:
    """Every contribution the netting used is a row of its FSP's one valid envelope, and every
    signed row was used, unchanged."""
    signed: dict[_Row, str] = {}
    by_fsp: dict[str, str] = {}
    bad: set[str] = set()
    for env in envelopes:
        who = env.signer.lower()
        if who in by_fsp:
            res.add(
                "netting.contributions_duplicate",
                f"messages {by_fsp[who]} and {env.message_id}: one FSP's contributions are "
                "replaced by its latest post, never merged",
                who,
            )
        by_fsp[who] = env.message_id
        rows = _signed_rows(res, env, session_id, domain, gate_closure)
        if rows is None:
            bad.add(who)
            continue
        signed.update({_row(r): env.message_id for r in rows})
    used = {_row(c) for c in contributions}
    for row in sorted(used - set(signed)):
        if row[1] in bad:
            continue  # named with its envelope
        res.add(
            "netting.contributions_unsigned",
            f"the netting used {row[3]} Wh shifted, {row[4]} Wh discharged for {row[2]}, a row "
            f"its FSP did not sign",
            row[1],
        )
    for row in sorted(set(signed) - used):
        res.add(
            "netting.contributions_dropped",
            f"the FSP signed {row[3]} Wh shifted, {row[4]} Wh discharged for {row[2]} in "
            f"message {signed[row]}, the netting did not use it",
            row[1],
        )
