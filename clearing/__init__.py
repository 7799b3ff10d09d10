"""The pure clearing core: messages, canonical encoding, Merkle trees, the clearing optimiser.

``clearing.clear(input_bundle) -> ResultBundle`` and
``clearing.verify(input_bundle, result_bundle) -> list[Difference]`` are the two entry points;
they are loaded lazily so ``import clearing.encoding`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["clear", "verify"]


def __getattr__(name: str) -> Any:
    if name == "clear":
        from clearing.engine import clear

        return clear
    if name == "verify":
        from clearing.verifier import verify

        return verify
    raise AttributeError(f"module 'clearing' has no attribute {name!r}")
