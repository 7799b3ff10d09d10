"""The one place where errors become RFC 9457 ``application/problem+json`` responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from market.errors import FlexMarketError

PROBLEM_BASE = "https://flexmarket.dev/problems/"
MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)


def problem_type(slug: str) -> str:
    return PROBLEM_BASE + slug


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "field": field,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def _title(exc: FlexMarketError) -> str:
    return (type(exc).__doc__ or type(exc).__name__).strip().split("\n")[0]


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)] if loc and loc[0] == "body" else loc
    return ".".join(str(p) for p in parts) or "body"


def install(app: FastAPI) -> None:
    """Register the handlers that map every error to a problem response."""

    @app.exception_handler(FlexMarketError)
    async def _domain(request: Request, exc: FlexMarketError) -> JSONResponse:
        return problem(
            exc.status,
            exc.slug,
            _title(exc),
            str(exc),
            instance=request.url.path,
            field=exc.field,
        )

    @app.exception_handler(RequestValidationError)
    async def _schema(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _loc(e.get("loc", ())), "reason": e.get("msg", ""), "type": e.get("type")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "reason": "invalid"}
        return problem(
            422,
            "validation-error",
            "The request does not match the schema",
            f"{first['field']}: {first['reason']}",
            instance=request.url.path,
            field=first["field"],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(
            exc.status_code, slug, str(exc.detail), str(exc.detail), instance=request.url.path
        )

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        """A value the database refuses (e.g. NUL in PostgreSQL text) is the client's input."""
        log.warning("database refused a value on %s: %s", request.url.path, exc.orig)
        return problem(
            422,
            "unstorable-value",
            "A value cannot be stored",
            f"the database refused a value: {type(exc.orig).__name__}",
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem(
            500, "internal-error", "Internal error", type(exc).__name__, instance=request.url.path
        )
