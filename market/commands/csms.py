"""``flexmarket csms``: serve a CSMS; ``csms passwd`` keeps station passwords; ``csms send``.

Registered in market/cli.py. ``flexmarket csms [options]`` without a subcommand runs the
server (security profile 1, 2 or 3); the subcommands work on its credentials file and,
through its admin socket, on a running CSMS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer

DEV_PASSWORD = "secret"  # --dev only, and only on loopback: what `sim stations` sends
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_ADMIN_SOCKET_HELP = "Unix socket (mode 0600) of the CSMS's admin endpoint for `csms send`."

app = typer.Typer(
    help="Run a CSMS (OCPP 2.1 / 2.0.1 / 1.6) until interrupted, or manage a running one.",
    invoke_without_command=True,
)


@app.callback()
def serve_csms(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(9000, help="TCP port (0 = any free port)."),
    credentials: Path = typer.Option(
        None,
        envvar="FLEXMARKET_CSMS_CREDENTIALS",
        help="Station passwords (JSON/YAML scrypt records, see `csms passwd`); required for "
        "profiles 1 and 2 unless --dev; with profile 3 it lists the stations admitted.",
    ),
    security_profile: int = typer.Option(
        1,
        min=1,
        max=3,
        help="1: HTTP Basic; 2: TLS server certificate + Basic; 3: mutual TLS, the client "
        "certificate's CN must be the station id.",
    ),
    tls_cert: Path = typer.Option(None, help="Server certificate chain, PEM (profiles 2, 3)."),
    tls_key: Path = typer.Option(None, help="Server private key, PEM (profiles 2, 3)."),
    tls_ca: Path = typer.Option(None, help="CA certificates that sign station certs (profile 3)."),
    stations: int = typer.Option(
        10, help="With --dev and no --credentials: accept stations CS00000 .. CS<n-1>."
    ),
    dev: bool = typer.Option(
        False,
        "--dev",
        help=f"Development: loopback only; without --credentials every CS<n> has password "
        f"{DEV_PASSWORD!r}.",
    ),
    admin_socket: Path = typer.Option(
        None, envvar="FLEXMARKET_CSMS_ADMIN_SOCKET", help=_ADMIN_SOCKET_HELP + " Off if unset."
    ),
    db: str = typer.Option("", help="SQLAlchemy URL for meter readings (default: in memory)."),
    meter_interval_s: int = typer.Option(60, help="Expected meter interval, for gap detection."),
    max_connections_per_ip: int = typer.Option(
        1024, min=1, help="Handshakes and open connections allowed from one address."
    ),
    status_every_s: float = typer.Option(
        60.0, help="Print the status (connections, failed logins) to stderr this often."
    ),
) -> None:
    """Run a CSMS (OCPP 2.1 / 2.0.1 / 1.6) until interrupted; prints its status at the end."""
    if ctx.invoked_subcommand is not None:
        return
    import logging

    from adapters.ocpp.admin import AdminServer
    from adapters.ocpp.bench import raise_open_files_limit
    from adapters.ocpp.credentials import StationCredentials
    from adapters.ocpp.csms import Csms
    from adapters.ocpp.sink import SqlReadingSink
    from adapters.ocpp.tls import server_context

    if dev and host not in _LOOPBACK:
        raise typer.BadParameter("--dev listens on loopback only", param_hint="--host")
    station_credentials: StationCredentials | dict[str, str] | None = None
    if credentials is not None:
        try:
            station_credentials = StationCredentials.load(credentials)
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--credentials") from exc
    elif dev:
        station_credentials = {f"CS{i:05d}": DEV_PASSWORD for i in range(stations)}
    elif security_profile < 3:
        raise typer.BadParameter(
            "no station credentials configured: pass --credentials FILE (write it with "
            "`flexmarket csms passwd`), or use --dev on loopback",
            param_hint="--credentials",
        )
    ssl_context = None
    if security_profile >= 2:
        if tls_cert is None or tls_key is None:
            raise typer.BadParameter(
                f"profile {security_profile} needs --tls-cert and --tls-key",
                param_hint="--tls-cert",
            )
        if security_profile == 3 and tls_ca is None:
            raise typer.BadParameter("profile 3 needs --tls-ca", param_hint="--tls-ca")
        try:
            ssl_context = server_context(security_profile, tls_cert, tls_key, tls_ca)
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--tls-cert") from exc
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    raise_open_files_limit()
    server: Csms | None = None

    async def main() -> None:
        nonlocal server
        sink = SqlReadingSink(db) if db else None
        server = Csms(
            credentials=station_credentials,
            sink=sink,
            host=host,
            port=port,
            meter_interval_s=meter_interval_s,
            max_connections_per_ip=max_connections_per_ip,
            ssl_context=ssl_context,
            security_profile=security_profile,
        )
        await server.start()
        admin = AdminServer(server, admin_socket) if admin_socket is not None else None
        if admin is not None:
            await admin.start()
        typer.echo(f"CSMS listening on {server.url}/<station_id>")
        try:
            while True:
                await asyncio.sleep(status_every_s)
                typer.echo(json.dumps({"csms_status": server.status()}), err=True)
        finally:
            if admin is not None:
                await admin.stop()
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    if server is not None:
        typer.echo(json.dumps({"csms_status": server.status()}))


@app.command("passwd")
def passwd(
    station: str = typer.Argument(..., help="Station id (as in the station's URL)."),
    credentials: Path = typer.Option(
        ...,
        envvar="FLEXMARKET_CSMS_CREDENTIALS",
        help="Credentials file to create or update (written 0600).",
    ),
) -> None:
    """Set a station's password: read from a prompt, or from stdin when it is not a terminal."""
    from adapters.ocpp.credentials import StationCredentials
    from adapters.ocpp.csms import STATION_ID

    if STATION_ID.fullmatch(station) is None:
        raise typer.BadParameter("1 to 36 of A-Z a-z 0-9 * - _ = + | @ .", param_hint="STATION")
    if sys.stdin.isatty():
        password = typer.prompt(
            f"Password for {station}", hide_input=True, confirmation_prompt=True
        )
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise typer.BadParameter("empty password", param_hint="stdin")
    try:
        store = StationCredentials.load(credentials) if credentials.exists() else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--credentials") from exc
    store = store or StationCredentials()
    store.set_password(station, password)
    store.save(credentials)
    typer.echo(f"{station}: password set in {credentials}", err=True)


