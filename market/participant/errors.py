"""One error type for everything a participant can get wrong, naming the field and the reason.

Why one type: the CLI and the gateways show a participant one line (``field: reason``) whether
the API refused a message (RFC 9457 problem), the contract reverted (named custom error) or the
library refused before sending anything. Translating here keeps that knowledge in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.chain.revert import ChainError, ContractRevert

if TYPE_CHECKING:  # market.client loads the API's store models
    from market.client import ApiError


class ParticipantError(Exception):
    """A refused participant step: ``field`` names what to fix, ``reason`` says why."""

    def __init__(self, field: str, reason: str, *, status: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.status = status
        super().__init__(f"{field}: {reason}")

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "reason": self.reason}
        if self.status is not None:
            out["status"] = self.status
        return out


def from_api_error(exc: ApiError, *, step: str) -> ParticipantError:
    """The API's problem as a participant error (its ``field``, else the step)."""
    field = str(exc.field or step)
    detail = str(exc.problem.get("detail") or exc.slug or exc).removeprefix(f"{field}: ")
    return ParticipantError(field, detail, status=exc.status)


def _ts(value: Any) -> str:
    return str(int(value))


# custom error name -> (field, reason builder from the error's named arguments)
_REVERTS: dict[str, tuple[str, Any]] = {
    "FlexMarketTooLate": (
        "session_id",
        lambda f: (
            f"too late: the deadline (gate closure) was {_ts(f['deadline'])}, "
            f"chain time is {_ts(f['now_'])}"
        ),
    ),
    "FlexMarketTooEarly": (
        "session_id",
        lambda f: f"too early: not before {_ts(f['notBefore'])}, chain time is {_ts(f['now_'])}",
    ),
    "FlexMarketNotInState": (
        "session_id",
        lambda f: (
            f"the session is {getattr(f['actual'], 'name', f['actual'])} on-chain, "
            f"this step needs {getattr(f['expected'], 'name', f['expected'])}"
        ),
    ),
    "FlexMarketNothingToWithdraw": ("credits", lambda f: "nothing to withdraw (credit is 0)"),
    "FlexMarketBadWithdrawalSignature": (
        "code",
        lambda f: f"the signed withdrawal is not {f['account']}'s (signer {f['signer']})",
    ),
    "FlexMarketSignatureExpired": (
        "deadline",
        lambda f: (
            f"expired: the signature was good until {_ts(f['deadline'])}, "
            f"chain time is {_ts(f['now_'])}"
        ),
    ),
    "FlexMarketNotRegistered": (
        "key",
        lambda f: f"{f['account']} is not a registered market participant",
    ),
    "AccessControlUnauthorizedAccount": (
        "key",
        lambda f: (
            f"{f.get('account', '?')} lacks the {_role(f.get('neededRole'))} role this step needs"
        ),
    ),
    "FlexMarketRequestExists": ("request_id", lambda f: "a request with this id is escrowed"),
    "FlexMarketZeroBudget": ("budget_units", lambda f: "the budget must be positive"),
    "FlexMarketNotParty": (
        "session_id",
        lambda f: (
            f"{f['caller']} is not a party of this session (no offers committed, no live request)"
        ),
    ),
    "FlexMarketInvalidCommitment": ("offers", lambda f: "no offers to commit"),
    "FlexMarketStationRegistered": (
        "station_id",
        lambda f: f"the station's key is registered by CPO {f['cpo']}; a key is never replaced",
    ),
    "FlexMarketNotStationCpo": (
        "station_id",
        lambda f: f"{f['caller']} did not register this station: only its CPO grants it",
    ),
    "FlexMarketNotFsp": ("fsp", lambda f: f"{f['account']} does not hold the FSP role"),
    "ERC20InsufficientAllowance": (
        "allowance",
        lambda f: (
            f"the market may spend {f.get('allowance')} but needs {f.get('needed')}: "
            "run `flexmarket participant fund` first"
        ),
    ),
    "ERC20InsufficientBalance": (
        "balance",
        lambda f: f"the token balance is {f.get('balance')}, {f.get('needed')} needed",
    ),
}


def _role(role: Any) -> str:
    from adapters.chain.revert import ROLE_NAMES

    if isinstance(role, bytes):
        return ROLE_NAMES.get(role, "0x" + role.hex())
    return str(role)


def from_chain_error(exc: ChainError, *, step: str) -> ParticipantError:
    """A contract revert (or node failure) as a participant error naming the field."""
    if isinstance(exc, ContractRevert):
        known = _REVERTS.get(exc.error_name)
        if known is not None:
            field, reason = known
            return ParticipantError(field, f"{step}: {reason(exc.fields)}")
        return ParticipantError("chain", f"{step}: the contract refused: {exc}")
    return ParticipantError("rpc", f"{step}: {exc}")
