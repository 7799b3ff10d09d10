"""OpenZeppelin StandardMerkleTree in Python; roots and proofs match @openzeppelin/merkle-tree.

Construction (same as the JS library, ``sortLeaves: true``):

* leaf hash = ``keccak256(keccak256(abi.encode(leaf_encoding, value)))`` (double hashing stops
  second-preimage attacks with 64-byte leaves);
* leaves are sorted ascending by hash and laid out as a complete binary tree in one array,
  last leaf first: ``tree[len-1-i] = sorted_leaf[i]``; node ``i`` has children ``2i+1``, ``2i+2``;
* inner node = ``keccak256(min(a, b) || max(a, b))`` (sorted pairs), so OZ ``MerkleProof.verify``
  accepts the proofs;
* a proof lists sibling hashes from the leaf up to (excluding) the root.

An empty tree is refused, as in the JS library.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import encode as abi_encode  # type: ignore[attr-defined]

from clearing.encoding import keccak256

__all__ = ["StandardMerkleTree", "hash_pair", "leaf_hash", "process_proof", "verify_proof"]


def leaf_hash(leaf_encoding: Sequence[str], value: Sequence[Any]) -> bytes:
    """Double keccak of the ABI encoding of one leaf value."""
    return keccak256(keccak256(abi_encode(list(leaf_encoding), list(value))))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Commutative inner-node hash (OZ ``Hashes.commutativeKeccak256``)."""
    return keccak256(a + b) if a < b else keccak256(b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Fold a proof onto a leaf hash, returning the implied root."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify_proof(
    root: bytes, leaf_encoding: Sequence[str], value: Sequence[Any], proof: Sequence[bytes]
) -> bool:
    """True when ``value`` with ``proof`` reproduces ``root``."""
    return process_proof(leaf_hash(leaf_encoding, value), proof) == root


class StandardMerkleTree:
    """A built tree: ``root``, per-value ``proof(index)``; index is the caller's value order."""

    def __init__(
        self,
        tree: list[bytes],
        values: list[tuple[Any, ...]],
        tree_indices: list[int],
        leaf_encoding: tuple[str, ...],
    ) -> None:
        self._tree = tree
        self.values = values
        self._tree_indices = tree_indices
        self.leaf_encoding = leaf_encoding

    @classmethod
    def of(
        cls, values: Sequence[Sequence[Any]], leaf_encoding: Sequence[str]
    ) -> StandardMerkleTree:
        """Build the tree exactly as ``StandardMerkleTree.of(values, leafEncoding)`` in OZ JS."""
        if len(values) == 0:
            raise ValueError("values: expected a non-zero number of leaves")
        encoding = tuple(leaf_encoding)
        vals = [tuple(v) for v in values]
        hashed = sorted(
            ((leaf_hash(encoding, v), i) for i, v in enumerate(vals)), key=lambda hv: hv[0]
        )
        n = len(hashed)
        size = 2 * n - 1
        tree: list[bytes] = [b""] * size
        for i, (h, _) in enumerate(hashed):
            tree[size - 1 - i] = h
        for i in range(size - 1 - n, -1, -1):
            tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
        tree_indices = [0] * n
        for i, (_, value_index) in enumerate(hashed):
            tree_indices[value_index] = size - 1 - i
        return cls(tree, vals, tree_indices, encoding)

    @property
    def root(self) -> bytes:
        return self._tree[0]

    def __len__(self) -> int:
        return len(self.values)

    def leaf_hash(self, value: Sequence[Any]) -> bytes:
        return leaf_hash(self.leaf_encoding, value)

    def leaf_at(self, index: int) -> bytes:
        """The hash of the value at ``index`` as the tree holds it (no re-encoding: a receipt
        per leaf of a large tree would otherwise hash every value twice more)."""
        if not 0 <= index < len(self.values):
            raise IndexError(f"index {index} outside 0..{len(self.values) - 1}")
        return self._tree[self._tree_indices[index]]

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes for the value at ``index`` (its position in the input values)."""
        if not 0 <= index < len(self.values):
            raise IndexError(f"index {index} outside 0..{len(self.values) - 1}")
        node = self._tree_indices[index]
        proof: list[bytes] = []
        while node > 0:
            sibling = node + 1 if node % 2 == 1 else node - 1
            proof.append(self._tree[sibling])
            node = (node - 1) // 2
        return proof

    def verify(self, index: int, proof: Sequence[bytes] | None = None) -> bool:
        p = self.proof(index) if proof is None else proof
        return process_proof(self.leaf_hash(self.values[index]), p) == self.root
