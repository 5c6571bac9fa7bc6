"""The agent console's page: its HTML, its style and its ES modules (docs/console.md)."""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_ext.extensions.openapi import openapi

from handoff.blueprints.console_common import console_operation
from handoff.static_files import serve_file

bp = Blueprint("console_page")

# The page's Content-Security-Policy (no inline script or style, so a stored payload that slipped past
# escaping still could not run) and the other security headers come from handoff/security_headers.py.
STATIC = Path(__file__).resolve().parent.parent / "static"
JAVASCRIPT = "text/javascript; charset=utf-8"  # the type module scripts are served with (RFC 9239)


async def static_file(name: str, mime: str, *, no_store: bool = False) -> HTTPResponse:
    return await serve_file(STATIC / name, mime, no_store=no_store)


@bp.get("/console")
@console_operation("get")
async def console_page(request: Request) -> HTTPResponse:
    """The console for agents, supervisors, admins and editors."""
    return await static_file("console.html", "text/html; charset=utf-8", no_store=True)


def _add_module_route(blueprint: Blueprint, folder: str, relative: str) -> None:
    @openapi.exclude()  # a file of the page, not an API operation
    async def module(request: Request) -> HTTPResponse:
        return await static_file(f"{folder}/{relative}", JAVASCRIPT)

    name = f"{folder}_module_" + "".join(c if c.isalnum() else "_" for c in relative)
    blueprint.add_route(module, f"/{folder}/{relative}", methods=["GET"], name=name)


def add_module_routes(blueprint: Blueprint, folder: str) -> None:
    """Each module of static/<folder>/ at the same path under /<folder>/ (the console's, the studio's). One
    route per file, not a path parameter: nothing outside that directory can be asked for, and each module
    URL is a route of its own that the authorisation matrix tests. They stay out of the API reference."""
    modules = STATIC / folder
    for script in sorted(modules.rglob("*.js")):
        _add_module_route(blueprint, folder, script.relative_to(modules).as_posix())


add_module_routes(bp, "console")


@bp.get("/console/console.css")
@console_operation("get")
async def console_css(request: Request) -> HTTPResponse:
    return await static_file("console.css", "text/css; charset=utf-8")
