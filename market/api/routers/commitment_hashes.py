"""``GET /sessions/{id}/commitment-hashes``: the prognosis and portfolio hashes an FSP commits
next to its offers root, computed from the public prognoses and assets with the same functions
the participant library and the auditor use (``clearing.commitments``).

Why a route: a page in the browser commits with a wallet and cannot import the Python
definitions; it reads the two hashes here and the wallet shows them in the transaction. The
preimages are public (``GET /sessions/{id}/prognoses``, ``GET /assets``), so anyone can
recompute and check what the route answers. The portfolio hash folds in the root of the FSP's
revenue-sharing contract set (every contract it posted; ``contract_ids`` names them), so the
contracts its netting may apply are fixed before gate closure too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import Session, col, select

from clearing.commitments import contract_set_root, own_prognoses, portfolio_hash, prognosis_hash
from clearing.encoding import hex32
from clearing.messages import DPrognosis
from clearing.settlement.meter import MeterRef
from clearing.settlement.report import Portfolio
from market.api.deps import CoreDep
from market.clearing_house import store as ch_store
from market.store import models as m

router = APIRouter(tags=["prognoses"])


class CommitmentHashes(BaseModel):
    """What ``commitOffers`` takes next to the offers root and count."""

    fsp: str
    prognosis_hash: str
    portfolio_hash: str
    contract_set_root: str
    contract_ids: list[str]


@router.get("/sessions/{session_id}/commitment-hashes", response_model=CommitmentHashes)
def commitment_hashes(
    session_id: str,
    core: CoreDep,
    fsp: Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$", description="The FSP's address.")],
) -> CommitmentHashes:
    """The FSP's prognosis hash (its first prognosis per congestion point in the session, in
    publication order) and portfolio hash (its registered EVSEs per congestion point, with
    the root of its revenue-sharing contracts)."""
    owner = fsp.lower()
    with Session(core.engine) as db:
        rows = db.exec(
            select(m.PrognosisRow)
            .where(m.PrognosisRow.session_id == session_id)
            .order_by(col(m.PrognosisRow.id))
        )
        prognoses = [DPrognosis.model_validate_json(r.body_json) for r in rows]
        assets = db.exec(select(m.Asset).where(m.Asset.owner == owner))
        meters: dict[str, set[tuple[str, int]]] = {}
        for a in assets:
            if a.station_id:
                meters.setdefault(a.congestion_point, set()).add((a.station_id, a.evse_id))
    portfolios = [
        Portfolio(
            fsp=owner,
            congestion_point=cp,
            meters=tuple(MeterRef(station=s, evse=e) for s, e in sorted(meters[cp])),
        )
        for cp in sorted(meters)
    ]
    # the set the store formed (what the oracle looks the committed root up in), not every
    # stored contract: a contract kept before the store formed sets belongs to none yet
    contracts = [s.contract for s in ch_store.current_contract_set(core.engine, owner)]
    root = contract_set_root(contracts)
    return CommitmentHashes(
        fsp=owner,
        prognosis_hash=hex32(prognosis_hash(own_prognoses(prognoses, owner))),
        portfolio_hash=hex32(portfolio_hash(portfolios, root)),
        contract_set_root=hex32(root),
        contract_ids=[c.contract_id for c in contracts],
    )
