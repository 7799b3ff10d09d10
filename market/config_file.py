"""Strict YAML config files of the gateways (``dso.yaml``, ``fsp.yaml``, ``uftp.yaml``): read,
validate with a pydantic model, and report the first problem as one ``field: reason``.

Why one module: the three gateways name problems the same way (a dotted path with ``[i]`` for
list items, a cross-field check naming its own path), so the CLI prints one line for each.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

# a cross-field check's message "path.to.field: reason" names its own field
_NAMED = re.compile(r"^(?P<field>[A-Za-z_][\w.\[\]-]*): (?P<reason>.+)$", re.S)

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(ValueError):
    """A config problem: ``field`` (dotted path) and ``reason``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def field_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location as ``a.b[2].c`` (``config`` for the document itself)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "config"


def validate_config(model: type[ModelT], data: object, error: type[ConfigError]) -> ModelT:
    """Validate a parsed YAML document; the first problem raised as ``error``."""
    if not isinstance(data, dict):
        raise error("config", "must be a mapping of settings")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = str(first["msg"]).removeprefix("Value error, ")
        field = field_path(tuple(first["loc"]))
        named = _NAMED.match(msg)
        if named:
            field = (field + "." if field != "config" else "") + named["field"]
            msg = named["reason"]
        raise error(field, msg) from exc


def read_yaml(path: Path, error: type[ConfigError]) -> object:
    """The parsed document at ``path``; an unreadable file or bad YAML names ``--config``."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise error("--config", f"cannot read {path}: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error("--config", f"{path} is not YAML: {exc}".splitlines()[0]) from exc
