"""Fast OCPP schema validation: the official schemas, checked by jsonschema-rs first.

The ``ocpp`` library validates each message with pure-Python ``jsonschema`` (~200 µs for a
MeterValues request); jsonschema-rs checks the same Draft-4 schema in ~1 µs. Valid messages
take the fast path only; an invalid one is re-checked by the library's own validator so the
raised error (and therefore the OCPP CallError code) is exactly the library's.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import ocpp.messages

_installed = False


class _FastValidator:
    """Drop-in for the library's cached Draft4Validator (only ``validate`` is used)."""

    def __init__(self, slow: Any) -> None:
        self.slow = slow
        self.schema = slow.schema
        self.fast: jsonschema_rs.Draft4Validator | None
        try:
            self.fast = jsonschema_rs.Draft4Validator(slow.schema)
        except Exception:  # a schema jsonschema-rs cannot compile: stay on the slow path
            self.fast = None

    def validate(self, payload: Any) -> None:
        if self.fast is not None:
            try:
                if self.fast.is_valid(payload):
                    return
            except Exception:  # e.g. Decimal values (1.6 schedules): let the slow one decide
                pass
        self.slow.validate(payload)


def install_fast_validation() -> None:
    """Wrap ``ocpp.messages.get_validator`` once per process (idempotent)."""
    global _installed
    if _installed:
        return
    original = ocpp.messages.get_validator
    wrapped: dict[int, _FastValidator] = {}

    def get_validator(*args: Any, **kwargs: Any) -> Any:
        slow = original(*args, **kwargs)
        fast = wrapped.get(id(slow))
        if fast is None or fast.slow is not slow:
            fast = wrapped[id(slow)] = _FastValidator(slow)
        return fast

    ocpp.messages.get_validator = get_validator
    _installed = True
