"""A participant's UFTP key bound to its market address: an EIP-191 signature by the market key.

Why a signature: the gateway accepts UFTP messages signed with an Ed25519 key and acts on them
in the market under an Ethereum address; the binding, signed by that address's key and naming
the market (chain id and contract), the UFTP domain, role and public key, is what says the two
belong to the same participant. It cannot be replayed on another market or for another key.
"""

from __future__ import annotations

from base64 import b64decode
from binascii import Error as BinAsciiError

from eth_account import Account
from eth_account.messages import encode_defunct

ROLES = ("AGR", "DSO")


def binding_text(*, chain_id: int, market: str, domain: str, role: str, public_key: str) -> str:
    """The exact text a participant signs to bind its UFTP key."""
    return (
        "flexmarket UFTP key binding\n"
        f"chain: {chain_id}\nmarket: {market.lower()}\n"
        f"domain: {domain}\nrole: {role}\nkey: {public_key}"
    )


def check_public_key(public_key: str) -> str:
    """A base64 Ed25519 verify key (32 bytes), or ValueError naming what is wrong."""
    try:
        raw = b64decode(public_key, validate=True)
    except (BinAsciiError, ValueError) as exc:
        raise ValueError("not base64") from exc
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return public_key


def sign_binding(
    private_key: str, *, chain_id: int, market: str, domain: str, role: str, public_key: str
) -> dict[str, str]:
    """The binding record ``flexmarket participant uftp-key`` prints (goes into uftp.yaml)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    check_public_key(public_key)
    text = binding_text(
        chain_id=chain_id, market=market, domain=domain, role=role, public_key=public_key
    )
    signed = Account.sign_message(encode_defunct(text=text), private_key)
    return {
        "domain": domain,
        "role": role,
        "public_key": public_key,
        "address": str(Account.from_key(private_key).address).lower(),
        "binding_signature": "0x" + bytes(signed.signature).hex(),
    }


def binding_signer(
    signature: str, *, chain_id: int, market: str, domain: str, role: str, public_key: str
) -> str:
    """The (lowercase) address that signed this binding."""
    text = binding_text(
        chain_id=chain_id, market=market, domain=domain, role=role, public_key=public_key
    )
    return str(Account.recover_message(encode_defunct(text=text), signature=signature)).lower()


#: the on-chain role a UFTP role acts under in the market
MARKET_ROLE = {"AGR": "FSP", "DSO": "DSO"}
