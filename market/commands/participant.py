"""The ``flexmarket participant`` group: a DSO's or FSP's market day from the shell.

Parsing only: every step is ``market.participant``. The key is read from the environment
variable that ``--key-env`` names (never from argv, where ``ps`` would show it); answers are
JSON on stdout; a refusal is ``{"error": {"field", "reason"}}`` on stdout, one line on stderr
and exit code 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, TypeAdapter, ValidationError

from clearing.messages import DPrognosis, FlexOffer, FlexRequest
from market.participant.errors import ParticipantError

if TYPE_CHECKING:  # loaded when a command runs: the API's models need the store's
    from market.participant.participant import Participant

app = typer.Typer(
    help="Act as a market participant (DSO or FSP): sign in, fund, request, nominate, offer, "
    "commit, follow orders, post readings, dispute, withdraw, read statements.",
    no_args_is_help=True,
)

DEFAULT_KEY_ENV = "FLEXMARKET_PARTICIPANT_KEY"
T = TypeVar("T", bound=BaseModel)

ApiOpt = typer.Option(
    None, "--api", envvar="FLEXMARKET_API_URL", help="Market API base URL (FLEXMARKET_API_URL)."
)
KeyEnvOpt = typer.Option(
    DEFAULT_KEY_ENV,
    "--key-env",
    help="Name of the environment variable that holds the participant's private key.",
)
RpcOpt = typer.Option(
    None,
    "--rpc",
    envvar="FLEXMARKET_RPC_URL",
    help="Chain JSON-RPC URL (FLEXMARKET_RPC_URL): needed for transactions; when given, "
    "messages are signed with the chain's time (the market's clock).",
)
SessionOpt = typer.Option(..., "--session", help="Session UUID.")


def _fail(err: ParticipantError) -> NoReturn:
    """Print ``{"error": {"field", "reason"}}`` and one stderr line; exit 1."""
    typer.echo(json.dumps({"error": err.as_json()}))
    typer.echo(f"error: {err.field}: {err.reason}", err=True)
    raise typer.Exit(1)


def _out(value: Any) -> None:
    typer.echo(json.dumps(value, indent=1, sort_keys=True, default=str))


def _key(key_env: str) -> str:
    key = os.environ.get(key_env, "").strip()
    if not key:
        raise ParticipantError("--key-env", f"environment variable {key_env} is not set")
    return key


def _participant(api: str | None, key_env: str, rpc: str | None = None) -> Participant:
    if not api:
        raise ParticipantError("--api", "give the market API URL (or set FLEXMARKET_API_URL)")
    from market.participant.connect import connect

    return connect(api.rstrip("/"), _key(key_env), rpc_url=rpc)


def _on_chain(api: str | None, key_env: str, rpc: str | None) -> Participant:
    if not rpc:
        raise ParticipantError("--rpc", "this step is a transaction: give the chain's RPC URL")
    return _participant(api, key_env, rpc)


def _run(step: Callable[[], Any]) -> None:
    """Run one command body; participant errors become the one-line refusal."""
    try:
        _out(step())
    except ParticipantError as exc:
        _fail(exc)


def _read_json(path: Path, option: str) -> Any:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise ParticipantError(option, f"cannot read {path}: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParticipantError(option, f"{path} is not JSON: {exc}") from exc


def _models(path: Path, model: type[T], option: str, name: str) -> list[T]:
    """A JSON object or array of objects from ``path``, validated as ``model``."""
    raw = _read_json(path, option)
    items = raw if isinstance(raw, list) else [raw]
    try:
        return TypeAdapter(list[model]).validate_python(items)  # type: ignore[valid-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        where = f"{name}[{loc[0]}]" + "".join(f".{p}" for p in loc[1:])
        raise ParticipantError(where, f"{first['msg']} (in {path})") from exc


def _dump(models: list[Any]) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json") for m in models]


FileOpt = typer.Option(..., "--file", help="JSON file (an object or an array), or - for stdin.")


@app.command("login")
def login(api: str | None = ApiOpt, key_env: str = KeyEnvOpt, rpc: str | None = RpcOpt) -> None:
    """Sign in with Ethereum (SIWE); prints the address and the bearer token."""
    _run(lambda: {"address": (p := _participant(api, key_env, rpc)).address, "token": p.login()})


@app.command("register")
def register(
    name: str = typer.Option(..., "--name", help="Display name in the market's registry."),
    eic: str | None = typer.Option(None, "--eic", help="EIC code (optional)."),
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """Publish this participant's name (its on-chain role is granted by the operator)."""
    _run(lambda: _participant(api, key_env, rpc).describe(name, eic=eic))


