"""Typed front for ``ocpp.routing``'s ``on`` and ``after`` decorators.

Why: the ``ocpp`` library ships no type information, so its decorators would erase the
signature of every handler they mark. They return a pass-through wrapper around the function
(same arguments, same result), which is what the signatures here state; the library's own
decorators do the work, so routing behaves exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from ocpp import routing as _routing

_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def on(action: str, *, skip_schema_validation: bool = True) -> Callable[[_Handler], _Handler]:
    """Mark a method as the handler of ``action`` (see ``ocpp.routing.on``).

    The library's own (slow) schema validation is skipped by default: every request and
    answer is checked at the websocket boundary instead (``adapters/ocpp/wire.py``).
    """
    decorator = _routing.on(action, skip_schema_validation=skip_schema_validation)
    return cast(Callable[[_Handler], _Handler], decorator)


def after(action: str) -> Callable[[_Handler], _Handler]:
    """Mark a method as the hook run after ``action`` is answered (see ``ocpp.routing.after``)."""
    return cast(Callable[[_Handler], _Handler], _routing.after(action))
