"""The EIP-712 Withdrawal an account signs so anyone can relay it (``withdrawBySignature``).

Why: an account without gas, such as an EV user's claim address (market/participant/claim.py),
still withdraws its credit; the relayer pays the gas and cannot change the recipient, and the
per-account nonce makes each signature good for one withdrawal. Same domain as the sealed
offers' commitments; computed locally so the signer knows what it signs, and the contract
(SignedWithdrawals.sol) recomputes it (the anvil end-to-end test holds the two together).
"""

from __future__ import annotations

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from adapters.chain.commitment_sig import compact, domain_separator

WITHDRAWAL_TYPEHASH = keccak(
    text="Withdrawal(address account,address to,uint256 nonce,uint256 deadline)"
)


def withdrawal_digest(
    chain_id: int, market: str, account: str, to: str, nonce: int, deadline: int
) -> bytes:
    """EIP-712 digest of Withdrawal(account, to, nonce, deadline) for the market at ``market``."""
    struct = keccak(
        abi_encode(
            ["bytes32", "address", "address", "uint256", "uint256"],
            [
                WITHDRAWAL_TYPEHASH,
                to_checksum_address(account),
                to_checksum_address(to),
                nonce,
                deadline,
            ],
        )
    )
    return keccak(b"\x19\x01" + domain_separator(chain_id, market) + struct)


def sign_withdrawal(
    private_key: bytes | str,
    chain_id: int,
    market: str,
    to: str,
    nonce: int,
    deadline: int,
) -> tuple[bytes, bytes]:
    """The key's compact (r, vs) signature over its Withdrawal to ``to``."""
    account = Account.from_key(private_key)
    digest = withdrawal_digest(chain_id, market, account.address, to, nonce, deadline)
    signed = Account.unsafe_sign_hash(digest, private_key)
    return compact(bytes(signed.signature))
