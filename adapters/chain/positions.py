"""Wrapper of FlexPositions: the non-transferable ERC-1155 receipts of the market."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from adapters.chain.tx import TxResult
from adapters.chain.wrapper import ContractWrapper


class FlexPositionsContract(ContractWrapper):
    """Non-transferable ERC-1155 view of requests, awards and receipts."""

    NAME = "FlexPositions"

    @cached_property
    def MARKET_ROLE(self) -> bytes:
        return bytes(self._call("MARKET_ROLE"))

    def kind_request(self) -> int:
        return int(self._call("KIND_REQUEST"))

    def kind_award(self) -> int:
        return int(self._call("KIND_AWARD"))

    def kind_receipt(self) -> int:
        return int(self._call("KIND_RECEIPT"))

    def market(self) -> str:
        return str(self._call("market"))

    def position_id(self, kind: int, session_index: int, item_index: int) -> int:
        return int(self._call("positionId", kind, session_index, item_index))

    def decode_position_id(self, position_id: int) -> tuple[int, int, int]:
        kind, session_index, item_index = self._call("decodePositionId", position_id)
        return int(kind), int(session_index), int(item_index)

    def balance_of(self, account: str, position_id: int) -> int:
        return int(self._call("balanceOf", account, position_id))

    def balance_of_batch(self, accounts: Sequence[str], ids: Sequence[int]) -> list[int]:
        return [int(b) for b in self._call("balanceOfBatch", list(accounts), list(ids))]

    def uri(self, position_id: int) -> str:
        return str(self._call("uri", position_id))

    def is_approved_for_all(self, account: str, operator: str) -> bool:
        return bool(self._call("isApprovedForAll", account, operator))

    def set_approval_for_all(self, operator: str, approved: bool, *, sender: str) -> TxResult:
        return self._tx("setApprovalForAll", operator, approved, sender=sender)

    def safe_transfer_from(
        self, from_: str, to: str, position_id: int, value: int, data: bytes, *, sender: str
    ) -> TxResult:
        return self._tx("safeTransferFrom", from_, to, position_id, value, data, sender=sender)

    def safe_batch_transfer_from(
        self,
        from_: str,
        to: str,
        ids: Sequence[int],
        values: Sequence[int],
        data: bytes,
        *,
        sender: str,
    ) -> TxResult:
        return self._tx(
            "safeBatchTransferFrom", from_, to, list(ids), list(values), data, sender=sender
        )

    def mint(
        self, to: Sequence[str], ids: Sequence[int], values: Sequence[int], *, sender: str
    ) -> TxResult:
        return self._tx("mint", list(to), list(ids), list(values), sender=sender)

    def burn(
        self, from_: Sequence[str], ids: Sequence[int], values: Sequence[int], *, sender: str
    ) -> TxResult:
        return self._tx("burn", list(from_), list(ids), list(values), sender=sender)
