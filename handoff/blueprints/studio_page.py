"""The studio's page: its HTML, its style and its ES modules (docs/studio.md).

The page is public like the console's: it holds only the sign-in form and code, and every datum it shows
comes from the studio's JSON API, which checks the role of each call (editors and admins change content,
supervisors read). Its Content-Security-Policy is the console's (handoff/security_headers.py): no inline
script or style, connections only to this service.
"""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, file
from sanic_ext.extensions.openapi import openapi

bp = Blueprint("studio_page")

STATIC = Path(__file__).resolve().parent.parent / "static"
MODULES = STATIC / "studio"  # the page's ES modules, loaded by the browser itself (no build step)
JAVASCRIPT = "text/javascript; charset=utf-8"  # the type module scripts are served with (RFC 9239)


async def _static(name: str, mime: str, *, no_store: bool = False) -> HTTPResponse:
    # Cache-Control comes from file() alone ("no-cache" unless no_store): a header of our own would be
    # added beside it, not instead of it.
    return await file(STATIC / name, mime_type=mime, no_store=no_store)


@bp.get("/studio")
@openapi.exclude()  # a page, not an API operation
async def studio_page(request: Request) -> HTTPResponse:
    """The studio for editors and admins (supervisors read)."""
    return await _static("studio.html", "text/html; charset=utf-8", no_store=True)


def _add_module_route(relative: str) -> None:
    @openapi.exclude()  # a file of the page, not an API operation
    async def module(request: Request) -> HTTPResponse:
        return await _static(f"studio/{relative}", JAVASCRIPT)

    name = "studio_module_" + "".join(c if c.isalnum() else "_" for c in relative)
    bp.add_route(module, f"/studio/{relative}", methods=["GET"], name=name)


def _add_module_routes() -> None:
    """Each module at the same path under /studio/ as under static/studio/. One route per file, not a path
    parameter: nothing outside that directory can be asked for, and each module URL is a route of its own
    that the authorisation matrix can test."""
    for script in sorted(MODULES.rglob("*.js")):
        _add_module_route(script.relative_to(MODULES).as_posix())


_add_module_routes()


@bp.get("/studio/studio.css")
@openapi.exclude()
async def studio_css(request: Request) -> HTTPResponse:
    return await _static("studio.css", "text/css; charset=utf-8")
