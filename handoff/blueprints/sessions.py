"""The console's sign-in sessions: signing in, the current session and signing out (docs/console.md)."""

from __future__ import annotations

import logging

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.accounts import SESSION_COOKIE
from handoff.blueprints.console_common import accounts_of, console_operation, same_origin
from handoff.errors import BadRequest, Forbidden, Unauthorized, json_object
from handoff.identity import principal
from handoff.openapi_docs import SESSION_READ, SESSION_WRITE, documented, obj, string

logger = logging.getLogger(__name__)

bp = Blueprint("sessions")

LOGINS_PER_MINUTE = 30  # per client address


@bp.post("/api/session")
@console_operation("post")
@documented(
    security=None,
    body=obj({"user_id": string(), "password": string()}, required=["user_id", "password"]),
    errors=(400, 401, 403, 429),
    ok_description="Signed in: the session cookie is set; the body holds the CSRF token",
)
async def login(request: Request) -> HTTPResponse:
    """Sign in with {user_id, password}: sets the session cookie and returns the CSRF token.

    Accepts only JSON from this origin, so another site cannot sign a visitor in to an account of its
    choosing (login CSRF): a cross-site form cannot send JSON, and cross-site fetches carry an Origin."""
    if not same_origin(request):
        raise Forbidden("sign-in is only accepted from the console's own origin")
    if (request.content_type or "").split(";")[0].strip() != "application/json":
        raise BadRequest("send the credentials as application/json")
    # Per address as well as per user id: cycling user ids must not buy unlimited password hashing.
    await request.app.ctx.limiter.check("login", request.remote_addr or request.ip, LOGINS_PER_MINUTE, 60)
    body = json_object(request)
    token, session = await accounts_of(request).login(body.get("user_id"), body.get("password"))
    response = json(session.as_dict())
    response.add_cookie(
        SESSION_COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.app.ctx.settings.cookie_secure,
    )  # no Max-Age: the server's sliding idle timeout decides when a session ends
    logger.info("hub.console.login", extra={"user_id": session.user.user_id})
    return response


@bp.get("/api/session")
@console_operation("get")
@documented(security=SESSION_READ, errors=(401,))
async def current_session(request: Request) -> HTTPResponse:
    """The signed-in user and the session's CSRF token (for a page that was reloaded)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthorized("not signed in")
    return json((await accounts_of(request).session(cookie)).as_dict())


@bp.delete("/api/session")
@console_operation("delete")
@documented(security=SESSION_WRITE, errors=(403,))
async def logout(request: Request) -> HTTPResponse:
    """Ends the session (CSRF token required while it lives); always clears the cookie."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            await principal(request)
        except Unauthorized:
            pass  # already ended: nothing to protect, only the stale cookie to clear
        else:
            await accounts_of(request).logout(cookie)
    response = json({"signed_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
