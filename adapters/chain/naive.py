"""Wrapper of NaiveMarket, the gas benchmark's baseline."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.chain.tx import TxResult
from adapters.chain.wrapper import ContractWrapper


class NaiveMarketContract(ContractWrapper):
    """Benchmark baseline: every offer stored on-chain, every order paid by its own push."""

    NAME = "NaiveMarket"

    def post_request(self, request_id: bytes, budget: int, *, sender: str) -> TxResult:
        return self._tx("postRequest", request_id, budget, sender=sender)

    def submit_offer(
        self, request_id: bytes, power_w: int, price_per_mwh: int, max_payment: int, *, sender: str
    ) -> TxResult:
        return self._tx(
            "submitOffer", request_id, power_w, price_per_mwh, max_payment, sender=sender
        )

    def accept_and_pay(
        self, request_id: bytes, offer_ids: Sequence[int], amounts: Sequence[int], *, sender: str
    ) -> TxResult:
        return self._tx("acceptAndPay", request_id, list(offer_ids), list(amounts), sender=sender)

    def refund(self, request_id: bytes, *, sender: str) -> TxResult:
        return self._tx("refund", request_id, sender=sender)

    def token(self) -> str:
        return str(self._call("token"))

    def offer_count(self) -> int:
        return int(self._call("offerCount"))

    def max_batch(self) -> int:
        return int(self._call("MAX_BATCH"))
