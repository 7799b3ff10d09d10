"""Runtime code against the build: immutables masked, any other byte is a mismatch."""

from __future__ import annotations

from adapters.chain.toolchain import Artifact
from adapters.chain.verify_code import compare_code, mask

BUILT = bytes.fromhex("6080" + "00" * 4 + "60aa" + "00" * 2 + "56")  # two immutable slots


def _artifact(code: bytes = BUILT) -> Artifact:
    return Artifact(
        name="C",
        source="contracts/C.sol",
        abi=[],
        bytecode="0x",
        deployed_bytecode="0x" + code.hex(),
        immutable_ranges=((2, 4), (8, 2)),
    )


def _deployed(first: bytes = b"\x11\x22\x33\x44", second: bytes = b"\x55\x66") -> bytes:
    return BUILT[:2] + first + BUILT[6:8] + second + BUILT[10:]


def test_mask_zeroes_only_the_ranges_and_ignores_ranges_past_the_end() -> None:
    assert mask(b"\x01\x02\x03\x04", [(1, 2), (9, 3)]) == b"\x01\x00\x00\x04"


def test_code_with_any_immutable_values_matches() -> None:
    assert compare_code(_artifact(), _deployed()) is None
    assert compare_code(_artifact(), BUILT) is None


def test_a_changed_byte_outside_the_immutables_is_a_mismatch_naming_the_offset() -> None:
    tampered = bytearray(_deployed())
    tampered[7] ^= 0xFF
    assert compare_code(_artifact(), bytes(tampered)) == "code differs from the build at byte 7"


def test_no_code_or_another_length_is_a_mismatch() -> None:
    assert compare_code(_artifact(), b"") == "no code at this address"
    assert compare_code(_artifact(), _deployed() + b"\x00") == (
        f"code is {len(BUILT) + 1} bytes, the build's is {len(BUILT)}"
    )


def test_without_immutable_ranges_a_filled_slot_is_a_mismatch() -> None:
    plain = Artifact("C", "contracts/C.sol", [], "0x", "0x" + BUILT.hex())
    assert compare_code(plain, _deployed()) == "code differs from the build at byte 2"


def test_the_real_build_lists_its_immutables_as_zeroed_32_byte_slots() -> None:
    """Immutables are 32-byte slots; each address of FlexMarket's linked libraries (issue 19)
    is a zeroed 20-byte one, also masked, and the creation code names it for linking."""
    from adapters.chain.toolchain import compile_contracts

    artifacts = compile_contracts()
    for name in ("FlexMarket", "FlexPositions"):
        artifact = artifacts[name]
        code = bytes.fromhex(artifact.deployed_bytecode.removeprefix("0x"))
        assert artifact.immutable_ranges, name
        for start, length in artifact.immutable_ranges:
            assert length in (20, 32) and code[start : start + length] == bytes(length)
    links = artifacts["FlexMarket"].link_references
    assert links and {lib for lib, _start, _length in links} == {
        "NettingLedger",
        "SignedWithdrawals",
    }
    assert all(length == 20 for _lib, _start, length in links)
    ranges = artifacts["FlexMarket"].immutable_ranges
    assert sum(1 for _start, length in ranges if length == 20) == len(links)


class _NodeAnswering:
    """A node (outside this process) whose eth_getCode answer is not code."""

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def rpc(self, method: str, params: list[object]) -> object:
        return self.answer


def test_a_node_answering_no_hex_is_a_chain_error_and_an_audit_error_not_a_crash() -> None:
    import pytest

    from adapters.chain.revert import ChainError
    from adapters.chain.verify_code import verify_contracts
    from market.audit.check_code import check_market_code

    for answer in ("0xzz", None, {"code": "0x00"}):
        node = _NodeAnswering(answer)
        with pytest.raises(ChainError, match="not hex"):
            verify_contracts(node, [("C", "0x" + "11" * 20)], {"C": _artifact()})  # type: ignore[arg-type]
        node.artifacts = {"FlexMarket": _artifact()}  # type: ignore[attr-defined]
        res = check_market_code(node, "0x" + "11" * 20)  # type: ignore[arg-type]
        assert res.status == "error" and res.problems[0].code == "audit.could_not_run"
