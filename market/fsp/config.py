"""The FSP gateway's ``fsp.yaml``: strict, every problem named by its path.

Why strict: the gateway bids, dispatches chargers and withdraws money unattended; a typo in
a station, a power limit or a lead time must stop it before the first commitment rather than
be coerced or ignored. Secrets are never in the file: ``key_env`` and each station's
``password_env`` name environment variables; a plain ``password`` is accepted only with
``dev: true`` (local test stations).
"""

from __future__ import annotations

import re
import ssl
import uuid
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.ocpp.tls import server_context
from clearing.messages import Code
from market.agents.stays import AnnouncedStay
from market.clearing_house.period import SignedContract, SignedTemplate
from market.config_file import ConfigError, read_yaml, validate_config

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


#: An EV user id: it names the user's statements folder, so never "", ".", ".." or a path.
EV_USER_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


class FspConfigError(ConfigError):
    """A problem in ``fsp.yaml``: ``field`` (dotted path) and ``reason``."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class EvseConfig(_Strict):
    """One EVSE of a station: where it sits in the grid and what it can do (register_asset)."""

    evse_id: int = Field(ge=0, le=1000)
    congestion_point: Code
    max_import_w: int = Field(ge=0, le=10_000_000)
    max_export_w: int = Field(default=0, ge=0, le=10_000_000)
    asset_id: str | None = None  # default: derived from station and EVSE (stable across runs)


class StationConfig(_Strict):
    """One charging station the gateway's CSMS admits (OCPP security profile 1 credentials)."""

    password_env: str | None = Field(default=None, pattern=_ENV_NAME)
    password: str | None = Field(default=None, min_length=8)
    meter_public_key: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]+$")
    # names the variable holding the key of the station's CPO (the account that registered its
    # meter key on-chain): with it the CSMS signs the station's readings digests for the CPO
    cpo_key_env: str | None = Field(default=None, pattern=_ENV_NAME)
    evses: list[EvseConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_secret(self) -> StationConfig:
        if (self.password_env is None) == (self.password is None):
            raise ValueError("password_env: give exactly one of password_env and password")
        ids = [e.evse_id for e in self.evses]
        for i, evse_id in enumerate(ids):
            if evse_id in ids[:i]:
                raise ValueError(f"evses[{i}].evse_id: {evse_id} is repeated")
        return self


class CsmsConfig(_Strict):
    """The embedded CSMS: where stations connect, and who they are.

    ``security_profile``: 1 plain ``ws://`` with HTTP Basic passwords (dev and closed
    networks); 2 ``wss://`` with ``tls_cert``/``tls_key`` (PEM files, relative to the config
    file's folder) and passwords; 3 mutual TLS, station certificates signed by ``tls_ca``
    whose CN must be the station id (:mod:`adapters.ocpp.tls`)."""

    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=9000, ge=0, le=65535)
    meter_interval_s: int = Field(default=60, gt=0, le=3600)
    stations: dict[str, StationConfig] = Field(min_length=1)
    security_profile: Literal[1, 2, 3] = 1
    tls_cert: str | None = Field(default=None, min_length=1)
    tls_key: str | None = Field(default=None, min_length=1)
    tls_ca: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _ids(self) -> CsmsConfig:
        tls = {"tls_cert": self.tls_cert, "tls_key": self.tls_key, "tls_ca": self.tls_ca}
        if self.security_profile == 1:
            for name, value in tls.items():
                if value is not None:
                    raise ValueError(f"{name}: TLS files need security_profile 2 or 3")
        else:
            for name in ("tls_cert", "tls_key"):
                if tls[name] is None:
                    raise ValueError(f"{name}: security_profile {self.security_profile} needs it")
            if self.security_profile == 3 and self.tls_ca is None:
                raise ValueError("tls_ca: security_profile 3 needs the CA of station certificates")
            if self.security_profile == 2 and self.tls_ca is not None:
                raise ValueError("tls_ca: client certificates are profile 3; set it to 3")
        for sid in self.stations:
            if not re.fullmatch(r"[A-Za-z0-9*\-_=+|@.]{1,36}", sid):
                raise ValueError(f"stations.{sid}: not an OCPP station id (1-36 characters)")
        return self


