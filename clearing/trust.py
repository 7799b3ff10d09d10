"""The trust formats: every byte string that is hashed, signed or anchored is defined here once.

Whatever an auditor recomputes must not depend on which component produced it, so the OCPP
stations, the market API, the settlement and the auditor all take these bytes from this module
(``tests/unit/clearing/test_trust_vectors.py`` pins them with golden vectors):

* **Canonical JSON** -- RFC 8785 (JSON Canonicalization Scheme) restricted to the value types we
  allow across trust boundaries: ``dict`` (string keys), ``list``/``tuple``, ``str``, ``int``,
  ``bool`` and ``None``.  Floats are refused outright (no float crosses a hashed boundary), which
  also removes the one part of RFC 8785 that is hard to reproduce (number serialisation).
  Integers are plain decimal digits with no size limit (token amounts may exceed 2**53).  Keys
  are sorted by their UTF-16 code units; strings are escaped as ECMAScript ``JSON.stringify``
  does and emitted as UTF-8.
* **EIP-191** ``personal_sign`` (version ``0x45``) hashing, signing and signer recovery.
* **Signed meter reading** (version 1) -- the canonical JSON of
  ``{"evse": int, "export_wh": int, "import_wh": int, "station": str, "timestamp": int}``
  (``timestamp`` in Unix seconds, UTC), signed with EIP-191 by the station's secp256k1 key:
  65 bytes ``r || s || v`` (``v`` in {27, 28}), ``0x``-hex.
* **Readings digest** (version 1) -- the canonical JSON of ``{"count": int, "isp_start": int,
  "kind": "readings_digest", "root": "0x..", "session_id": str, "station": str, "version": 1}``,
  signed with EIP-191 by the station's CPO key (``clearing/readings_digest.py``).
* **EIP-712** digest of the one envelope type every API write uses (``FlexMarketMessage``),
  bound to the chain id and the market contract.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import sha3  # safe-pysha3
from coincurve import PrivateKey, PublicKey
from eth_utils.address import to_checksum_address

__all__ = [
    "EIP712_DOMAIN_NAME",
    "EIP712_DOMAIN_VERSION",
    "EIP712_PRIMARY_TYPE",
    "EIP712_TYPES",
    "SECP256K1_N",
    "CanonicalEncodingError",
    "SignedReadingError",
    "canonical_json",
    "eip191_hash",
    "eip191_sign",
    "eip712_digest",
    "eip712_domain_separator",
    "keccak256",
    "keccak256_of_parts",
    "meter_reading_payload",
    "readings_digest_payload",
    "recover_eip191_address",
    "recover_eip191_signer",
    "secp256k1_key",
    "station_address",
]


class CanonicalEncodingError(ValueError):
    """A value cannot be canonically encoded; the message names the path (e.g. ``$.a[2].b``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SignedReadingError(ValueError):
    """A signed meter reading could not be built, decoded or verified."""


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak256 (not NIST SHA3-256).

    safe-pysha3's C binding, called directly: eth-utils' ``keccak`` goes through eth-hash's
    pycryptodome backend at ~16 us a hash against ~2 us here (100 000 64-byte inputs, measured
    in one process), and a stress day hashes every reading several times (its signature, the
    readings digests' Merkle trees, the audit)."""
    return bytes(sha3.keccak_256(data).digest())


def keccak256_of_parts(parts: Iterable[bytes]) -> bytes:
    """keccak256 of the concatenation of ``parts``, without building the concatenation (a
    100 000-offer input bundle's canonical JSON is hundreds of MiB of short-lived objects)."""
    h = sha3.keccak_256()
    for part in parts:
        h.update(part)
    return bytes(h.digest())


# ------------------------------------------------------------------------ canonical JSON
def _encode_str(value: str, path: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalEncodingError(path, "string is not valid Unicode (lone surrogate)") from exc
    # ensure_ascii=False escapes exactly '"', '\\' and C0 controls (short forms + \u00xx lowercase),
    # which is what RFC 8785 / ECMAScript JSON.stringify produce.
    return json.dumps(value, ensure_ascii=False)


def _encode(value: Any, path: str, out: list[str]) -> None:
    # bool before int: bool is a subclass of int in Python.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, str):
        out.append(_encode_str(value, path))
    elif isinstance(value, float):
        raise CanonicalEncodingError(path, "floats are not allowed; use integer units")
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalEncodingError(path, f"object key {key!r} is not a string")
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        out.append("{")
        for i, key in enumerate(keys):
            if i:
                out.append(",")
            out.append(_encode_str(key, f"{path}.{key}"))
            out.append(":")
            _encode(value[key], f"{path}.{key}", out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, f"{path}[{i}]", out)
        out.append("]")
    else:
        raise CanonicalEncodingError(path, f"type {type(value).__name__} is not allowed")


_SCALARS = (str, int, bool, type(None))


def _plain(value: Any) -> bool:
    """True when ``value`` holds only exact dict/list/tuple/str/int/bool/None with ASCII keys,
    i.e. when ``json.dumps(sort_keys=True)`` already yields the RFC 8785 form."""
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return False
            if type(item) not in _SCALARS and not _plain(item):
                return False
        return True
    if type(value) is list or type(value) is tuple:
        return all(type(item) in _SCALARS or _plain(item) for item in value)
    return type(value) in _SCALARS


def canonical_json(obj: Any, *, schema_checked: bool = False) -> bytes:
    """Return the canonical UTF-8 JSON bytes of ``obj`` (sorted keys, no whitespace, no floats).

    Fast path: the stdlib C encoder once the value is known to contain nothing it would treat
    differently (floats, non-string or non-ASCII keys, subclasses).  ``schema_checked=True``
    says the caller already knows that (a strict pydantic dump of integers, strings and ASCII
    field names), which skips the walk; otherwise -- and to name the path of an offending
    value -- the explicit encoder runs.
    """
    if schema_checked or _plain(obj):
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # lone surrogate: the slow path reports where
    out: list[str] = []
    _encode(obj, "$", out)
    return "".join(out).encode("utf-8")


# ------------------------------------------------------------------------------ EIP-191
def eip191_hash(message: bytes) -> bytes:
    """keccak256 of ``"\\x19Ethereum Signed Message:\\n" + len + message`` (personal_sign)."""
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def secp256k1_key(private_key: bytes | str) -> PrivateKey:
    """Parse a 32-byte private key (raw bytes or 0x-hex) once, for many signatures."""
    if isinstance(private_key, str):
        private_key = bytes.fromhex(private_key.removeprefix("0x"))
    if len(private_key) != 32:
        raise SignedReadingError(f"private_key: must be 32 bytes, got {len(private_key)}")
    return PrivateKey(private_key)


def eip191_sign(key: PrivateKey, message: bytes) -> str:
    """EIP-191 signature of ``message``: 65 bytes ``r || s || v`` (v = 27/28), 0x-hex.

    Deterministic (RFC 6979) and low-s, byte-equal to eth-account's ``sign_message``."""
    sig = key.sign_recoverable(eip191_hash(message), hasher=None)
    return "0x" + (sig[:64] + bytes([sig[64] + 27])).hex()


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # curve order
_SIGNATURE_HEX_CHARS = 2 + 2 * 65  # "0x" + r || s || v


def recover_eip191_signer(message: bytes, signature: str) -> str:
    """Checksummed address that produced ``signature`` over ``message`` (EIP-191); raises on
    a malformed signature (see :func:`recover_eip191_address`)."""
    return str(to_checksum_address(recover_eip191_address(message, signature)))


def recover_eip191_address(message: bytes, signature: str) -> str:
    """Lower-case address that produced ``signature`` over ``message`` (EIP-191); raises on
    a malformed signature. Lower case because the settlement compares addresses that way, and
    the EIP-55 checksum (another keccak) was a third of a stress day's recovery time.

    The form every station and :func:`eip191_sign` produce (``0x`` + 65 bytes, v 27/28) is
    recovered with coincurve directly: a stress day recovers each reading's signer several
    times (relay, delivery bundle, report, audit) and eth-account's layers around the same
    libsecp256k1 call cost ~7x the call itself. Every other form (v 0/1 or EIP-155, no
    ``0x``, other lengths) goes to eth-account, which accepts what wallets produce; a test
    shows both give the same address, or both raise, on valid and invalid signatures."""
    if len(signature) == _SIGNATURE_HEX_CHARS and signature[:2] == "0x":
        raw = binascii.unhexlify(signature[2:])  # ValueError on a non-hex char or a space
        if raw[64] in (27, 28):
            if int.from_bytes(raw[:32], "big") >= SECP256K1_N:
                raise ValueError("signature r is not below the curve order")
            if int.from_bytes(raw[32:64], "big") >= SECP256K1_N:
                raise ValueError("signature s is not below the curve order")
            public = PublicKey.from_signature_and_message(
                raw[:64] + bytes([raw[64] - 27]), eip191_hash(message), hasher=None
            )
            return "0x" + keccak256(public.format(compressed=False)[1:])[-20:].hex()
    from eth_account import Account
    from eth_account.messages import encode_defunct

    signer = Account.recover_message(encode_defunct(primitive=message), signature=signature)
    return str(signer).lower()


def station_address(key: str) -> str:
    """Lower-case address of a registered station key given as an address or a secp256k1
    public key (0x hex: 20-byte address, 64/65-byte uncompressed or 33-byte compressed)."""
    try:
        raw = bytes.fromhex(key.removeprefix("0x"))
    except ValueError as exc:
        raise ValueError(f"station key: not hex ({key!r})") from exc
    if len(raw) == 20:
        return "0x" + raw.hex()
    if len(raw) == 33:
        raw = PublicKey(raw).format(compressed=False)
    if len(raw) == 65 and raw[0] == 4:
        raw = raw[1:]
    if len(raw) != 64:
        raise ValueError(f"station key: {len(raw)} bytes is neither an address nor a public key")
    return "0x" + keccak256(raw)[-20:].hex()


# ------------------------------------------------------------------- signed meter reading
def meter_reading_payload(
    *, station: str, evse: int, timestamp: int, import_wh: int, export_wh: int
) -> bytes:
    """The exact bytes a station signs for one reading (format version 1)."""
    for name, value in (
        ("evse", evse),
        ("timestamp", timestamp),
        ("import_wh", import_wh),
        ("export_wh", export_wh),
    ):
        if not isinstance(value, int) or isinstance(value, bool):
            raise SignedReadingError(f"{name}: must be an integer, got {value!r}")
    return canonical_json(
        {
            "evse": evse,
            "export_wh": export_wh,
            "import_wh": import_wh,
            "station": station,
            "timestamp": timestamp,
        }
    )


def readings_digest_payload(
    *,
    chain_id: int,
    market: str,
    session_id: str,
    station: str,
    isp_start: int,
    count: int,
    root: str,
) -> bytes:
    """The exact bytes a CPO signs for one station's readings in one ISP (format version 2):
    how many signed readings it holds and the Merkle root over them.  The chain id and the
    market contract's address bind it to one deployment: a digest signed for a test market
    does not verify for another (session ids alone could be chosen equal)."""
    for name, value in (("chain_id", chain_id), ("isp_start", isp_start), ("count", count)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise SignedReadingError(f"{name}: must be an integer, got {value!r}")
    return canonical_json(
        {
            "chain_id": chain_id,
            "count": count,
            "isp_start": isp_start,
            "kind": "readings_digest",
            "market": market.lower(),
            "root": root,
            "session_id": session_id,
            "station": station,
            "version": 2,
        }
    )


# ------------------------------------------------------------------------------ EIP-712
EIP712_DOMAIN_NAME = "FlexMarket"
EIP712_DOMAIN_VERSION = "1"
EIP712_PRIMARY_TYPE = "FlexMarketMessage"
EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    EIP712_PRIMARY_TYPE: [
        {"name": "kind", "type": "string"},
        {"name": "messageId", "type": "string"},
        {"name": "signer", "type": "address"},
        {"name": "expiry", "type": "uint64"},
        {"name": "summary", "type": "string"},
        {"name": "bodyHash", "type": "bytes32"},
    ],
}
_DOMAIN_TYPEHASH = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_MESSAGE_TYPEHASH = keccak256(
    b"FlexMarketMessage(string kind,string messageId,address signer,uint64 expiry,string summary,"
    b"bytes32 bodyHash)"
)


@lru_cache(maxsize=64)
def eip712_domain_separator(chain_id: int, verifying_contract: str) -> bytes:
    """The domain separator of one market deployment (``verifying_contract`` 0x-hex)."""
    return keccak256(
        _DOMAIN_TYPEHASH
        + keccak256(EIP712_DOMAIN_NAME.encode())
        + keccak256(EIP712_DOMAIN_VERSION.encode())
        + chain_id.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(verifying_contract.lower().removeprefix("0x"))
    )


def eip712_digest(
    *,
    chain_id: int,
    verifying_contract: str,
    kind: str,
    message_id: str,
    signer: bytes,
    expiry: int,
    summary: str,
    body_hash32: bytes,
) -> bytes:
    """``keccak256(0x1901 || domainSeparator || structHash)`` of one ``FlexMarketMessage``.

    ``signer`` is the 20 raw address bytes; ``expiry`` must fit in uint64 (callers validate).
    ``summary`` is the human-readable line a wallet shows next to the opaque body hash."""
    struct_hash = keccak256(
        _MESSAGE_TYPEHASH
        + keccak256(kind.encode())
        + keccak256(message_id.encode())
        + bytes(12)
        + signer
        + expiry.to_bytes(32, "big")
        + keccak256(summary.encode())
        + body_hash32
    )
    sep = eip712_domain_separator(chain_id, verifying_contract.lower())
    return keccak256(b"\x19\x01" + sep + struct_hash)
