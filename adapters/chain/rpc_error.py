"""A JSON-RPC error answer, turned into the named revert when it carries revert data."""

from __future__ import annotations

from typing import Any

from adapters.chain.errors import decode_revert
from adapters.chain.revert import ChainError


class RpcError(ChainError):
    """The node answered ``error``; ``data`` holds revert data when a call reverted."""

    def __init__(self, method: str, error: Any) -> None:
        self.method = method
        if isinstance(error, dict):
            self.message = str(error.get("message", ""))
            self.code = error.get("code")
            self.data = error.get("data")
        else:
            self.message, self.code, self.data = str(error), None, None
        super().__init__(f"{method}: {self.message}")

    def revert(self, where: str | None) -> ChainError:
        """The named revert if the node returned revert data, else this RPC error."""
        data = self.data
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            return decode_revert(data, where=where)
        if "revert" in self.message.lower():
            return decode_revert(b"", where=where)
        return ChainError(f"{where or self.method}: {self.message}")
