"""Operator calls to one station: an action name and a wire-form (camelCase) JSON payload.

Why: ``flexmarket csms send`` must be able to start transactions and send profiles without
Python. The payload is checked against the action's official schema first, so a mistake is
reported as the field and the reason, before anything reaches the station; the station's
answer comes back in wire form too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import jsonschema_rs
import ocpp.v16.call
import ocpp.v21.call
import ocpp.v201.call
from ocpp.charge_point import camel_to_snake_case, remove_nones, snake_to_camel_case
from ocpp.messages import MessageType

from adapters.ocpp.schemas import library_schema

ACTIONS_2X = (
    "RequestStartTransaction",
    "RequestStopTransaction",
    "SetChargingProfile",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "TriggerMessage",
    "Reset",
)
ACTIONS_16 = (
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "SetChargingProfile",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "TriggerMessage",
    "Reset",
)
ALIASES_16 = {
    "RequestStartTransaction": "RemoteStartTransaction",
    "RequestStopTransaction": "RemoteStopTransaction",
}
"""OCPP 1.6 names the two transaction requests differently; either name works for 1.6."""

_CALLS: dict[str, tuple[ModuleType, tuple[str, ...]]] = {
    "ocpp2.1": (ocpp.v21.call, ACTIONS_2X),
    "ocpp2.0.1": (ocpp.v201.call, ACTIONS_2X),
    "ocpp1.6": (ocpp.v16.call, ACTIONS_16),
}


class OperationError(ValueError):
    """A request the CSMS will not send: ``field`` is what is wrong, ``reason`` why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


def build_call(protocol: str, action: str, payload: Any) -> Any:
    """The ``ocpp`` call dataclass for ``action`` on ``protocol``, from a checked payload."""
    if protocol not in _CALLS:
        raise OperationError("station", f"speaks no supported protocol ({protocol!r})")
    module, actions = _CALLS[protocol]
    if protocol == "ocpp1.6":
        action = ALIASES_16.get(action, action)
    if action not in actions:
        raise OperationError("action", f"{action!r} is not one of {list(actions)} on {protocol}")
    if not isinstance(payload, Mapping):
        raise OperationError("payload", "must be a JSON object")
    schema = library_schema(MessageType.Call, action, protocol.removeprefix("ocpp"))
    if schema is not None:
        for error in jsonschema_rs.Draft4Validator(schema).iter_errors(dict(payload)):
            path = "".join(
                f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.instance_path
            )
            raise OperationError(f"payload{path}", error.message)
    try:
        return getattr(module, action)(**camel_to_snake_case(dict(payload)))
    except TypeError as exc:  # a schema without additionalProperties: false
        raise OperationError("payload", str(exc)) from exc


def result_json(result: Any) -> Any:
    """A call result dataclass in wire form (camelCase, no nulls)."""
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return snake_to_camel_case(remove_nones(dataclasses.asdict(result)))
    return result
