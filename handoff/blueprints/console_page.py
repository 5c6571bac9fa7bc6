"""The agent console's page: its HTML, its style and its ES modules (docs/console.md)."""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, file
from sanic_ext.extensions.openapi import openapi

from handoff.blueprints.console_common import console_operation

bp = Blueprint("console_page")

# The page's Content-Security-Policy (no inline script or style, so a stored payload that slipped past
# escaping still could not run) and the other security headers come from handoff/security_headers.py.
STATIC = Path(__file__).resolve().parent.parent / "static"
MODULES = STATIC / "console"  # the page's ES modules, loaded by the browser itself (no build step)
JAVASCRIPT = "text/javascript; charset=utf-8"  # the type module scripts are served with (RFC 9239)


async def _static(name: str, mime: str, *, no_store: bool = False) -> HTTPResponse:
    # Cache-Control comes from file() alone ("no-cache" unless no_store): a header of our own would be
    # added beside it, not instead of it.
    return await file(STATIC / name, mime_type=mime, no_store=no_store)


@bp.get("/console")
@console_operation("get")
async def console_page(request: Request) -> HTTPResponse:
    """The console for agents, supervisors, admins and editors."""
    return await _static("console.html", "text/html; charset=utf-8", no_store=True)


def _add_module_route(relative: str) -> None:
    @openapi.exclude()  # a file of the page, not an API operation
    async def module(request: Request) -> HTTPResponse:
        return await _static(f"console/{relative}", JAVASCRIPT)

    name = "console_module_" + "".join(c if c.isalnum() else "_" for c in relative)
    bp.add_route(module, f"/console/{relative}", methods=["GET"], name=name)


def _add_module_routes() -> None:
    """Each module at the same path under /console/ as under static/console/. One route per file, not a path
    parameter: nothing outside that directory can be asked for, and each module URL is a route of its own
    that the authorisation matrix tests. They stay out of the API reference."""
    for script in sorted(MODULES.rglob("*.js")):
        _add_module_route(script.relative_to(MODULES).as_posix())


_add_module_routes()


@bp.get("/console/console.css")
@console_operation("get")
async def console_css(request: Request) -> HTTPResponse:
    return await _static("console.css", "text/css; charset=utf-8")
