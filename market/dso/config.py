"""The DSO gateway's ``dso.yaml``: strict, every problem named by its path.

Why strict: a gateway posts money on a schedule, unattended; a typo in a limit or a price
must stop it before the first escrow rather than be coerced or ignored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from market.agents.intraday import DEFAULT_GATE_BEFORE_DELIVERY_S
from market.config_file import ConfigError, read_yaml, validate_config


class DsoConfigError(ConfigError):
    """A problem in ``dso.yaml``: ``field`` (dotted path) and ``reason``."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class GridSpec(_Strict):
    """The DSO's own network: a SimBench code, ``cigre-lv`` or a pandapower JSON path, and
    the profile scaling the replay's scenario format uses."""

    source: str = Field(min_length=1)
    profile_date: dt.date | None = None
    load_scale_ppm: int = Field(default=1_000_000, ge=0)
    pv_scale_ppm: int = Field(default=1_000_000, ge=0)
    flex_buses: list[str] = []  # bus names where the DSO expects flexibility

    @model_validator(mode="before")
    @classmethod
    def _date_from_text(cls, data: object) -> object:
        # YAML gives a date object already; a quoted string is parsed here (strict mode
        # refuses str -> date otherwise)
        if isinstance(data, dict) and isinstance(data.get("profile_date"), str):
            with contextlib.suppress(ValueError):  # else left to the field's own error
                data = {**data, "profile_date": dt.date.fromisoformat(data["profile_date"])}
        return data


class PointSpec(_Strict):
    """One congestion point: the market's code and the grid element it watches."""

    code: str = Field(min_length=1, max_length=32)
    element: Literal["transformer", "feeder"]
    index: int = Field(ge=0)  # trafo index, or a line index inside the feeder
    limit_pct: int = Field(default=100, gt=0, le=1000)


class BudgetPolicy(_Strict):
    """What the DSO pays at most: the price of its alternative, and a cap per session."""

    max_price_per_mwh: int = Field(gt=0)
    headroom_pct: int = Field(default=25, ge=0, le=1000)
    max_budget_units_per_session: int = Field(gt=0)
    all_or_nothing: bool = False


class IntradayOpen(_Strict):
    """The rolling schedule of intraday sessions this DSO asks the market to open.

    Every ``every_s`` (aligned to multiples of it) a session of ``delivery_s``, its gate
    closing ``schedule.intraday_gate_before_delivery_s`` before delivery; opened once its
    delivery starts within ``horizon_s`` of now. The operator bounds what a DSO may open
    (``FLEXMARKET_DSO_SESSIONS*``); a refusal is logged and the pass goes on.
    """

    every_s: int = Field(default=3600, ge=60)
    delivery_s: int = Field(default=3600, ge=60)
    isp_s: int = Field(default=900, ge=60, le=3600)
    horizon_s: int = Field(default=7200, gt=0)
    min_gate_ahead_s: int = Field(default=60, ge=0)
    challenge_window_s: int = Field(default=3600, ge=0)

    @model_validator(mode="after")
    def _whole_isps(self) -> IntradayOpen:
        if self.delivery_s % self.isp_s:
            raise ValueError(f"delivery_s: {self.delivery_s} is not a whole number of isp_s")
        return self


class Schedule(_Strict):
    """Which open sessions the gateway requests flexibility in.

    A session is intraday when its gate closes at most ``intraday_gate_before_delivery_s``
    before delivery (the intraday windows' rule), else day-ahead.
    """

    day_ahead: bool = True
    intraday: bool = False
    intraday_gate_before_delivery_s: int = Field(default=DEFAULT_GATE_BEFORE_DELIVERY_S, ge=0)
    poll_s: int = Field(default=30, gt=0)
    intraday_open: IntradayOpen | None = None  # None: the operator opens every session
    # request once gate closure is at most this far (None: as soon as the session is open),
    # so the FSPs' prognoses are in the forecast
    request_lead_s: int | None = Field(default=None, gt=0)
    use_prognoses: bool = True  # add the FSPs' published prognoses to the grid's load

    @model_validator(mode="after")
    def _something(self) -> Schedule:
        if not (self.day_ahead or self.intraday):
            raise ValueError("enable day_ahead or intraday (or both)")
        spec = self.intraday_open
        if spec is not None and not self.intraday:
            raise ValueError("intraday_open: set intraday: true to request in them")
        if spec is not None:
            need = spec.every_s + spec.min_gate_ahead_s + self.intraday_gate_before_delivery_s
            if spec.horizon_s < need:
                raise ValueError(
                    f"intraday_open.horizon_s: {spec.horizon_s} s can fall between two windows; "
                    f"at least every_s + min_gate_ahead_s + the gate lead ({need} s)"
                )
        return self


class RequestsSpec(_Strict):
    """Who decides that a derived request is posted.

    ``auto`` (default): the gateway escrows and posts what it derives. ``manual``: it posts a
    *request draft* (``POST /request-drafts``) and escrows nothing; the DSO approves or
    rejects it on ``/dso``, and on approval the page escrows and posts the request from the
    DSO's own wallet, so a running gateway never moves money unattended in this mode (the
    gateway still holds the DSO's key, so this does not help against a stolen key).
    """

    approval: Literal["manual", "auto"] = "auto"


class DsoGatewayConfig(_Strict):
    """The whole ``dso.yaml``. The key itself is never in the file: ``key_env`` names the
    environment variable that holds it."""

    api_url: str = Field(pattern=r"^https?://")
    rpc_url: str = Field(pattern=r"^(https?|wss?)://")
    key_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    grid: GridSpec
    congestion_points: list[PointSpec] = Field(min_length=1)
    budget: BudgetPolicy
    schedule: Schedule = Schedule()
    requests: RequestsSpec = RequestsSpec()
    # where statements go (``statements/<session>.json``); relative: to the config's folder
    output_dir: str = Field(default="dso-out", min_length=1)
    # "chain": the latest block time (a warped test chain, ``flexmarket live``)
    clock: Literal["system", "chain"] = "system"

    @model_validator(mode="after")
    def _unique_codes(self) -> DsoGatewayConfig:
        codes = [p.code for p in self.congestion_points]
        for i, code in enumerate(codes):
            if code in codes[:i]:
                raise ValueError(f"congestion_points[{i}].code: {code!r} is repeated")
        return self


def parse_config(data: object) -> DsoGatewayConfig:
    """Validate a parsed YAML document; the first problem as :class:`DsoConfigError`."""
    return validate_config(DsoGatewayConfig, data, DsoConfigError)


def load_config(path: str | Path) -> DsoGatewayConfig:
    """Read and validate ``dso.yaml``."""
    p = Path(path)
    data = read_yaml(p, DsoConfigError)
    cfg = parse_config(data)
    out = Path(cfg.output_dir)
    if not out.is_absolute():
        cfg = cfg.model_copy(update={"output_dir": str(p.resolve().parent / out)})
    return cfg
