"""Clearing house: signed revenue-sharing contracts and user contributions (FSP writes), and
per-participant statements (JSON, CSV, UFTP FlexSettlement XML) and EV user earnings, each
readable by its own participant (SIWE) or the market operator.  A period is a session id."""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from market.api.deps import BundlesDep, CoreDep, SignedInDep
from market.api.routers._settlement_auth import verified_envelope
from market.api.routers._write import WRITE_RESPONSES
from market.api.schemas import Signed
from market.clearing_house import contributions as contribution_store
from market.clearing_house import store
from market.clearing_house.period import SignedContract
from market.clearing_house.service import final_report
from market.clearing_house.statements import (
    Statement,
    UserEarning,
    statement_csv,
    statement_json,
)
from market.clearing_house.uftp_xml import (
    MARKET_DSO_DOMAIN,
    MARKET_FSP_DOMAIN,
    flex_settlement_xml,
    uftp_time_stamp,
)
from market.errors import Forbidden, InvalidMessage, NotFound
from market.store import models as m
from market.store.models.clearing_house import (
    ContractAccepted,
    ContributionsAccepted,
    StatementPublic,
    UserContributions,
)

router = APIRouter(tags=["clearing house"])


def _created(body: ContractAccepted | ContributionsAccepted) -> Response:
    return Response(json.dumps(body.model_dump()), status_code=201, media_type="application/json")


#: A statement in one of three formats; the JSON one is described by StatementPublic.
STATEMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": StatementPublic,
        "content": {"text/csv": {"schema": {"type": "string"}}, "application/xml": {}},
    },
    401: {},
    403: {},
    404: {},
}


@router.post(
    "/clearing-house/contracts",
    status_code=201,
    response_model=ContractAccepted,
    responses=WRITE_RESPONSES,
)
async def post_contract(env: Signed[SignedContract], core: CoreDep, request: Request) -> Response:
    """Store a revenue-sharing contract (kind ``revenue_contract``; its FSP sends it): signed
    by every party, or an instance of an unexpired template (terms equal, signed by the FSP
    and the EV user; the template by the CPO, the platform and the fleet operator if named).
    It joins the FSP's contract set, whose root the FSP's next offer commitment binds (folded
    into its portfolio hash): a netting applies only the committed set's contracts. The kept
    contract again is 200."""
    _, signer = await verified_envelope(core, request, kind="revenue_contract", roles={"FSP"})
    contract = env.body.contract
    if contract.fsp != signer:
        raise Forbidden(
            f"contract belongs to {contract.fsp}, not {signer}", field="body.contract.fsp"
        )
    problems = env.body.problems(
        chain_id=core.domain.chain_id, verifying_contract=core.domain.verifying_contract
    )
    if problems:
        raise InvalidMessage(
            "; ".join(f"{f}: {r}" for f, r in problems), field=f"body.{problems[0][0]}"
        )
    accepted = ContractAccepted(contract_id=contract.contract_id, fsp=contract.fsp)
    if await run_in_threadpool(store.contract_unchanged, core.engine, env.body):
        # kept already (a restarted gateway posts its kept contracts before each commitment):
        # not refused for a template that expired since, which would stop its bidding
        return Response(
            json.dumps(accepted.model_dump()), status_code=200, media_type="application/json"
        )
    template = env.body.template
    if template is not None and template.template.valid_until <= int(core.clock.now()):
        raise InvalidMessage(
            f"template {template.template.template_id} expired at "
            f"{template.template.valid_until}: ask its signers for a new one",
            field="body.template.template.valid_until",
        )
    await run_in_threadpool(store.save_contract, core.engine, env.body)
    return _created(accepted)


