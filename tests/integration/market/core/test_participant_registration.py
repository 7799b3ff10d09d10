"""POST /participants racing the worker's indexer, which stores a participant row for each
on-chain ``ParticipantRegistered``: whichever commits first, the registration is a 201 with the
name it asked for and the roles of the chain (it was an intermittent 409 ``body.id`` in
``bench intraday``, when the embedded worker's first sync landed between the handler's
existence check and its insert)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from market.api.schemas import ParticipantCreate
from market.indexer import Indexer
from market.store import models as m

pytestmark = pytest.mark.integration


def test_registration_survives_the_indexer_inserting_the_row_first(
    chain: Any, runtime: Any, clients: Any
) -> None:
    indexer = Indexer(
        runtime.engine,
        runtime.ledger,
        chain.contracts.deployment.deploy_block,
        roles=runtime.core.roles,
    )
    fsp = clients("fsp_a")
    address = chain.addresses["fsp_a"].lower()
    started: list[bool] = []
    synced: list[int] = []

    def interleave(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        """The worker's tick, at the worst moment: after the handler's reads, before its
        first write (no write lock held yet, so the indexer can commit)."""
        if not started and statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            started.append(True)  # the indexer's own writes pass through here too
            synced.append(indexer.sync())

    with Session(runtime.engine) as db:
        assert db.get(m.Participant, address) is None
    event.listen(runtime.engine, "before_cursor_execute", interleave)
    try:
        out = fsp.register_participant(ParticipantCreate(name="Fleet A", eic_code="10X-A"))
    finally:
        event.remove(runtime.engine, "before_cursor_execute", interleave)
    assert synced and synced[0] > 0  # the indexer did insert the rows in between
    assert out["address"] == address and out["name"] == "Fleet A"
    with Session(runtime.engine) as db:
        row = db.get(m.Participant, address)
    assert row is not None
    assert (row.name, row.eic_code, row.roles) == ("Fleet A", "10X-A", "FSP")
    # and the indexer after the registration keeps the name, as before
    assert fsp.register_participant(ParticipantCreate(name="Fleet A2"))["name"] == "Fleet A2"
    indexer.sync()
    with Session(runtime.engine) as db:
        again = db.get(m.Participant, address)
    assert again is not None and (again.name, again.roles) == ("Fleet A2", "FSP")