class EvApiConfig(_Strict):
    """The EV users' preferences API (and the gateway's ``GET /status``)."""

    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=9100, ge=0, le=65535)
    # names the environment variable holding the fleet desk's operator token (no default:
    # without it /desk/state answers 404)
    desk_token_env: str | None = Field(default=None, pattern=_ENV_NAME)


class EvUserConfig(_Strict):
    """An EV user of the FSP and the EVSE they charge at (their revenue share is the
    flexibility that EVSE delivered, :mod:`market.fsp.shares`)."""

    station: str = Field(min_length=1)
    evse_id: int = Field(ge=0, le=1000)


class OffersConfig(_Strict):
    """When to bid: once gate closure minus now is at most ``lead_s``."""

    lead_s: int = Field(default=600, gt=0)


class NettingConfig(_Strict):
    """Revenue sharing through the market's clearing house (issue 19): the contracts the
    gateway posts (each signed by all its parties beforehand) and whose EV each user drives
    (EV id -> the user's pseudonymous address, the contracts' ``ev_user``). With it the gateway
    posts each session's user contributions, names the netting's payees on-chain, and
    withdraws only once the market netted the session. ``templates``: revenue-share templates
    the CPO and the platform signed for this FSP; with one, a user without a wallet gets a
    claim whose contract the gateway makes from it (:mod:`market.fsp.claim_contract`)."""

    contracts: list[SignedContract] = []
    templates: list[SignedTemplate] = []
    ev_users: dict[str, Annotated[str, Field(pattern=r"^0x[0-9a-f]{40}$")]] = {}


class DeploymentConfig(_Strict):
    """The market deployment the CPO signs readings digests for, from the CPO's own records:
    the market's ``GET /deployment`` must name the same, or nothing is signed."""

    chain_id: int = Field(ge=1)
    market_address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")


