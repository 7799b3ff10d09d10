"""The CSMS admin endpoint: a unix socket, mode 0600, for ``flexmarket csms send``.

Why a unix socket: only the operator's account (and root) can open it, which the file
system enforces; no port, no token to leak, nothing reachable from the network. Protocol:
one JSON object per line each way. Request ``{"station", "action", "payload"}``; answer
``{"ok": true, "result": {...}}`` with the station's answer in wire form, or ``{"ok": false,
"error": {"field", "reason"}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any

from ocpp.exceptions import OCPPError

from adapters.ocpp.operations import OperationError, build_call, result_json
from adapters.ocpp.session import StationNotConnected

LOG = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 1 << 20


class AdminServer:
    """Serves operator calls for ``csms`` (a :class:`~adapters.ocpp.csms.Csms`) on ``path``."""

    def __init__(self, csms: Any, path: Path) -> None:
        self.csms = csms
        self.path = path
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        _remove_stale_socket(self.path)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others can open it
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_REQUEST_BYTES
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            answer = await self.handle(line)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ValueError, ConnectionError) as exc:  # over the size limit, or gone
            LOG.warning("admin request dropped: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def handle(self, line: bytes) -> dict[str, Any]:
        """One request line → one answer; every failure names its field and reason."""
        try:
            request = json.loads(line)
        except ValueError as exc:
            return _error("request", f"not JSON: {exc}")
        if not isinstance(request, dict):
            return _error("request", "must be a JSON object")
        station = request.get("station")
        action = request.get("action")
        if not isinstance(station, str) or not station:
            return _error("station", "missing")
        if not isinstance(action, str) or not action:
            return _error("action", "missing")
        protocol = self.csms.protocol_of(station)
        if protocol is None or not self.csms.connected(station):
            return _error("station", f"{station!r} is not connected")
        try:
            call = build_call(protocol, action, request.get("payload", {}))
            result = await self.csms.call(station, call)
        except OperationError as exc:
            return {"ok": False, "error": exc.as_json()}
        except StationNotConnected:
            return _error("station", f"{station!r} is not connected")
        except OCPPError as exc:
            return {
                "ok": False,
                "error": {
                    "field": "station",
                    "reason": f"CallError {exc.code}: {exc.description}",
                    "code": exc.code,
                    "details": exc.details,
                },
            }
        except TimeoutError:
            return _error("station", f"no answer within {self.csms.call_timeout_s} s")
        LOG.warning("admin: %s sent to %s", type(call).__name__, station)
        return {"ok": True, "station": station, "protocol": protocol, "action": type(call).__name__,
                "result": result_json(result)}  # fmt: skip


def _error(field: str, reason: str) -> dict[str, Any]:
    return {"ok": False, "error": {"field": field, "reason": reason}}


def _remove_stale_socket(path: Path) -> None:
    """Remove a socket left by a CSMS that died; refuse if one is still listening."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"admin_socket: {path} exists and is not a socket")
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            path.unlink()
            return
    raise FileExistsError(f"admin_socket: another CSMS is listening on {path}")


async def admin_request(path: Path, request: dict[str, Any], timeout_s: float = 60.0) -> Any:
    """Send one request to a running CSMS's admin socket; return its answer."""
    reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_REQUEST_BYTES)
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout_s)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return json.loads(line)
