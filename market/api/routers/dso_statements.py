"""The DSO's statement (SIWE): escrowed, paid to FSPs, refunded and penalties, per session or
per month, as JSON, CSV or UFTP FlexSettlement XML, each line with its on-chain transaction.

Readable by the DSO of a request of the session (a month: any DSO, its own sessions) and by the
market operator (``dso=`` names whose); anyone else gets 403 saying why. Amounts and hashes are
read from the chain at request time (``market.clearing_house.dso_statement``).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from shapeshifter_uftp.transport import to_xml

from adapters.chain.errors import ChainError
from market.api.deps import BundlesDep, CoreDep, SignedInDep
from market.api.routers.sessions import load_session
from market.clearing_house.dso_statement import (
    DsoStatement,
    dso_sessions,
    dso_statement,
    dso_statement_csv,
    dso_statement_json,
    month_bounds,
    own_requests,
    session_lines,
)
from market.clearing_house.service import final_report
from market.clearing_house.uftp_xml import (
    MARKET_DSO_DOMAIN,
    MARKET_FSP_DOMAIN,
    orders_settlement_message,
    uftp_time_stamp,
)
from market.errors import ChainUnavailable, Forbidden, InvalidMessage, NotFound
from market.ledger import Ledger

router = APIRouter(tags=["clearing house"])

DSO_STATEMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": DsoStatement,
        "content": {"text/csv": {"schema": {"type": "string"}}, "application/xml": {}},
    },
    401: {},
    403: {},
    404: {},
    422: {},
    503: {},
}


def _whose(core: CoreDep, reader: str, dso: str | None) -> str:
    who = (dso or reader).lower()
    if who != reader and not core.is_operator(reader):
        raise Forbidden(
            f"a DSO statement is readable by its DSO and the market operator only; {reader} "
            f"is neither {who} nor the operator",
            field="dso",
        )
    return who


def _xml(core: CoreDep, bundles: BundlesDep, statement: DsoStatement, at: int) -> str:
    """FlexSettlement of every order of the DSO's requests in the period."""
    orders = []
    for sid in statement.sessions:
        mine = set(own_requests(core.engine, sid, statement.dso).values())
        try:
            report = final_report(core.engine, bundles, sid)
        except NotFound:
            continue
        orders += [(o, report.rules.isp_s) for o in report.orders if o.request_id in mine]
    if not orders:
        raise NotFound(
            f"no order of {statement.dso} was settled in period {statement.period}: "
            "a FlexSettlement needs at least one",
            field="period",
        )
    message_id = str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"flexmarket:dso:{statement.dso}:{statement.period}")
    )
    message = orders_settlement_message(
        orders,
        sender_domain=MARKET_DSO_DOMAIN,
        recipient_domain=MARKET_FSP_DOMAIN,
        message_id=message_id,
        conversation_id=message_id,
        time_stamp=uftp_time_stamp(at),
    )
    return str(to_xml(message))


@router.get("/dso-statements/{period}", response_class=Response, responses=DSO_STATEMENT_RESPONSES)
def get_dso_statement(
    period: str,
    core: CoreDep,
    bundles: BundlesDep,
    reader: SignedInDep,
    request: Request,
    dso: str | None = None,
    fmt: Annotated[Literal["json", "csv", "xml"], Query(alias="format")] = "json",
) -> Response:
    """A DSO's statement of a session (its id) or a month (``YYYY-MM``, UTC, by delivery
    start): what it escrowed, paid each FSP, got refunded and is owed in penalties."""
    who = _whose(core, reader, dso)
    ledger: Ledger | None = getattr(request.app.state, "ledger", None)
    if ledger is None:
        raise ChainUnavailable("this service runs without a chain (no ledger)", field="rpc_url")
    month = month_bounds(period)
    if month is not None:
        if "DSO" not in core.roles.roles_of(who) and who == reader:
            raise Forbidden(
                f"month statements are the DSOs': {who} holds no DSO role", field="period"
            )
        sessions = dso_sessions(core.engine, who, *month)
        at = month[1]
    else:
        try:
            uuid.UUID(period)
        except ValueError as exc:
            raise InvalidMessage("must be a session id or a month YYYY-MM", field="period") from exc
        row = load_session(core, period)
        if not own_requests(core.engine, period, who):
            if who == reader:
                raise Forbidden(
                    f"the statement of session {period} is its DSOs': {who} posted no request "
                    "in it",
                    field="period",
                )
            raise NotFound(f"{who} posted no request in session {period}", field="dso")
        sessions, at = [period], row.delivery_end
    try:
        lines = [
            x
            for sid in sessions
            for x in session_lines(
                engine=core.engine, ledger=ledger, bundles=bundles, session_id=sid, dso=who
            )
        ]
    except ChainError as exc:
        raise ChainUnavailable(f"reading the chain failed: {exc}", field="rpc_url") from exc
    statement = dso_statement(who, period, sessions, lines)
    if fmt == "csv":
        return Response(dso_statement_csv(statement), media_type="text/csv")
    if fmt == "xml":
        return Response(_xml(core, bundles, statement, at), media_type="application/xml")
    return Response(dso_statement_json(statement), media_type="application/json")
