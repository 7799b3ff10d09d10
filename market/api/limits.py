"""Request limits: a body cap and a JSON depth cap (ASGI), a header cap and timeout (HTTP).

Why: one request must never take the service down. Bodies are refused with 413 from
``Content-Length`` or while streaming, before more than the cap is held in memory; JSON
deeper than the cap never reaches the C parser; request heads (request line + headers) that
grow past their cap or arrive too slowly are cut off in the HTTP protocol itself, because
``httptools`` has no such limit of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from clearing.json_limits import JsonLimitError, check_json
from market.api.problems import MEDIA_TYPE, problem
from market.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Bodies of these media types are never handed to a JSON parser, so depth is not checked.
_NOT_JSON = (b"multipart/form-data", b"application/x-www-form-urlencoded")


class RequestLimits:
    """ASGI middleware: cap the body size (413) and the JSON depth (400) of every request."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send, f"Content-Length {int(declared)}")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, receive, send, f"more than {size} bytes streamed")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and not headers.get(b"content-type", b"").startswith(_NOT_JSON):
            try:
                check_json(body, max_depth=self.max_json_depth, max_bytes=self.max_body_bytes)
            except JsonLimitError as exc:
                await _refuse(scope, receive, send, 400, "json-too-deep", "JSON too deep", exc)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, seen: str) -> None:
        detail = f"body: {seen}, the limit is {self.max_body_bytes} bytes"
        await _refuse(scope, receive, send, 413, "body-too-large", "Request body too large", detail)


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, slug: str, title: str, detail: Any
) -> None:
    response = problem(status, slug, title, str(detail), instance=scope.get("path"), field="body")
    response.headers["Connection"] = "close"  # the unread rest of the body is not wanted
    await response(scope, receive, send)


@functools.cache
def _head_limits() -> tuple[int, float]:
    settings = Settings()
    return settings.max_request_head_bytes, settings.request_head_timeout_s


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's ``httptools`` protocol with a cap on the request head and a head timeout.

    A head larger than ``FLEXMARKET_MAX_REQUEST_HEAD_BYTES`` gets 431; a head not complete
    within ``FLEXMARKET_REQUEST_HEAD_TIMEOUT_S`` of the connection or of its first byte
    (slowloris) closes the connection.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True
        self._head_timer: Any = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(_head_limits()[1], self._head_timed_out)

    def _head_timed_out(self) -> None:
        if self._in_head and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        was_in_head = self._in_head
        super().data_received(data)
        if was_in_head and self._in_head:
            self._head_bytes += len(data)
            limit = _head_limits()[0]
            if self._head_bytes > limit and not self.transport.is_closing():
                self._send_431(limit)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # the next request's head; idle time is the keep-alive timeout's
        self._head_bytes = 0

    def _send_431(self, limit: int) -> None:
        body = (
            '{"type":"https://flexmarket.dev/problems/headers-too-large",'
            '"title":"Request header fields too large","status":431,'
            f'"detail":"request line and headers exceed {limit} bytes","field":"headers"}}'
        ).encode()
        head = (
            "HTTP/1.1 431 Request Header Fields Too Large\r\n"
            f"content-type: {MEDIA_TYPE}\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        ).encode()
        self.transport.write(head + body)
        self.transport.close()
