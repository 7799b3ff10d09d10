"""Bundle publication: byte-exact, idempotent, and never silently replaced."""

from __future__ import annotations

import pytest

from clearing.encoding import hex32, keccak256
from market.bundles import BundleStore
from market.errors import Conflict, NotFound
from market.store.db import make_engine, upgrade


@pytest.fixture
def store(tmp_path) -> BundleStore:
    url = f"sqlite:///{tmp_path}/b.db"
    upgrade(url)
    return BundleStore(make_engine(url), tmp_path / "bundles")


def test_publish_and_read_back_byte_exact(store: BundleStore) -> None:
    content = b'{"b":1,"a":"\\u00e9"}'
    digest = store.publish("s1", "input", content)
    assert digest == hex32(keccak256(content))
    assert store.get("s1", "input") == content
    assert store.path("s1", "input").read_bytes() == content
    assert store.publish("s1", "input", content) == digest  # same bytes: no-op


def test_different_bytes_for_published_bundle_refused(store: BundleStore) -> None:
    store.publish("s1", "result", b"{}")
    with pytest.raises(Conflict):
        store.publish("s1", "result", b"{ }")
    assert store.get("s1", "result") == b"{}"


def test_missing_bundle_is_not_found(store: BundleStore) -> None:
    with pytest.raises(NotFound):
        store.get("s2", "delivery")
