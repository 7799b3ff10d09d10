"""The UFTP gateway's ``uftp.yaml``: strict, every problem named by its path.

Why a file and not DNS: UFTP discovers keys and endpoints through DNS records; a market
gateway learns them at onboarding instead, so each peer's public key, endpoint and the signed
binding to its market address are listed here (the market keys themselves are not: ``key_env``
names the environment variable that holds each).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from market.config_file import ConfigError, read_yaml, validate_config
from market.uftp.binding import check_public_key

_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"
_DOMAIN = r"^([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}$"


class UftpConfigError(ConfigError):
    """A problem in ``uftp.yaml``: ``field`` (dotted path) and ``reason``."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class RequestTerms(_Strict):
    """How a UFTP DSO's FlexRequest (which carries no price) becomes an escrowed request."""

    max_price_per_mwh: int = Field(gt=0)
    budget_units: int = Field(gt=0)
    all_or_nothing: bool = False


class Peer(_Strict):
    """One UFTP participant: its UFTP identity, its binding and the market key used for it."""

    domain: str = Field(pattern=_DOMAIN)
    role: Literal["AGR", "DSO"]
    public_key: str
    address: str = Field(pattern=r"^0x[0-9a-f]{40}$")
    binding_signature: str = Field(pattern=r"^0x[0-9a-f]{130}$")
    endpoint: str = Field(pattern=r"^https?://")
    key_env: str = Field(pattern=_ENV)
    # AGR: the UFTP congestion points of its portfolio (it gets FlexRequests for these only)
    congestion_points: list[str] = []
    terms: RequestTerms | None = None  # DSO: how its requests are escrowed

    @field_validator("public_key")
    @classmethod
    def _key(cls, v: str) -> str:
        return check_public_key(v)


class UftpConfig(_Strict):
    """The whole ``uftp.yaml``."""

    api_url: str = Field(pattern=r"^https?://")
    rpc_url: str = Field(pattern=r"^(https?|wss?)://")
    domain: str = Field(pattern=_DOMAIN)  # the market's own UFTP sender domain
    signing_key_env: str = Field(pattern=_ENV)  # its Ed25519 private key (base64, 64 bytes)
    time_zone: str = "Europe/Amsterdam"
    max_age_s: int = Field(default=300, gt=0)  # older messages are refused as stale
    state_path: str = Field(default="uftp-state.sqlite", min_length=1)
    # UFTP congestion point (ean.* / ea1.*) -> the market's congestion point code
    congestion_points: dict[str, str] = Field(min_length=1)
    peers: list[Peer] = []

    def peer(self, domain: str, role: str) -> Peer | None:
        for p in self.peers:
            if p.domain == domain and p.role == role:
                return p
        return None

    def uftp_point(self, market_code: str) -> str | None:
        for uftp, code in self.congestion_points.items():
            if code == market_code:
                return uftp
        return None


def parse_config(data: object) -> UftpConfig:
    """Validate a parsed YAML document; the first problem as :class:`UftpConfigError`."""
    cfg = validate_config(UftpConfig, data, UftpConfigError)
    seen: set[tuple[str, str]] = set()
    for i, p in enumerate(cfg.peers):
        if (p.domain, p.role) in seen:
            raise UftpConfigError(f"peers[{i}].domain", f"{p.domain} as {p.role} is repeated")
        seen.add((p.domain, p.role))
        for j, cp in enumerate(p.congestion_points):
            if cp not in cfg.congestion_points:
                raise UftpConfigError(
                    f"peers[{i}].congestion_points[{j}]", f"{cp} is not in congestion_points"
                )
        if p.role == "DSO" and p.terms is None:
            raise UftpConfigError(f"peers[{i}].terms", "a DSO peer needs its request terms")
    return cfg


def load_config(path: str | Path) -> UftpConfig:
    """Read and validate ``uftp.yaml``."""
    p = Path(path)
    data = read_yaml(p, UftpConfigError)
    return parse_config(data)
