"""Everything a replay derives from the scenario seed: keys, UUIDs, passwords.

Why derived and not random: the same scenario and seed must give the same accounts, message
ids and on-chain roots on every run, so two replays can be compared byte for byte.
"""

from __future__ import annotations

import uuid

from eth_account import Account

from clearing.encoding import keccak256
from clearing.trust import SECP256K1_N

REPLAY_NAMESPACE = uuid.UUID("0d7b7a57-3f4e-5c1a-9a51-6a6f2b1e0c11")


def derived_key(seed: int, who: str) -> str:
    """A secp256k1 private key (0x hex) = keccak256(seed, participant id), redrawn if invalid."""
    counter = 0
    while True:
        raw = keccak256(f"flexmarket-replay:{seed}:{who}:{counter}".encode())
        if 0 < int.from_bytes(raw, "big") < SECP256K1_N:
            return "0x" + raw.hex()
        counter += 1  # pragma: no cover - probability ~2^-128


def derived_address(seed: int, who: str) -> str:
    """Checksummed address of :func:`derived_key`."""
    return str(Account.from_key(derived_key(seed, who)).address)


def derived_uuid(seed: int, *parts: object) -> str:
    """A UUID5 of the seed and the parts (never uuid4: replays must be repeatable)."""
    return str(uuid.uuid5(REPLAY_NAMESPACE, "/".join([str(seed), *map(str, parts)])))


def derived_secret(seed: int, what: str) -> str:
    """A hex secret (station passwords, the API token secret) derived from the seed."""
    return keccak256(f"flexmarket-replay-secret:{seed}:{what}".encode()).hex()[:32]


def pseudonym(seed: int, kind: str, value: str) -> str:
    """How a replay names an EV user or an EV in what it publishes (``report.json``, the
    netting's payees): ``<kind>-`` and 12 hex of keccak256(salt, value). The salt is a
    :func:`derived_secret` of the seed, so the same scenario gives the same names and the
    same bytes, and the name alone does not say who it is."""
    salt = derived_secret(seed, f"pseudonym:{kind}")
    return f"{kind}-{keccak256(f'{salt}:{value}'.encode()).hex()[:12]}"


def salted_commitment(seed: int, kind: str, *parts: object) -> str:
    """0x keccak256(salt, parts): publishes that a value (an exact departure time) was fixed
    without publishing it; whoever holds the seed can open it later."""
    salt = derived_secret(seed, f"commitment:{kind}")
    return "0x" + keccak256(":".join([salt, *map(str, parts)]).encode()).hex()
