"""CPO readings digests: what a station's CPO vouches it received, per station and ISP.

Why: under terms with ``readings_digests_required`` the meter oracle attests only a reading set
that the stations' CPOs signed digests for (``clearing/readings_digest.py``).  The CPO sends
them with a signed ``readings_digests`` message; each row is one digest as sent (its own
EIP-191 signature inside), keyed by (session, station, ISP start) so a second, different
digest for the same ISP is a conflict, never an overwrite.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from clearing.messages import UuidStr
from clearing.readings_digest import ReadingsDigest
from market.store.models.fields import CreateBody, big

#: Digests one message may carry (a station per ISP of one session: 100 stations x 100 ISPs).
MAX_DIGESTS = 10_000


class ReadingsDigestsCreate(CreateBody):
    """A CPO's signed digests for one session (kind ``readings_digests``; CPO)."""

    session_id: UuidStr
    digests: Annotated[tuple[ReadingsDigest, ...], Field(min_length=1, max_length=MAX_DIGESTS)]


class ReadingsDigestRow(SQLModel, table=True):
    """One stored digest; the primary key makes a second digest of one ISP a conflict."""

    __tablename__ = "readings_digest"

    session_id: str = SqlField(primary_key=True, max_length=36)
    station: str = SqlField(primary_key=True, max_length=64)
    isp_start: int = SqlField(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False, nullable=False)
    )
    cpo: str = SqlField(index=True, max_length=42)
    message_id: str = SqlField(max_length=64)
    digest_json: str = SqlField(sa_column=Column(Text, nullable=False))
    received_at: int = SqlField(default=0, sa_column=big(nullable=False))


class ReadingsDigestsAccepted(BaseModel):
    """Answer to posted digests: how many were new and how many were already stored as sent."""

    message_id: str
    session_id: str
    cpo: str
    stored: int
    unchanged: int
