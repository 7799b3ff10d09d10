"""Wrapper of SettlementToken (fEUR), including EIP-2612 permit signing."""

from __future__ import annotations

from functools import cached_property

from eth_account import Account
from eth_account.messages import encode_typed_data

from adapters.chain.tx import TxResult
from adapters.chain.wrapper import ContractWrapper


class SettlementTokenContract(ContractWrapper):
    """fEUR: ERC-20 with 6 decimals, EIP-2612 permit and MINTER_ROLE-restricted minting."""

    NAME = "SettlementToken"

    @cached_property
    def MINTER_ROLE(self) -> bytes:
        return bytes(self._call("MINTER_ROLE"))

    def name(self) -> str:
        return str(self._call("name"))

    def symbol(self) -> str:
        return str(self._call("symbol"))

    def decimals(self) -> int:
        return int(self._call("decimals"))

    def total_supply(self) -> int:
        return int(self._call("totalSupply"))

    def balance_of(self, account: str) -> int:
        return int(self._call("balanceOf", account))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self._call("allowance", owner, spender))

    def nonces(self, owner: str) -> int:
        return int(self._call("nonces", owner))

    def domain_separator(self) -> bytes:
        return bytes(self._call("DOMAIN_SEPARATOR"))

    def transfer(self, to: str, amount: int, *, sender: str) -> TxResult:
        return self._tx("transfer", to, amount, sender=sender)

    def approve(self, spender: str, amount: int, *, sender: str) -> TxResult:
        return self._tx("approve", spender, amount, sender=sender)

    def transfer_from(self, owner: str, to: str, amount: int, *, sender: str) -> TxResult:
        return self._tx("transferFrom", owner, to, amount, sender=sender)

    def mint(self, to: str, amount: int, *, sender: str) -> TxResult:
        return self._tx("mint", to, amount, sender=sender)

    def permit(
        self,
        owner: str,
        spender: str,
        value: int,
        deadline: int,
        v: int,
        r: bytes,
        s: bytes,
        *,
        sender: str,
    ) -> TxResult:
        return self._tx("permit", owner, spender, value, deadline, v, r, s, sender=sender)

    def sign_permit(
        self, owner_key: str, spender: str, value: int, deadline: int
    ) -> tuple[int, bytes, bytes]:
        """EIP-2612 signature (v, r, s) by ``owner_key`` letting ``spender`` pull ``value``."""
        owner = Account.from_key(owner_key).address
        domain = {
            "name": self.name(),
            "version": "1",
            "chainId": self.client.chain_id,
            "verifyingContract": self.address,
        }
        types = {
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ]
        }
        message = {
            "owner": owner,
            "spender": spender,
            "value": value,
            "nonce": self.nonces(owner),
            "deadline": deadline,
        }
        signable = encode_typed_data(domain_data=domain, message_types=types, message_data=message)
        signed = Account.sign_message(signable, owner_key)
        return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