@app.command("register-asset")
def register_asset(
    asset_id: str = typer.Option(..., "--asset-id", help="Asset UUID (chosen by the FSP)."),
    station: str = typer.Option(..., "--station", help="OCPP station id."),
    evse: int = typer.Option(1, "--evse", help="EVSE id at the station."),
    congestion_point: str = typer.Option(..., "--congestion-point", help="Congestion point."),
    max_import_w: int = typer.Option(..., "--max-import-w", help="Charging limit, W."),
    max_export_w: int = typer.Option(0, "--max-export-w", help="Discharging limit, W."),
    meter_key: str | None = typer.Option(
        None,
        "--meter-key",
        help="Station meter's signing address; if given, it must be the one the station's CPO "
        "registered on-chain (default: the CPO's).",
    ),
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """Register one EVSE in this FSP's portfolio (its CPO must have granted you the station)."""

    def step() -> dict[str, Any]:
        from market.api.schemas import AssetCreate

        try:
            asset = AssetCreate(
                asset_id=asset_id,
                congestion_point=congestion_point,
                station_id=station,
                evse_id=evse,
                max_import_w=max_import_w,
                max_export_w=max_export_w,
                meter_public_key=meter_key,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ParticipantError(".".join(map(str, first["loc"])), first["msg"]) from exc
        return _participant(api, key_env, rpc).register_asset(asset)

    _run(step)


@app.command("register-station")
def register_station(
    station: str = typer.Option(..., "--station", help="OCPP station id."),
    meter_key: str = typer.Option(
        ..., "--meter-key", help="The station meter's signing address (or public key)."
    ),
    grant_to: str | None = typer.Option(
        None, "--grant-to", help="Grant the station to this FSP address (your contract)."
    ),
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """As the station's CPO (CPO_ROLE): register its meter key on-chain, once, and grant it."""

    def step() -> dict[str, Any]:
        from eth_utils.address import is_address, to_checksum_address

        from clearing.trust import station_address

        try:
            meter = station_address(meter_key)
        except ValueError as exc:
            raise ParticipantError("--meter-key", str(exc)) from exc
        if grant_to is not None and not is_address(grant_to):
            raise ParticipantError("--grant-to", f"not an address: {grant_to!r}")
        account = _on_chain(api, key_env, rpc).chain
        registered = account.register_station(station, to_checksum_address(meter))
        if grant_to is not None:
            account.grant_station(station, to_checksum_address(grant_to))
        return {
            "station_id": station,
            "meter_key": meter,
            "registered": registered,
            "granted_to": grant_to.lower() if grant_to else None,
        }

    _run(step)


@app.command("assets")
def assets(api: str | None = ApiOpt, key_env: str = KeyEnvOpt, rpc: str | None = RpcOpt) -> None:
    """This FSP's registered assets."""
    _run(lambda: _participant(api, key_env, rpc).assets())


@app.command("sessions")
def sessions(
    state: str | None = typer.Option(None, "--state", help="Only sessions in this state."),
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """The market's sessions (gate closure, delivery window, state)."""
    _run(lambda: _participant(api, key_env, rpc).sessions(state))


@app.command("fund")
def fund(
    amount_units: int = typer.Option(
        ..., "--amount-units", help="Token minor units the market may take for escrow."
    ),
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """Approve the market to escrow up to AMOUNT of this account's settlement token."""

    def step() -> dict[str, Any]:
        p = _on_chain(api, key_env, rpc)
        p.chain.approve(amount_units)
        return {
            "address": p.address,
            "allowance_units": p.chain.allowance_units(),
            "balance_units": p.chain.balance_units(),
        }

    _run(step)


@app.command("request")
def request(
    file: Path = FileOpt,
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """DSO: escrow each FlexRequest of FILE on-chain, then publish it signed."""

    def step() -> list[dict[str, Any]]:
        requests = _models(file, FlexRequest, "--file", "requests")
        p = _on_chain(api, key_env, rpc)
        return [p.post_request(r) for r in requests]

    _run(step)


@app.command("prognosis")
def prognosis(
    file: Path = FileOpt,
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """FSP: nominate the baselines (DPrognosis) of FILE; delivery is measured against them."""

    def step() -> list[dict[str, Any]]:
        rows = _models(file, DPrognosis, "--file", "prognoses")
        p = _participant(api, key_env, rpc)
        return [p.post_prognosis(r) for r in rows]

    _run(step)


@app.command("offer")
def offer(
    file: Path = FileOpt,
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """FSP: sign and submit the FlexOffers of FILE (one session; `commit` the same FILE)."""

    def step() -> list[dict[str, Any]]:
        offers = _models(file, FlexOffer, "--file", "offers")
        return _participant(api, key_env, rpc).post_offers(offers)

    _run(step)


@app.command("commit")
def commit(
    file: Path = FileOpt,
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """FSP: commit the Merkle root of FILE's offers on-chain, before gate closure."""

    def step() -> dict[str, Any]:
        offers = _models(file, FlexOffer, "--file", "offers")
        p = _on_chain(api, key_env, rpc)
        return {
            "session_id": offers[0].session_id,
            "offers": len(offers),
            "root": p.commit_offers(offers),
        }

    _run(step)


@app.command("orders")
def orders(
    session: str = SessionOpt,
    wait: bool = typer.Option(False, "--wait", help="Wait until the session is cleared."),
    timeout_s: float = typer.Option(600.0, "--timeout-s", help="How long --wait waits."),
    poll_s: float = typer.Option(1.0, "--poll-s", help="Poll interval of --wait."),
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """FSP: this FSP's orders of a session (with --wait: once it is cleared)."""

    def step() -> list[dict[str, Any]]:
        p = _participant(api, key_env, rpc)
        got = (
            p.follow_orders(session, poll_s=poll_s, timeout_s=timeout_s)
            if wait
            else p.orders(session)
        )
        return _dump(got)

    _run(step)


@app.command("readings")
def readings(
    file: Path = FileOpt,
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """Relay the station-signed meter readings of FILE."""

    def step() -> dict[str, Any]:
        from market.api.schemas import MeterReadingCreate

        rows = _models(file, MeterReadingCreate, "--file", "readings")
        return {"posted": len(_participant(api, key_env, rpc).post_readings(rows))}

    _run(step)


@app.command("dispute")
def dispute(
    session: str = SessionOpt,
    reason: str = typer.Option(..., "--reason", help="Why (its hash goes on-chain)."),
    evidence: Path | None = typer.Option(
        None, "--evidence", help="JSON file of own station-signed readings."
    ),
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """Dispute a VERIFIED session inside its challenge window, with optional evidence."""

    def step() -> dict[str, Any]:
        from market.api.schemas import MeterReadingCreate

        rows = _models(evidence, MeterReadingCreate, "--evidence", "evidence") if evidence else []
        return _on_chain(api, key_env, rpc).dispute(session, reason, rows)

    _run(step)


@app.command("withdraw")
def withdraw(api: str | None = ApiOpt, key_env: str = KeyEnvOpt, rpc: str | None = RpcOpt) -> None:
    """Withdraw every credit of this account (token minor units)."""

    def step() -> dict[str, Any]:
        p = _on_chain(api, key_env, rpc)
        return {"address": p.address, "withdrawn_units": p.withdraw()}

    _run(step)


@app.command("statements")
def statements(
    session: str = SessionOpt,
    fmt: str = typer.Option(
        "json", "--format", help="json (settlements and netting), or csv / xml (netting only)."
    ),
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """This participant's settlements of a session and, once netted, its statement."""
    if fmt not in ("json", "csv", "xml"):
        _fail(ParticipantError("--format", f"{fmt!r} is not json, csv or xml"))
    if fmt == "json":
        _run(lambda: _participant(api, key_env, rpc).statements(session))
        return
    try:
        typer.echo(_participant(api, key_env, rpc).statement(session, fmt=fmt), nl=False)
    except ParticipantError as exc:
        _fail(exc)


@app.command("dso-statement")
def dso_statement(
    period: str = typer.Option(..., "--period", help="A session id, or a month YYYY-MM (UTC)."),
    fmt: str = typer.Option("json", "--format", help="json, csv or xml (UFTP FlexSettlement)."),
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
    rpc: str | None = RpcOpt,
) -> None:
    """A DSO's statement: escrowed, paid to FSPs, refunded, penalties, each with its tx."""
    if fmt not in ("json", "csv", "xml"):
        _fail(ParticipantError("--format", f"{fmt!r} is not json, csv or xml"))
    try:
        found = _participant(api, key_env, rpc).dso_statement(period, fmt=fmt)
    except ParticipantError as exc:
        _fail(exc)
    if fmt == "json":
        _out(found)
    else:
        typer.echo(found, nl=False)


@app.command("uftp-key")
def uftp_key(
    domain: str = typer.Option(..., "--domain", help="Your UFTP sender domain."),
    role: str = typer.Option(..., "--role", help="The UFTP role you act in: AGR or DSO."),
    public_key: str = typer.Option(
        ..., "--public-key", help="Your UFTP Ed25519 public signing key (base64)."
    ),
    api: str | None = ApiOpt,
    key_env: str = KeyEnvOpt,
) -> None:
    """Bind your UFTP key to this market address: prints the signed binding (the peer entry
    of the market's uftp.yaml; the operator adds your endpoint and key variable)."""

    def step() -> dict[str, str]:
        import re

        from market.uftp.binding import ROLES, check_public_key, sign_binding

        if role not in ROLES:
            raise ParticipantError("--role", f"{role!r} is not {' or '.join(ROLES)}")
        if not re.fullmatch(r"([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}", domain):
            raise ParticipantError("--domain", f"{domain!r} is not a lowercase domain name")
        try:
            check_public_key(public_key)
        except ValueError as exc:
            raise ParticipantError("--public-key", str(exc)) from exc
        info = _participant(api, key_env).client.market_info()
        return sign_binding(
            _key(key_env),
            chain_id=int(info["chain_id"]),
            market=str(info["market_address"]),
            domain=domain,
            role=role,
            public_key=public_key,
        )

    _run(step)
