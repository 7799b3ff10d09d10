"""Canonical ABI type strings, shared by call encoding, event topics and error selectors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def abi_type(item: Mapping[str, Any]) -> str:
    """Canonical ABI type of one input, expanding tuples (structs) recursively."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in item.get("components", []))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def signature(item: Mapping[str, Any]) -> str:
    """``name(type,...)`` of an ABI function, event or error entry."""
    return f"{item['name']}({','.join(abi_type(i) for i in item['inputs'])})"
