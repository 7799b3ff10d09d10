"""market.web.pages: pages carry a same-origin CSP, vendored assets come from node_modules,
a missing package is a 503 problem naming the fix, and ReDoc's CDN logo is rewritten."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.testclient import TestClient

from market.api import problems
from market.web import pages


def _client(node_modules: Path) -> TestClient:
    app = FastAPI(docs_url=None, redoc_url=None)
    problems.install(app)
    pages.install(app, node_modules=node_modules)
    return TestClient(app)


def test_every_page_is_html_with_a_same_origin_policy() -> None:
    client = _client(pages.NODE_MODULES)
    for route in pages.PAGES:
        r = client.get(route)
        assert r.status_code == 200, route
        assert r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "https://" not in r.text and "http://" not in r.text, route


def test_vendored_assets_are_served_and_redoc_loads_no_cdn_logo() -> None:
    client = _client(pages.NODE_MODULES)
    css = client.get("/vendor/swagger-ui/swagger-ui.css")
    assert css.status_code == 200 and len(css.content) > 10_000
    redoc = client.get("/vendor/redoc/redoc.standalone.js")
    assert redoc.status_code == 200
    assert pages.REDOC_LOGO not in redoc.text and pages.BLANK_SVG in redoc.text
    assert client.get("/vendor/uplot/uPlot.iife.min.js").status_code == 200


def test_a_missing_package_is_a_503_problem_that_says_run_npm_ci(tmp_path: Path) -> None:
    client = _client(tmp_path)  # an empty node_modules
    r = client.get("/vendor/swagger-ui/swagger-ui-bundle.js")
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "npm ci" in r.json()["detail"]
    assert client.get("/docs").status_code == 200  # the page itself still answers
