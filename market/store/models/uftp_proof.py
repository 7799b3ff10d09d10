"""The proof attached to a market offer that came from a UFTP FlexOffer (``market.uftp.proof``).

Kept beside the offer, not in its signed body: the offer's canonical bytes (its commitment leaf
and the input bundle) stay those of an offer without UFTP. Stored in the offer's transaction.
"""

from __future__ import annotations

from sqlalchemy import Column, Text
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel


class UftpOfferProof(SQLModel, table=True):
    """One offer's proof: canonical JSON of ``OfferProof``, published in the ``uftp`` bundle."""

    __tablename__ = "uftp_offer_proof"

    offer_id: str = SqlField(primary_key=True, max_length=36)
    session_id: str = SqlField(index=True, max_length=36)
    proof_json: str = SqlField(sa_column=Column(Text, nullable=False))