class FspGatewayConfig(_Strict):
    """The whole ``fsp.yaml``."""

    market_url: str = Field(pattern=r"^https?://")
    key_env: str = Field(pattern=_ENV_NAME)
    rpc_url: str | None = Field(default=None, pattern=r"^(https?|wss?)://")
    database: str | None = Field(default=None, min_length=1)
    dev: bool = False
    clock: Literal["system", "chain"] = "system"
    csms: CsmsConfig
    ev_api: EvApiConfig = EvApiConfig()
    ev_users: dict[str, EvUserConfig] = {}
    #: stays the EV users announced (bookings in their app): planned before they plug in
    ev_stays: list[AnnouncedStay] = []
    offers: OffersConfig = OffersConfig()
    poll_s: int = Field(default=5, gt=0, le=3600)
    #: a newly stored reading starts the next pass (its relay) this long after it, so the
    #: rest of its meter interval's burst goes along, instead of up to ``poll_s`` later
    relay_delay_s: float = Field(default=0.2, ge=0, le=60)
    statements_dir: str | None = Field(default=None, min_length=1)
    netting: NettingConfig | None = None
    #: when the market nets, how long after a session went FINAL the gateway waits for its
    #: netting before it withdraws anyway (logged): a stuck netting never locks the credit up
    netting_wait_s: int = Field(default=86_400, ge=0, le=30 * 86_400)
    #: required when a station names ``cpo_key_env``: where the CPO's digests may count
    deployment: DeploymentConfig | None = None

    @model_validator(mode="after")
    def _cross(self) -> FspGatewayConfig:
        signing = sorted(sid for sid, st in self.csms.stations.items() if st.cpo_key_env)
        if signing and self.deployment is None:
            raise ValueError(
                f"deployment: required (chain_id, market_address) since station {signing[0]} "
                "names cpo_key_env: the CPO signs digests only for the deployment it knows"
            )
        for uid in self.ev_users:
            if not EV_USER_ID.fullmatch(uid):
                raise ValueError(
                    f"ev_users: {uid!r} is not an EV user id: 1-64 letters, digits, '_', '.' "
                    "or '-', not starting with '.' or '-' (it names the user's statements folder)"
                )
        for sid, st in self.csms.stations.items():
            if st.password is not None and not self.dev:
                raise ValueError(
                    f"csms.stations.{sid}.password: a password in the file is for dev only "
                    "(set dev: true) — use password_env"
                )
        for uid, user in self.ev_users.items():
            station = self.csms.stations.get(user.station)
            if station is None:
                raise ValueError(
                    f"ev_users.{uid}.station: {user.station!r} is not in csms.stations"
                )
            if user.evse_id not in {e.evse_id for e in station.evses}:
                raise ValueError(
                    f"ev_users.{uid}.evse_id: station {user.station} has no EVSE {user.evse_id}"
                )
        for i, stay in enumerate(self.ev_stays):
            station = self.csms.stations.get(stay.station)
            if station is None or stay.evse_id not in {e.evse_id for e in station.evses}:
                raise ValueError(
                    f"ev_stays[{i}].evse_id: {stay.station}/{stay.evse_id} is not a configured EVSE"
                )
        return self

    def database_url(self, config_path: Path) -> str:
        """The gateway's own database: ``database``, else a SQLite file next to the config."""
        if self.database is not None:
            return self.database
        return f"sqlite:///{config_path.resolve().parent / (config_path.stem + '.fsp.db')}"

    def statements_path(self, config_path: Path) -> Path | None:
        """Where statements are also written as JSON files: ``statements_dir`` (relative to
        the config file's folder), or None (kept in the database only)."""
        if self.statements_dir is None:
            return None
        return config_path.resolve().parent / self.statements_dir

    def csms_ssl_context(self, config_path: Path) -> ssl.SSLContext | None:
        """The CSMS's TLS context for security profiles 2 and 3 (None for profile 1); files
        relative to the config file's folder. A file that cannot be loaded is named."""
        csms = self.csms
        if csms.security_profile == 1 or csms.tls_cert is None or csms.tls_key is None:
            return None
        folder = config_path.resolve().parent
        files = {"tls_cert": csms.tls_cert, "tls_key": csms.tls_key, "tls_ca": csms.tls_ca}
        for name, value in files.items():
            if value is not None and not (folder / value).is_file():
                raise FspConfigError(f"csms.{name}", f"no such file: {folder / value}")
        try:
            return server_context(
                csms.security_profile,
                folder / csms.tls_cert,
                folder / csms.tls_key,
                folder / csms.tls_ca if csms.tls_ca is not None else None,
            )
        except (ssl.SSLError, ValueError) as exc:
            field = "csms.tls_ca" if "verify" in str(exc).lower() else "csms.tls_cert"
            raise FspConfigError(field, f"cannot load the TLS files: {exc}") from exc

    def asset_id(self, station_id: str, evse: EvseConfig) -> str:
        """The market asset id of an EVSE: configured, or derived (the same every restart)."""
        if evse.asset_id is not None:
            return evse.asset_id
        name = f"flexmarket:fsp-asset:{self.key_env}:{station_id}:{evse.evse_id}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def parse_config(data: object) -> FspGatewayConfig:
    """Validate a parsed YAML document; the first problem as :class:`FspConfigError`."""
    return validate_config(FspGatewayConfig, data, FspConfigError)


def load_config(path: str | Path) -> FspGatewayConfig:
    """Read and validate ``fsp.yaml``."""
    p = Path(path)
    data = read_yaml(p, FspConfigError)
    return parse_config(data)
