"""Claims: how an EV user without a wallet is paid on-chain and redeems later (issue 19).

The FSP gateway draws a random claim code for the user and derives a key from it; the key's
address is the user's pseudonymous payee (the netting credits it) and signs, once, what must be
signed at creation (the revenue-share contract). The user keeps the code; the gateway keeps only
the address. Redeeming proves the link: whoever holds the code signs an EIP-712 Withdrawal of
the claim address's credit to a wallet of their choice, and any account relays it
(``withdrawBySignature``), so the user needs no gas.

Code: ``FMC-`` then 32 base32 characters in groups of four: 18 random bytes (144 bits: no
offline search can find a code from the address) and a 2-byte checksum, so a mistyped code is
refused as such instead of redeeming nothing. Key: keccak256 of a domain tag and the random
bytes (never the key of anything else).
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from adapters.chain.withdrawal_sig import sign_withdrawal
from market.participant.errors import ParticipantError
from market.participant.onchain import ChainAccount, onchain

PREFIX = "FMC"
SECRET_BYTES = 18
CHECK_BYTES = 2
KEY_TAG = b"flexmarket/claim-key/v1\x00"
CHECK_TAG = b"flexmarket/claim-checksum/v1\x00"
#: how long a relayed signature stays good (chain seconds)
DEADLINE_S = 600
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class Claim:
    """A fresh claim: the code (shown once to the user) and its address (kept)."""

    code: str
    address: str  # lower-case


def _key(secret: bytes) -> bytes:
    return keccak(KEY_TAG + secret)


def _format(secret: bytes) -> str:
    body = base64.b32encode(secret + keccak(CHECK_TAG + secret)[:CHECK_BYTES]).decode()
    return "-".join([PREFIX, *(body[i : i + 4] for i in range(0, len(body), 4))])


def new_claim() -> Claim:
    """A claim from fresh randomness (a key outside secp256k1's range is drawn again)."""
    while True:
        secret = secrets.token_bytes(SECRET_BYTES)
        if 0 < int.from_bytes(_key(secret), "big") < _SECP256K1_N:
            return Claim(_format(secret), claim_account(_format(secret)).address.lower())


def _secret(code: str) -> bytes:
    """The random bytes of a code (spaces, dashes and case do not matter); field ``code``."""
    text = re.sub(r"[\s-]", "", code).upper()
    if not text.startswith(PREFIX):
        raise ParticipantError("code", f"a claim code starts with {PREFIX}-")
    body, size = text[len(PREFIX) :], (SECRET_BYTES + CHECK_BYTES) * 8 // 5
    if len(body) != size:
        raise ParticipantError("code", f"not a claim code: {size} characters after {PREFIX}-")
    try:
        raw = base64.b32decode(body)
    except ValueError as exc:
        raise ParticipantError("code", "not a claim code (letters A-Z and digits 2-7)") from exc
    secret, check = raw[:SECRET_BYTES], raw[SECRET_BYTES:]
    if len(raw) != SECRET_BYTES + CHECK_BYTES or keccak(CHECK_TAG + secret)[:CHECK_BYTES] != check:
        raise ParticipantError("code", "not a claim code (mistyped? its checksum does not match)")
    return secret


def claim_account(code: str) -> LocalAccount:
    """The claim's key, from its code (field ``code`` when the code is not one)."""
    account: LocalAccount = Account.from_key(_key(_secret(code)))
    return account


def check_recipient(to: str) -> None:
    """``to`` must be a non-zero address (field ``to``)."""
    if not _ADDRESS.match(to):
        raise ParticipantError("to", f"{to!r} is not a 0x-prefixed 20-byte address")
    if int(to, 16) == 0:
        raise ParticipantError("to", "the zero address cannot receive the claim")


def redeem(
    relayer: ChainAccount, code: str, to: str, *, deadline: int | None = None
) -> dict[str, Any]:
    """Pay the claim's whole credit to ``to``: sign the Withdrawal with the code's key and send
    it from ``relayer`` (who pays the gas only). ``deadline``: chain time + DEADLINE_S unless
    given. Refusals name ``code``, ``to``, ``credits`` (nothing to claim) or ``deadline``."""
    check_recipient(to)
    account = claim_account(code)
    market = relayer.market
    with onchain("claim"):
        credit = market.credits(account.address)
        if credit == 0:
            raise ParticipantError(
                "credits", f"nothing to claim: the claim address {account.address} holds 0"
            )
        nonce = market.withdrawal_nonce(account.address)
        client = market.client
        if deadline is None:
            deadline = client.block_timestamp() + DEADLINE_S
        r, vs = sign_withdrawal(account.key, client.chain_id, market.address, to, nonce, deadline)
        tx = market.withdraw_by_signature(
            account.address, to, deadline, r, vs, sender=relayer.address
        )
    event = tx.event("Withdrawn").args
    return {
        "claim_address": account.address.lower(),
        "to": str(event["to"]).lower(),
        "withdrawn_units": int(event["amount"]),
        "tx": tx.tx_hash,
    }
