"""The studio's page: its HTML, its style and its ES modules (docs/studio.md).

The page is public like the console's: it holds only the sign-in form and code, and every datum it shows
comes from the studio's JSON API, which checks the role of each call (editors and admins change content,
supervisors read). Its Content-Security-Policy is the console's (handoff/security_headers.py): no inline
script or style, connections only to this service.
"""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_ext.extensions.openapi import openapi

from handoff.blueprints.console_page import add_module_routes, static_file

bp = Blueprint("studio_page")


@bp.get("/studio")
@openapi.exclude()  # a page, not an API operation
async def studio_page(request: Request) -> HTTPResponse:
    """The studio for editors and admins (supervisors read)."""
    return await static_file("studio.html", "text/html; charset=utf-8", no_store=True)


add_module_routes(bp, "studio")  # its ES modules, loaded by the browser itself (no build step)


@bp.get("/studio/studio.css")
@openapi.exclude()
async def studio_css(request: Request) -> HTTPResponse:
    return await static_file("studio.css", "text/css; charset=utf-8")