@app.command("send")
def send(
    station: str = typer.Argument(..., help="Station id of a connected station."),
    action: str = typer.Argument(
        ...,
        help="RequestStartTransaction, RequestStopTransaction, SetChargingProfile, "
        "ClearChargingProfile, GetCompositeSchedule, TriggerMessage or Reset (1.6 also takes "
        "RemoteStartTransaction / RemoteStopTransaction).",
    ),
    payload: str = typer.Option(
        "{}", "--json", help="The request payload in OCPP wire form (camelCase JSON)."
    ),
    admin_socket: Path = typer.Option(
        ..., envvar="FLEXMARKET_CSMS_ADMIN_SOCKET", help=_ADMIN_SOCKET_HELP
    ),
    timeout_s: float = typer.Option(60.0, help="Seconds to wait for the station's answer."),
) -> None:
    """Send one request to a station through a running CSMS; print its answer as JSON."""
    from adapters.ocpp.admin import admin_request

    try:
        body = json.loads(payload)
    except ValueError as exc:
        _fail({"field": "--json", "reason": f"not JSON: {exc}"})
    request: dict[str, Any] = {"station": station, "action": action, "payload": body}
    try:
        answer = asyncio.run(admin_request(admin_socket, request, timeout_s))
    except (OSError, TimeoutError) as exc:
        _fail({"field": "--admin-socket", "reason": f"no CSMS answers at {admin_socket}: {exc}"})
    if not answer.get("ok"):
        _fail(answer.get("error", {"field": "answer", "reason": "malformed"}))
    typer.echo(json.dumps(answer["result"]))


def _fail(error: dict[str, Any]) -> NoReturn:
    """Print ``{"error": {"field", "reason"}}`` and exit 1."""
    typer.echo(json.dumps({"error": error}))
    typer.echo(f"error: {error.get('field')}: {error.get('reason')}", err=True)
    raise typer.Exit(1)
