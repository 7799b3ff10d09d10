"""Base of the typed contract wrappers: one Python method per contract function.

Conventions: bytes32 values are ``bytes`` (32 long), amounts are ``int`` token minor units,
times are ``int`` Unix seconds, addresses are checksum ``str``. Every state-changing method
takes a keyword-only ``sender`` (an address whose key the client holds), simulates first
(so a revert raises the named exception from ``errors.py``) and returns a ``TxResult``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from adapters.chain.bound import BoundContract
from adapters.chain.client import ChainClient
from adapters.chain.tx import TxResult


class ContractWrapper:
    """A deployed contract of artifact ``NAME`` with the AccessControl functions all share."""

    NAME: ClassVar[str] = ""

    def __init__(self, client: ChainClient, address: str) -> None:
        self.client = client
        self.contract: BoundContract = client.bind(self.NAME, address)

    @property
    def address(self) -> str:
        return self.contract.address

    def _tx(self, fn: str, *args: Any, sender: str) -> TxResult:
        return self.contract.transact(fn, *args, sender=sender)

    def _call(self, fn: str, *args: Any) -> Any:
        return self.contract.call(fn, *args)

    # AccessControl (all three contracts inherit it)
    def has_role(self, role: bytes, account: str) -> bool:
        return bool(self._call("hasRole", role, account))

    def get_role_admin(self, role: bytes) -> bytes:
        return bytes(self._call("getRoleAdmin", role))

    def grant_role(self, role: bytes, account: str, *, sender: str) -> TxResult:
        return self._tx("grantRole", role, account, sender=sender)

    def revoke_role(self, role: bytes, account: str, *, sender: str) -> TxResult:
        return self._tx("revokeRole", role, account, sender=sender)

    def renounce_role(self, role: bytes, caller_confirmation: str, *, sender: str) -> TxResult:
        return self._tx("renounceRole", role, caller_confirmation, sender=sender)

    def supports_interface(self, interface_id: bytes) -> bool:
        return bool(self._call("supportsInterface", interface_id))
