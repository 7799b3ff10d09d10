"""OCPP schema checks for the websocket boundary: the official schemas, by jsonschema-rs.

The ``ocpp`` library validates each message with pure-Python ``jsonschema`` (~100-200 µs a
message); jsonschema-rs checks the same Draft-4 schema in ~1 µs. The schemas are the
library's own (read through its public ``get_validator``). A valid payload takes the fast
path only; an invalid one is re-checked by the library's public ``validate_payload``, so the
raised error, and therefore the OCPP CallError code, is exactly the library's. Nothing in
the library is replaced or patched.
"""

from __future__ import annotations

import decimal
import json
from functools import lru_cache
from typing import Any

import jsonschema_rs
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.messages import Call, CallResult, MessageType, get_validator, validate_payload

# The schemas the library reads with Decimal floats (1.6 "multipleOf 0.1"); its validator
# cache ignores that choice, so whoever reads a schema first decides it for everyone.
_DECIMAL_SCHEMAS_16 = {
    (MessageType.Call, "SetChargingProfile"),
    (MessageType.Call, "RemoteStartTransaction"),
    (MessageType.CallResult, "GetCompositeSchedule"),
}


def library_schema(message_type: int, action: str, ocpp_version: str) -> Any:
    """The library's schema of one message (floats as float); None if there is none.

    Read the way the library itself reads it, so that its shared validator cache stays right.
    """
    decimal_floats = ocpp_version == "1.6" and (message_type, action) in _DECIMAL_SCHEMAS_16
    parse_float: Any = decimal.Decimal if decimal_floats else float
    try:
        schema = get_validator(message_type, action, ocpp_version, parse_float=parse_float).schema
    except (OSError, ValueError):
        return None
    return json.loads(json.dumps(schema, default=float))


@lru_cache(maxsize=1024)
def _fast_validator(message_type: int, action: str, ocpp_version: str) -> Any:
    """jsonschema-rs validator of one message schema; None if it cannot compile it."""
    schema = library_schema(message_type, action, ocpp_version)
    if schema is None:
        return None  # no such schema: the library's check will say so
    try:
        return jsonschema_rs.Draft4Validator(schema)
    except Exception:  # a schema jsonschema-rs cannot compile: stay on the library's path
        return None


async def check_payload(message: Call | CallResult, ocpp_version: str) -> None:
    """Raise the library's OCPPError if ``message.payload`` breaks its schema."""
    if not isinstance(message.action, str):
        raise OcppNotImplemented(details={"cause": "no action to validate against"})
    message_type = MessageType.Call if isinstance(message, Call) else MessageType.CallResult
    fast = _fast_validator(message_type, message.action, ocpp_version)
    if fast is not None:
        try:
            if fast.is_valid(message.payload):
                return
        except Exception:  # e.g. values jsonschema-rs cannot take: let the library decide
            pass
    await validate_payload(message, ocpp_version)
