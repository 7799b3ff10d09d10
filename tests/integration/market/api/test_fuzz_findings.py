"""Server errors the authenticated fuzzer found, each pinned as a named 4xx."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_nul_characters_are_422_not_a_server_error(api, clients) -> None:
    """Found by the authenticated fuzzer on PostgreSQL: a NUL in any text was a 500."""
    operator = clients("operator")
    envelope = operator.sign("participant", {"name": "evil\x00name"})
    answer = api.post("/participants", json=envelope)
    assert answer.status_code == 422
    assert answer.json()["field"] == "body.name"
    assert api.get("/assets", params={"owner": "\x00"}).status_code < 500
    assert api.get("/meter-readings", params={"station_id": "a\x00b"}).status_code < 500
