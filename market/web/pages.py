"""Routes for the HTML pages, our static files and the vendored npm front-end assets.

Why here and not a CDN: the service must work on a machine without internet (a DSO's control
room, CI), so Swagger UI, ReDoc, ethers and uPlot are served from ``node_modules`` (installed
from the lockfile by ``npm ci``), and every page carries a Content-Security-Policy that lets the
browser load nothing from another origin.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from market.errors import FlexMarketError

STATIC_DIR = Path(__file__).resolve().parent / "static"
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"

#: URL name -> folder inside node_modules that the pages load files from.
VENDOR = {
    "swagger-ui": "swagger-ui-dist",
    "redoc": "redoc/bundles",
    "uplot": "uplot/dist",
    "ethers": "ethers/dist",
}

#: Route -> page file. ``/docs`` and ``/redoc`` replace FastAPI's CDN-based pages.
PAGES = {
    "/": "index.html",
    "/dso": "dso.html",
    "/fsp": "fsp.html",
    "/auditor": "auditor.html",
    "/docs": "docs.html",
    "/redoc": "redoc.html",
}

#: Same origin only; inline styles are allowed because Swagger UI and ReDoc set them, blob
#: workers because ReDoc's search runs in one. No inline or remote scripts.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


#: ReDoc's sidebar footer loads its logo from this URL unconditionally (no option turns it
#: off); the served bundle points it at an inline blank image instead.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
BLANK_SVG = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E"


class AssetsMissing(FlexMarketError):
    """A front-end package is not installed (run ``npm ci``)."""

    status = 503
    slug = "assets-missing"


def _page(name: str) -> FileResponse:
    return FileResponse(
        STATIC_DIR / name,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


def _add_page(app: FastAPI, route: str, name: str) -> None:
    def page() -> FileResponse:
        return _page(name)

    page.__doc__ = f"The {route} page (HTML)."
    app.add_api_route(route, page, methods=["GET"], include_in_schema=False, name=f"page:{name}")


def _missing(folder: str) -> object:
    def vendor_missing(path: str) -> None:
        raise AssetsMissing(
            f"node_modules/{folder} is not installed; run `npm ci` in the repository root",
            field="path",
        )

    return vendor_missing


@lru_cache(maxsize=2)
def _redoc_bundle(path: Path) -> bytes:
    text = path.read_text(encoding="utf-8")
    return text.replace(REDOC_LOGO, BLANK_SVG).encode("utf-8")


def _add_redoc_bundle(app: FastAPI, node_modules: Path) -> None:
    path = node_modules / VENDOR["redoc"] / "redoc.standalone.js"
    if not path.is_file():
        return

    def redoc_standalone() -> Response:
        return Response(_redoc_bundle(path), media_type="text/javascript; charset=utf-8")

    app.add_api_route(
        "/vendor/redoc/redoc.standalone.js",
        redoc_standalone,
        methods=["GET"],
        include_in_schema=False,
    )


def install(app: FastAPI, *, node_modules: Path = NODE_MODULES) -> None:
    """Add the pages, ``/static`` and ``/vendor/<package>`` to ``app``."""
    _add_redoc_bundle(app, node_modules)  # before the mount, so that it wins
    for route, name in PAGES.items():
        _add_page(app, route, name)
    app.add_api_route(
        "/index.html",
        lambda: RedirectResponse("/"),
        methods=["GET"],
        include_in_schema=False,
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for name, folder in VENDOR.items():
        where = node_modules / folder
        if where.is_dir():
            app.mount(f"/vendor/{name}", StaticFiles(directory=where), name=f"vendor:{name}")
        else:
            app.add_api_route(
                f"/vendor/{name}/{{path:path}}",
                _missing(folder),  # type: ignore[arg-type]
                methods=["GET"],
                include_in_schema=False,
            )
