"""Every operation of the API documents its successful answer with a schema."""

from __future__ import annotations

from typing import Any, cast

import pytest

from market.api.app import create_app
from market.settings import Settings

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    # The document is built from the routes alone; no store, chain or issuer is touched.
    none = cast(Any, None)
    app = create_app(core=none, issuer=none, bundles=none, settings=Settings())
    return app.openapi()


def test_every_operation_has_a_2xx_response_with_a_schema(openapi: dict[str, Any]) -> None:
    missing = []
    operations = 0
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            operations += 1
            schemas = [
                media.get("schema")
                for status, response in operation["responses"].items()
                if status.startswith("2")
                for media in response.get("content", {}).values()
            ]
            if not any(schemas):
                missing.append(f"{method.upper()} {path}")
    assert operations >= 30
    assert missing == []


def test_resource_answers_name_their_model(openapi: dict[str, Any]) -> None:
    """Spot checks: the answers are the resource families' public shapes, not bare objects."""

    def ok_schema(path: str, method: str, status: str = "200") -> dict[str, Any]:
        response = openapi["paths"][path][method]["responses"][status]
        return cast(dict[str, Any], response["content"]["application/json"]["schema"])

    assert ok_schema("/assets/{asset_id}", "get")["$ref"].endswith("/AssetPublic")
    assert ok_schema("/sessions", "post", "201")["$ref"].endswith("/SessionPublic")
    offers = ok_schema("/sessions/{session_id}/offers", "get")
    assert offers["items"]["$ref"].endswith("MessagePublic_FlexOffer_")
    readings = ok_schema("/meter-readings", "get")
    assert readings["items"]["$ref"].endswith("/MeterReadingPublic")
