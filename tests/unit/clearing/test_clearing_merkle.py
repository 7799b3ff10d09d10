"""StandardMerkleTree must give the same roots and proofs as @openzeppelin/merkle-tree 1.x.

The vectors below were produced once with the JS library (``StandardMerkleTree.of(values,
["bytes32","bytes32","address","uint256","bytes32"])``, ``getProof(i)``); the 2-leaf case is
also recomputed by hand from eth_abi + keccak, independent of ``clearing.merkle``.
"""

from __future__ import annotations

import pytest
from eth_abi import encode

from clearing.encoding import hex32, keccak256
from clearing.merkle import StandardMerkleTree, verify_proof

ENC = ["bytes32", "bytes32", "address", "uint256", "bytes32"]


def _b(n: int) -> bytes:
    return n.to_bytes(32, "big")


VALUES = [
    [_b(i + 1), _b(100 + i), "0x" + format(i + 10, "040x"), 1000 * (i + 1), _b(7000 + i)]
    for i in range(5)
]

OZ_VECTORS = {
    1: (
        "0x7754bfca1131df1fb0ecc4a758edb9834dee48097af0e43a2ea4753b5326ecb8",
        [[]],
    ),
    2: (
        "0xbcd416b7b7a07e3c7125178f681d37b87af3011f2d3a9cbcafb6820a6ea27560",
        [
            ["0x2ecc6727c706c2afd73ae6e6dd32817ee4af3dd90ea446ce9a88ef8e99fd1a13"],
            ["0x7754bfca1131df1fb0ecc4a758edb9834dee48097af0e43a2ea4753b5326ecb8"],
        ],
    ),
    3: (
        "0x4b74551eaa825b2b8beaef03c562a6f12e9041a0446f3af20202063eb67fc104",
        [
            ["0xfd21bc801b982d5455faaef6fae8704394842ab4b1420e020196d85cc4184323"],
            [
                "0x337986bd2d1ac3907c7935e7c0d18e85d9f122c17029a8db2e9b21beaa3b2893",
                "0x7754bfca1131df1fb0ecc4a758edb9834dee48097af0e43a2ea4753b5326ecb8",
            ],
            [
                "0x2ecc6727c706c2afd73ae6e6dd32817ee4af3dd90ea446ce9a88ef8e99fd1a13",
                "0x7754bfca1131df1fb0ecc4a758edb9834dee48097af0e43a2ea4753b5326ecb8",
            ],
        ],
    ),
    5: (
        "0x1ab69838a84198a087f6b9be321d79ab0e974036ce528fb02fc5a76725c50c68",
        [
            [
                "0x73da4ad4e3f290658d09cb614a2d91360b84f39e0e3d83a0bede2e8ec2f017c5",
                "0xbc515f472d1d78b5092b8d5174e20a7ed3d4343f3f515275c954c9db4a7a31f1",
            ],
            [
                "0x337986bd2d1ac3907c7935e7c0d18e85d9f122c17029a8db2e9b21beaa3b2893",
                "0xbc904add61709a60d44bfe88ab5670b77415281192503694b5d2d844507c6450",
                "0xbf9bfb969c636cd89addd3692aec7a83972f9b1c0c0e88d0df1ff09390480af2",
            ],
            [
                "0x2ecc6727c706c2afd73ae6e6dd32817ee4af3dd90ea446ce9a88ef8e99fd1a13",
                "0xbc904add61709a60d44bfe88ab5670b77415281192503694b5d2d844507c6450",
                "0xbf9bfb969c636cd89addd3692aec7a83972f9b1c0c0e88d0df1ff09390480af2",
            ],
            [
                "0x7754bfca1131df1fb0ecc4a758edb9834dee48097af0e43a2ea4753b5326ecb8",
                "0xbc515f472d1d78b5092b8d5174e20a7ed3d4343f3f515275c954c9db4a7a31f1",
            ],
            [
                "0xfd21bc801b982d5455faaef6fae8704394842ab4b1420e020196d85cc4184323",
                "0xbf9bfb969c636cd89addd3692aec7a83972f9b1c0c0e88d0df1ff09390480af2",
            ],
        ],
    ),
}


@pytest.mark.parametrize("n", sorted(OZ_VECTORS))
def test_root_and_proofs_match_openzeppelin_js(n: int) -> None:
    root, proofs = OZ_VECTORS[n]
    tree = StandardMerkleTree.of(VALUES[:n], ENC)
    assert hex32(tree.root) == root
    for i in range(n):
        assert [hex32(p) for p in tree.proof(i)] == proofs[i]
        assert verify_proof(tree.root, ENC, VALUES[i], tree.proof(i))


def test_leaf_at_is_the_hash_of_the_value_at_that_index() -> None:
    tree = StandardMerkleTree.of(VALUES, ENC)
    for i, value in enumerate(VALUES):
        assert tree.leaf_at(i) == tree.leaf_hash(value)
    with pytest.raises(IndexError):
        tree.leaf_at(len(VALUES))


def test_two_leaves_by_hand() -> None:
    leaves = [keccak256(keccak256(encode(ENC, v))) for v in VALUES[:2]]
    lo, hi = sorted(leaves)
    assert StandardMerkleTree.of(VALUES[:2], ENC).root == keccak256(lo + hi)
    assert StandardMerkleTree.of(VALUES[:1], ENC).root == leaves[0]


def test_simple_address_amount_vector() -> None:
    tree = StandardMerkleTree.of(
        [["0x1111111111111111111111111111111111111111", 5 * 10**18]], ["address", "uint256"]
    )
    assert hex32(tree.root) == (
        "0xeb02c421cfa48976e66dfb29120745909ea3a0f843456c263cf8f1253483e283"
    )


def test_tampered_value_or_proof_fails() -> None:
    tree = StandardMerkleTree.of(VALUES, ENC)
    bad = list(VALUES[2])
    bad[3] += 1
    assert not verify_proof(tree.root, ENC, bad, tree.proof(2))
    assert not verify_proof(tree.root, ENC, VALUES[2], tree.proof(3))


def test_empty_tree_refused() -> None:
    with pytest.raises(ValueError, match="non-zero"):
        StandardMerkleTree.of([], ENC)
