"""Check: delivery was verified against exactly the prognosis and portfolio each FSP committed.

Why: the payout depends on the baseline (the FSP's DPrognosis) and on which meters count for the
FSP at which congestion point. Each FSP commits the hashes of both with its offers
(OffersCommitted), so an operator who publishes consistent bundles from the start still cannot
swap a baseline or a meter: the delivery bundle's preimages must hash to the chain's values.
The portfolio hash folds in the root of the FSP's revenue-sharing contract set (the delivery
bundle's ``contract_sets``; the netting check opens it).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from clearing.commitments import (
    EMPTY_CONTRACT_SET,
    own_portfolios,
    own_prognoses,
    portfolio_hash,
    prognosis_hash,
)
from clearing.encoding import canonical_json
from clearing.messages import DPrognosis
from clearing.settlement.report import ContractSetRef, Portfolio
from market.audit.chain_view import AuditedSession
from market.audit.findings import CheckResult
from market.audit.session_bundles import SessionBundles, short_hex


def check_fsp_data(cs: AuditedSession, sb: SessionBundles) -> CheckResult:
    res = CheckResult("fsp_data")
    if sb.delivery is None:
        return res.skip("no parsed delivery bundle")
    inputs: dict[str, Any] = sb.delivery["inputs"]
    try:
        prognoses = [
            DPrognosis.model_validate_json(canonical_json(p)) for p in inputs.get("prognoses", [])
        ]
        portfolios = [
            Portfolio.model_validate_json(canonical_json(p)) for p in inputs.get("portfolios", [])
        ]
        contract_sets = {
            r.fsp: bytes.fromhex(r.root[2:])
            for r in (
                ContractSetRef.model_validate_json(canonical_json(x))
                for x in inputs.get("contract_sets", [])
            )
        }
    except (ValidationError, TypeError) as exc:
        res.add("bundle.unparseable", f"delivery inputs: {exc}"[:300], "delivery")
        return res
    for fsp, committed in sorted(cs.commitments.items()):
        used = prognosis_hash(own_prognoses(prognoses, fsp))
        if used != committed.prognosis_hash:
            res.add(
                "prognosis.substituted",
                f"delivery was verified against prognoses hashing to {short_hex(used)}, the FSP "
                f"committed {short_hex(committed.prognosis_hash)}",
                fsp,
            )
        root = contract_sets.get(fsp, EMPTY_CONTRACT_SET)
        meters = portfolio_hash(own_portfolios(portfolios, fsp), root)
        if meters != committed.portfolio_hash:
            res.add(
                "portfolio.substituted",
                f"delivery counted a portfolio hashing to {short_hex(meters)}, the FSP committed "
                f"{short_hex(committed.portfolio_hash)}",
                fsp,
            )
    res.notes.append(
        f"prognosis and portfolio of {len(cs.commitments)} FSP(s) against their commitments"
    )
    return res