@router.post(
    "/clearing-house/contributions",
    status_code=201,
    response_model=ContributionsAccepted,
    responses=WRITE_RESPONSES,
)
async def post_contributions(
    env: Signed[UserContributions], core: CoreDep, request: Request
) -> Response:
    """Per-user energy of a session (kind ``user_contributions``; the FSP of every row). The
    signed envelope is kept and published with the session's netting; a re-post replaces the
    FSP's previous one when its (nonce, expiry, message id) is greater (201), the kept message
    again is 200, an older one 409."""
    raw, signer = await verified_envelope(core, request, kind="user_contributions", roles={"FSP"})
    users: set[str] = set()
    for i, c in enumerate(env.body.contributions):
        if c.fsp != signer:
            raise Forbidden(f"fsp {c.fsp} is not the signer", field=f"body.contributions[{i}].fsp")
        if c.session_id != env.body.session_id:
            raise InvalidMessage(
                "must equal body.session_id", field=f"body.contributions[{i}].session_id"
            )
        if c.ev_user in users:
            raise InvalidMessage(
                f"{c.ev_user} has a row already", field=f"body.contributions[{i}].ev_user"
            )
        users.add(c.ev_user)
    stored = await run_in_threadpool(
        partial(
            contribution_store.save_signed_contributions,
            core.engine,
            session_id=env.body.session_id,
            fsp=signer,
            envelope=raw,
            rows=env.body.contributions,
            nonce=env.body.nonce,
        )
    )
    accepted = ContributionsAccepted(
        session_id=env.body.session_id, count=len(env.body.contributions)
    )
    return (
        _created(accepted)
        if stored
        else Response(
            json.dumps(accepted.model_dump()), status_code=200, media_type="application/json"
        )
    )


def _rfc3339(core: CoreDep, session_id: str) -> str:
    """The settlement's time stamp: the session's delivery end (deterministic XML)."""
    with Session(core.engine) as db:
        row = db.get(m.MarketSession, session_id)
    at = row.delivery_end if row is not None else 0
    return uftp_time_stamp(at)


def _period(core: CoreDep, period: str) -> dict[str, Any]:
    found = store.load_period(core.engine, period)
    if found is None:
        blocked = store.netting_blocked(core.engine, period)
        why = f": netting blocked: {blocked}" if blocked else ""
        raise NotFound(f"period {period} is not settled yet{why}", field="period")
    return found


def _whose(core: CoreDep, reader: str, participant: str | None) -> str:
    who = (participant or reader).lower()
    if who != reader and not core.is_operator(reader):
        raise Forbidden("a statement is readable by its participant only", field="participant")
    return who


@router.get("/statements", response_model=list[str])
def settled_periods(
    core: CoreDep,
    participant: Annotated[str | None, Query(max_length=42, pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
) -> list[str]:
    """The periods (session ids) netted so far: each has statements (a public fact, the
    netting is on-chain); with ``participant``, only those with a statement of that address.
    A page asks for a statement only once it is listed here: a refused fetch is a console
    error in the browser."""
    if participant is not None:
        return store.periods_of(core.engine, participant)
    return store.period_names(core.engine)


@router.get("/statements/{period}", response_class=Response, responses=STATEMENT_RESPONSES)
def get_statement(
    period: str,
    core: CoreDep,
    bundles: BundlesDep,
    reader: SignedInDep,
    participant: str | None = None,
    fmt: Annotated[Literal["json", "csv", "xml"], Query(alias="format")] = "json",
) -> Response:
    """The reader's statement of a period (a session id) as JSON, CSV or UFTP XML."""
    who = _whose(core, reader, participant)
    found = _period(core, period)
    raw = found["settlement"]["statements"].get(who)
    if raw is None:
        raise NotFound(f"{who} has no statement in period {period}", field="participant")
    statement = Statement.model_validate(raw)
    if fmt == "csv":
        return Response(statement_csv(statement), media_type="text/csv")
    if fmt == "xml":
        report = final_report(core.engine, bundles, period)
        try:
            xml = flex_settlement_xml(
                report,
                fsp=who,
                sender_domain=MARKET_DSO_DOMAIN,
                recipient_domain=MARKET_FSP_DOMAIN,
                message_id=period,
                conversation_id=period,
                time_stamp=_rfc3339(core, period),
            )
        except ValueError as exc:
            raise NotFound(str(exc), field="participant") from exc
        return Response(xml, media_type="application/xml")
    body = json.loads(statement_json(statement))
    body["tx_hash"] = found["tx_hash"]
    return Response(json.dumps(body), media_type="application/json")


@router.get(
    "/statements/{period}/earnings",
    response_model=list[UserEarning],
    responses={401: {}, 403: {}, 404: {}},
)
def get_earnings(
    period: str, core: CoreDep, reader: SignedInDep, ev_user: str | None = None
) -> list[dict[str, Any]]:
    """What EV users earned in a period; a user sees its own rows, the operator any."""
    who = _whose(core, reader, ev_user)
    rows = _period(core, period)["settlement"]["user_earnings"]
    return [r for r in rows if r["ev_user"] == who]
