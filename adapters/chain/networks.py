"""The networks file: where ``flexmarket deploy --network NAME`` deploys, and how.

Why a file and not flags: a DSO deploys the same market to a test network and to a production
network, each with its own RPC, chain id, confirmations and fee caps; the file keeps them side
by side under review. It holds the NAME of the environment variable with the deployer key,
never a key: the file is meant to be committed. Validation is strict (unknown keys refused),
so a misspelt ``confirmation:`` is an error naming the field, not a silent default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adapters.chain.client import ChainClient
from adapters.chain.fees import FeeCaps
from adapters.chain.revert import ChainError
from adapters.chain.toolchain import Artifact

NETWORKS_FILE_ENV = "FLEXMARKET_NETWORKS_FILE"
DEFAULT_NETWORKS_FILE = "networks.yaml"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class NetworksFileError(ChainError):
    """The networks file is missing, not YAML, or a field is invalid (the message names it)."""


class Network(BaseModel):
    """One network: its RPC endpoint and what the chain must look like."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    rpc_url: Annotated[str, Field(min_length=1)]
    chain_id: Annotated[int, Field(gt=0)]
    confirmations: Annotated[int, Field(ge=0, le=1000)] = 0
    max_fee_per_gas_wei: Annotated[int, Field(gt=0)] | None = None
    max_priority_fee_per_gas_wei: Annotated[int, Field(ge=0)] | None = None
    deployer_key_env: str

    @field_validator("rpc_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// JSON-RPC URL")
        return value

    @field_validator("deployer_key_env", mode="before")
    @classmethod
    def _env_name_not_key(cls, value: object) -> object:
        # YAML reads an unquoted 0x... key as an int: refuse that as a key too.
        if isinstance(value, int) or (isinstance(value, str) and _HEX_KEY.match(value)):
            raise ValueError(
                "looks like a private key; put the key in an environment variable "
                "and name the variable here"
            )
        if isinstance(value, str) and not _ENV_NAME.match(value):
            raise ValueError("must be an environment variable name (A-Z, 0-9, _)")
        return value

    def fee_caps(self) -> FeeCaps:
        return FeeCaps(
            max_fee_per_gas_wei=self.max_fee_per_gas_wei,
            max_priority_fee_per_gas_wei=self.max_priority_fee_per_gas_wei,
        )

    def deployer_key(self, environ: dict[str, str] | None = None) -> str:
        """The deployer key read from the variable the file names; refused if unset."""
        env = os.environ if environ is None else environ
        key = env.get(self.deployer_key_env, "").strip()
        if not key:
            raise NetworksFileError(
                f"{self.deployer_key_env}: not set; export the deployer's private key in it"
            )
        if not _HEX_KEY.match(key):
            raise NetworksFileError(f"{self.deployer_key_env}: not a 32-byte hex private key")
        return key


class NetworksFile(BaseModel):
    """The whole file: ``networks: {NAME: Network}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    networks: dict[str, Network]

    @field_validator("networks")
    @classmethod
    def _names(cls, value: dict[str, Network]) -> dict[str, Network]:
        if not value:
            raise ValueError("must name at least one network")
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"network name {name!r}: use lower-case letters, digits, - and _")
        return value

    def network(self, name: str) -> Network:
        try:
            return self.networks[name]
        except KeyError:
            known = ", ".join(sorted(self.networks))
            raise NetworksFileError(
                f"--network: {name!r} is not in the file (known: {known})"
            ) from None


def networks_path(explicit: Path | None = None, cwd: Path | None = None) -> Path:
    """``--networks``, else ``$FLEXMARKET_NETWORKS_FILE``, else ``networks.yaml`` in the cwd."""
    if explicit is not None:
        return explicit
    env = os.environ.get(NETWORKS_FILE_ENV)
    if env:
        return Path(env)
    return (cwd or Path.cwd()) / DEFAULT_NETWORKS_FILE


def _describe(exc: ValidationError, path: Path) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "networks"
        reason = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            reason = "unknown key"
        parts.append(f"{where}: {reason}")
    return f"{path}: " + "; ".join(parts)


def parse_networks(text: str, path: Path) -> NetworksFile:
    """Parse and validate a networks file's text; NetworksFileError names the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise NetworksFileError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise NetworksFileError(f"{path}: must be a mapping with a `networks:` key")
    try:
        return NetworksFile.model_validate(data)
    except ValidationError as exc:
        raise NetworksFileError(_describe(exc, path)) from None


def load_networks(path: Path) -> NetworksFile:
    if not path.is_file():
        raise NetworksFileError(
            f"{path}: networks file not found; pass --networks FILE or set {NETWORKS_FILE_ENV} "
            "(see networks.example.yaml)"
        )
    return parse_networks(path.read_text(encoding="utf-8"), path)


def network_client(network: Network, artifacts: Mapping[str, Artifact]) -> ChainClient:
    """A client for ``network`` signing with its deployer key, after checking the chain id.

    Why check first: a file pointing at the wrong RPC (mainnet instead of a test network)
    must be refused before anything is signed.
    """
    key = network.deployer_key()
    client = ChainClient(
        network.rpc_url,
        artifacts=artifacts,
        confirmations=network.confirmations,
        fee_caps=network.fee_caps(),
    )
    if client.chain_id != network.chain_id:
        raise NetworksFileError(
            f"chain_id: the file says {network.chain_id}, but {network.rpc_url} "
            f"is chain id {client.chain_id}; nothing was sent"
        )
    client.add_account(key)
    return client
