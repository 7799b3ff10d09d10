"""The FSP gateway's claims for EV users without a wallet (issue 19): issue, show, redeem.

Why the gateway never keeps the code: a leak of the gateway's database must not pay anyone's
claim. The code exists in the issuing request only: the gateway derives the claim key, lets
``on_issue`` sign with it what must be signed at creation (the user's revenue-share contract,
whose payee is the claim address), answers the code once, and stores the address alone. The
address already commits to the code (keccak of a key derived by keccak from 144 random bits),
so no separate hash is kept. Redeeming (``POST .../claim/redeem``) checks the code against the
stored address and relays the signed withdrawal from the gateway's own account
(:func:`market.participant.claim.redeem`): the user pays no gas.

A user who named a wallet in their preferences is paid there and gets no claim.

A claim address becomes a payee only through a revenue-share contract naming it, which the
CPO and the platform must bind too: ``flexmarket fsp run`` gives ``on_issue`` only when its
``fsp.yaml`` names a revenue-share template they signed (:mod:`market.fsp.claim_contract`).
Without one, issuing answers 501 ``not-configured`` saying what to configure, rather than hand
out a code whose address nothing would ever pay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from eth_account.signers.local import LocalAccount
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

from adapters.chain.revert import ChainError
from market.clearing_house.period import SignedContract
from market.errors import (
    ChainUnavailable,
    Conflict,
    FlexMarketError,
    InvalidMessage,
    NotConfigured,
    NotFound,
)
from market.participant.claim import claim_account, new_claim, redeem
from market.participant.errors import ParticipantError
from market.participant.onchain import ChainAccount

metadata = sa.MetaData()

# the claim address per user, and the redemption the gateway relayed: never the code or key
claims = sa.Table(
    "fsp_ev_claims",
    metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("address", sa.String(42), nullable=False, unique=True),
    sa.Column("issued_at", sa.BigInteger, nullable=False),
    sa.Column("redeemed_tx", sa.String(66)),
    sa.Column("redeemed_to", sa.String(42)),
    sa.Column("redeemed_units", sa.BigInteger),
    sa.Column("redeemed_at", sa.BigInteger),
)

# each claim address's revenue-share contract as posted (public: it names only the address):
# the set the FSP commits must include it after a restart too
claim_contracts = sa.Table(
    "fsp_claim_contracts",
    metadata,
    sa.Column("contract_id", sa.String(64), primary_key=True),
    sa.Column("address", sa.String(42), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)

OnIssue = Callable[[str, LocalAccount], None]

# a refused redemption as the API's problem: the user's input (422), the node (503), else 409
_PROBLEMS: dict[str, type[FlexMarketError]] = {
    "code": InvalidMessage,
    "to": InvalidMessage,
    "rpc": ChainUnavailable,
}


class RedeemBody(BaseModel):
    """The code the user was shown and the wallet that receives the claim."""

    model_config = ConfigDict(strict=True, extra="forbid")

    code: str = Field(min_length=1, max_length=128)
    to: str = Field(min_length=1, max_length=64)


class ClaimDesk:
    """Claims in the gateway's database; ``relayer`` sends the signed withdrawals."""

    def __init__(
        self,
        engine: Engine,
        now: Callable[[], float],
        relayer: ChainAccount | None = None,
        on_issue: OnIssue | None = None,
        can_issue: Callable[[], bool] | None = None,
    ) -> None:
        self.engine = engine
        self.now = now
        self.relayer = relayer
        self.on_issue = on_issue
        self.can_issue = can_issue  # e.g. a template is valid now (default: with on_issue)
        metadata.create_all(engine)

    def address_of(self, user_id: str) -> str | None:
        """The user's claim address (their payee), or None: no claim issued."""
        row = self._row(user_id)
        return None if row is None else str(row.address)

    def addresses(self) -> dict[str, str]:
        """Every issued claim: user id -> claim address (the user's contributions go there)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(claims.c.user_id, claims.c.address)).all()
        return {str(r.user_id): str(r.address) for r in rows}

    def keep_contract(self, signed: SignedContract) -> None:
        """Keep a claim's posted contract: the FSP's next commitments bind it (after a restart
        too), and the claim key that signed it is gone."""
        with self.engine.begin() as conn:
            conn.execute(
                claim_contracts.insert().values(
                    contract_id=signed.contract.contract_id,
                    address=signed.contract.ev_user,
                    body=signed.model_dump_json(),
                )
            )

    def forget_contract(self, contract_id: str) -> None:
        """Drop a kept claim contract the market refused (it is in no set of the FSP's)."""
        with self.engine.begin() as conn:
            conn.execute(
                claim_contracts.delete().where(claim_contracts.c.contract_id == contract_id)
            )

    def kept_contracts(self) -> list[SignedContract]:
        """Every claim contract this gateway posted, in id order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(claim_contracts.c.body).order_by(claim_contracts.c.contract_id)
            ).all()
        return [SignedContract.model_validate_json(r.body) for r in rows]

    def _row(self, user_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(claims).where(claims.c.user_id == user_id)).first()

    def issue(self, user_id: str) -> dict[str, Any]:
        """A new claim for the user: ``on_issue`` signs with its key, then only the address is
        stored. The code is in the answer and nowhere else (409 ``claim`` the second time)."""
        if self.on_issue is None:
            raise NotConfigured(
                "this gateway issues no claims: its fsp.yaml names no revenue-share template "
                "(netting.templates, signed by the CPO and the platform with flexmarket "
                "participant sign-template) to make a claim address your payee",
                field="claim",
            )
        claim = new_claim()
        try:  # reserved first: two requests at once cannot both sign, one gets 409
            with self.engine.begin() as conn:
                conn.execute(
                    claims.insert().values(
                        user_id=user_id, address=claim.address, issued_at=int(self.now())
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise Conflict(
                "a claim was already issued to you; its code is shown only once", field="claim"
            ) from exc
        try:
            self.on_issue(user_id, claim_account(claim.code))
        except BaseException:  # nothing was signed for it: the reservation goes too
            with self.engine.begin() as conn:
                conn.execute(claims.delete().where(claims.c.user_id == user_id))
            raise
        return {"code": claim.code, "address": claim.address, "shown_once": True}

    def view(self, user_id: str) -> dict[str, Any]:
        """The claim address, what it holds on-chain (null without a reachable chain) and the
        redemption the gateway relayed, if any; whether this gateway can issue one. No claim
        yet is an answer, not a 404: the EV-user page asks on every sign-in."""
        row = self._row(user_id)
        issuable = self.on_issue is not None and (self.can_issue is None or self.can_issue())
        if row is None:
            return {
                "address": None,
                "withdrawable_units": None,
                "redeemed": None,
                "issuable": issuable,
            }
        withdrawable = None
        if self.relayer is not None:
            try:
                withdrawable = self.relayer.market.credits(str(row.address))
            except ChainError:  # the node is away: the rest of the view still holds
                withdrawable = None
        redeemed = (
            None
            if row.redeemed_tx is None
            else {
                "tx": row.redeemed_tx,
                "to": row.redeemed_to,
                "withdrawn_units": int(row.redeemed_units),
                "at": int(row.redeemed_at),
            }
        )
        return {
            "address": row.address,
            "withdrawable_units": withdrawable,
            "redeemed": redeemed,
            "issuable": issuable,
        }

    def redeem(self, user_id: str, body: RedeemBody) -> dict[str, Any]:
        """Relay the withdrawal the code signs, if the code is this user's claim's."""
        row = self._row(user_id)
        if row is None:
            raise NotFound("no claim was issued to you", field="claim")
        if self.relayer is None:
            raise Conflict("this gateway has no chain to relay with", field="claim")
        try:
            if claim_account(body.code).address.lower() != row.address:
                raise InvalidMessage("this is not the code of your claim", field="code")
            out = redeem(self.relayer, body.code, body.to)
        except ParticipantError as exc:
            raise _PROBLEMS.get(exc.field, Conflict)(exc.reason, field=exc.field) from exc
        with self.engine.begin() as conn:
            conn.execute(
                claims.update()
                .where(claims.c.user_id == user_id)
                .values(
                    redeemed_tx=out["tx"],
                    redeemed_to=out["to"],
                    redeemed_units=out["withdrawn_units"],
                    redeemed_at=int(self.now()),
                )
            )
        return out


def install_routes(
    router: APIRouter,
    desk: ClaimDesk,
    me: Any,
    own: Callable[[str, str], None],
    wallet_of: Callable[[str], str | None],
) -> None:
    """``/ev-users/{user_id}/claim`` (POST issues, GET shows) and ``.../claim/redeem``."""

    @router.post("/{user_id}/claim", status_code=201)
    def post_claim(user_id: str, who: str = me) -> dict[str, Any]:
        """Issue the user's claim; the code is in this answer only (write it down)."""
        own(user_id, who)
        if wallet_of(user_id):
            raise Conflict(
                "your preferences name a wallet: your share is paid there", field="wallet_address"
            )
        return desk.issue(user_id)

    @router.get("/{user_id}/claim")
    def get_claim(user_id: str, who: str = me) -> dict[str, Any]:
        own(user_id, who)
        return desk.view(user_id)

    @router.post("/{user_id}/claim/redeem")
    def post_redeem(user_id: str, body: RedeemBody, who: str = me) -> dict[str, Any]:
        """Prove the link with the code; the gateway relays the withdrawal to ``to``."""
        own(user_id, who)
        return desk.redeem(user_id, body)
