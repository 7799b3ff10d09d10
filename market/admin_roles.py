"""The market admin's role changes: grant, revoke and list the FlexMarket contract's roles.

Why a module of its own: granting a market role is not a bare ``grantRole``. The contract pays
and clears only *registered* participants (an FSP awarded without registration reverts the
whole clearing), so a market role is granted through ``registerParticipant``, with the roles
the account already holds and its metadata kept. ``DEFAULT_ADMIN`` is plain AccessControl.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.address import is_address, to_checksum_address

from adapters.chain.market_contract import FlexMarketContract
from adapters.chain.tx import TxResult

ADMIN = "DEFAULT_ADMIN"


class RoleCommandError(Exception):
    """A role command that cannot be carried out, with what to do instead."""


@dataclass(frozen=True)
class RoleChange:
    """What a grant or revoke did (``changed`` False: the account already was so)."""

    role: str
    account: str
    changed: bool
    tx_hash: str | None


def role_names(market: FlexMarketContract) -> list[str]:
    """The contract's role names without the ``_ROLE`` suffix (DSO, FSP, ..., DEFAULT_ADMIN)."""
    return sorted(name.removesuffix("_ROLE") for name in market.roles)


def role_id(market: FlexMarketContract, name: str) -> bytes:
    """The id of role ``name`` (any case, with or without ``_ROLE``); unknown names refused."""
    key = name.strip().upper().removesuffix("_ROLE")
    known = role_names(market)
    if key not in known:
        raise RoleCommandError(
            f"ROLE: unknown role {name!r}; the market's roles: {', '.join(known)}"
        )
    return market.roles[f"{key}_ROLE"]


def checked_address(text: str) -> str:
    """A checksum address; a malformed one (or a mixed-case one with a bad checksum) refused."""
    if not is_address(text):
        raise RoleCommandError(f"ADDRESS: {text!r} is not an address (0x and 40 hex digits)")
    return to_checksum_address(text)


def require_admin(market: FlexMarketContract, sender: str, key_env: str) -> None:
    """Refuse before sending anything when ``sender`` cannot change roles."""
    if not market.has_role(market.roles[f"{ADMIN}_ROLE"], sender):
        raise RoleCommandError(
            f"{key_env}: its account {sender} is not an admin (DEFAULT_ADMIN) of the market "
            f"{market.address}; use the admin's key (--key-env NAME names another variable)"
        )


def roles_of(market: FlexMarketContract, account: str) -> list[str]:
    """The roles ``account`` holds, by name."""
    return [n for n in role_names(market) if market.has_role(market.roles[f"{n}_ROLE"], account)]


def grant(market: FlexMarketContract, name: str, account: str, *, sender: str) -> RoleChange:
    """Grant a role; a market role also registers the account (keeping its other roles)."""
    role = role_id(market, name)
    key = name.strip().upper().removesuffix("_ROLE")
    if market.has_role(role, account):
        return RoleChange(key, account, False, None)
    result: TxResult
    if key == ADMIN:
        result = market.grant_role(role, account, sender=sender)
    else:
        held = [market.roles[f"{n}_ROLE"] for n in roles_of(market, account) if n != ADMIN]
        metadata = market.participant_metadata(account)
        result = market.register_participant(account, metadata, [*held, role], sender=sender)
    return RoleChange(key, account, True, result.tx_hash)


def revoke(market: FlexMarketContract, name: str, account: str, *, sender: str) -> RoleChange:
    """Revoke one role (the account stays registered and keeps its credits)."""
    role = role_id(market, name)
    key = name.strip().upper().removesuffix("_ROLE")
    if not market.has_role(role, account):
        return RoleChange(key, account, False, None)
    if key == ADMIN and account == sender:
        raise RoleCommandError(
            "ADDRESS: that is the admin key's own account; revoking it would leave the market "
            "without this admin (grant DEFAULT_ADMIN to another account first, then revoke "
            "with that account's key)"
        )
    result = market.revoke_role(role, account, sender=sender)
    return RoleChange(key, account, True, result.tx_hash)


def holders(market: FlexMarketContract) -> dict[str, list[str]]:
    """Every account holding a role now, from RoleGranted events checked against ``hasRole``."""
    events = market.client.get_events("RoleGranted", market.deploy_block, address=market.address)
    accounts = sorted({to_checksum_address(e.args["account"]) for e in events})
    held = {a: roles_of(market, a) for a in accounts}
    return {a: r for a, r in held.items() if r}
