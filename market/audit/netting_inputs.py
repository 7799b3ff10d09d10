"""Check: the inputs a session's netting used are the ones their owners bound.

Why: recomputing ``settle_period`` from the netting bundle only proves the arithmetic. The
contributions move EV users' shares, so they must be exactly the rows each FSP signed (its
``user_contributions`` envelope, published in the bundle). The contracts move everyone's, so
they must be exactly those of each FSP's committed contract set (its root folded into the
portfolio hash of its ``OffersCommitted``) that the published rule selects: valid at the
delivery start, with a user who contributed.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from clearing.commitments import contract_leaf, contract_set_root, own_portfolios, portfolio_hash
from clearing.settlement.report import Portfolio
from clearing.settlement.revenue import RevenueShareContract, UserContribution
from market.audit.chain_view import AuditedSession
from market.audit.findings import CheckResult
from market.audit.session_bundles import short_hex
from market.auth.eip712 import Domain, verify_envelope
from market.clearing_house.netting_bundle import ContributionsEnvelope, NettingBundle
from market.errors import FlexMarketError

__all__ = ["check_contract_sets", "check_contribution_envelopes"]

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
) -> dict[_Row, str]:
    """Every contribution the netting used is a row of its FSP's one valid envelope; returns
    the valid envelopes' rows (to message id): :func:`check_dropped_rows` names a signed row
    the netting left out although a committed contract covers it."""
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
    return signed


def check_dropped_rows(
    res: CheckResult,
    signed: dict[_Row, str],
    contributions: Sequence[UserContribution],
    covered: set[tuple[str, str]],
) -> None:
    """Every signed row whose (FSP, user) a committed contract valid at the delivery start
    covers was used (``covered``); a row without one is left out by the rule
    (:func:`market.clearing_house.netting_bundle.covered_contributions`): noted, no finding."""
    used = {_row(c) for c in contributions}
    left_out = 0
    for row in sorted(set(signed) - used):
        if (row[1], row[2]) not in covered:
            left_out += 1
            continue
        res.add(
            "netting.contributions_dropped",
            f"the FSP signed {row[3]} Wh shifted, {row[4]} Wh discharged for {row[2]} in "
            f"message {signed[row]}, the netting did not use it",
            row[1],
        )
    if left_out:
        res.notes.append(
            f"{left_out} signed contribution(s) without a committed contract valid at the "
            "delivery start: not shared, as the rule says"
        )


def check_contract_sets(
    res: CheckResult,
    bundle: NettingBundle,
    cs: AuditedSession,
    portfolios: Sequence[Portfolio],
    signed_pairs: set[tuple[str, str]],
) -> set[tuple[str, str]]:
    """Each committed FSP's published contract set hashes, with its delivery portfolio, to its
    on-chain portfolio hash; the applied contracts are exactly those of the sets the rule
    selects (``portfolios``: the delivery bundle's; a user contributed when a row names it or
    its FSP signed one for it, ``signed_pairs``: dropping the row drops no contract). Returns
    the (FSP, user) pairs the committed contracts valid at the delivery start cover (an FSP
    whose published set is not its committed one covers all its pairs: named already)."""
    published = {c.fsp.lower(): c.contracts for c in bundle.committed_contracts}
    committed: dict[str, RevenueShareContract] = {}
    unbound: set[str] = set()  # named already: its published set is not the committed one
    for fsp, onchain in sorted(cs.commitments.items()):
        contracts = published.get(fsp, ())
        root = contract_set_root(contracts)
        if portfolio_hash(own_portfolios(portfolios, fsp), root) != onchain.portfolio_hash:
            res.add(
                "netting.contract_set_not_committed",
                f"the published contract set ({len(contracts)} contract(s), root "
                f"{short_hex(root)}) is not the one the FSP's portfolio hash "
                f"{short_hex(onchain.portfolio_hash)} binds",
                fsp,
            )
            unbound.add(fsp)
            continue
        committed.update({c.contract_id: c for c in contracts if c.fsp == fsp})
    pairs = {(c.fsp, c.ev_user) for c in bundle.contributions} | signed_pairs
    selected = {
        cid: c
        for cid, c in committed.items()
        if (c.fsp, c.ev_user) in pairs and c.active_at(bundle.at_ts)
    }
    seen: set[str] = set()
    for s in bundle.contracts:  # a dict by id would check only the last of two
        cid = s.contract.contract_id
        if cid in seen:
            res.add(
                "netting.contract_duplicate",
                f"contract id {cid} is applied more than once: only one version of a contract "
                "can be in its FSP's committed set",
                cid,
            )
        seen.add(cid)
    applied = {s.contract.contract_id: s.contract for s in bundle.contracts}
    for cid, c in sorted(applied.items()):
        held = committed.get(cid)
        if c.fsp in unbound:
            continue
        if held is None:
            res.add(
                "netting.contract_not_committed",
                f"applied contract {cid} ({c.fsp} with {c.ev_user}) is not in the contract set "
                "its FSP committed with its offers",
                cid,
            )
        elif contract_leaf(held) != contract_leaf(c):
            res.add(
                "netting.contract_substituted",
                f"applied contract {cid} has other terms than the committed one "
                f"({short_hex(contract_leaf(c))} vs {short_hex(contract_leaf(held))})",
                cid,
            )
    for cid, c in sorted(selected.items()):
        if cid not in applied:
            res.add(
                "netting.contract_omitted",
                f"committed contract {cid} ({c.fsp} with {c.ev_user}) is valid at the delivery "
                "start and its user contributed, but the netting did not apply it",
                cid,
            )
    covered = {(c.fsp, c.ev_user) for c in committed.values() if c.active_at(bundle.at_ts)}
    return covered | {p for p in signed_pairs if p[0] in unbound}
