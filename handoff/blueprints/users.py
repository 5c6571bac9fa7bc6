"""Console users: creating and listing them (admins), and changing a password (docs/console.md)."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.accounts import check_password
from handoff.blueprints.console_common import accounts_of, console_operation
from handoff.errors import BadRequest, Forbidden, json_object
from handoff.identity import STAFF, Role, require
from handoff.inbound import BlankText, InboundError, normalise_text
from handoff.openapi_docs import TEAM_READ, TEAM_WRITE, array, documented, obj, string

bp = Blueprint("users")


@bp.post("/api/users")
@console_operation("post")
@documented(
    security=TEAM_WRITE,
    ok=201,
    body=obj(
        {
            "id": string(pattern=r"^[a-z0-9_.@-]{1,64}$"),
            "name": string(nullable=True),
            "password": string(),
            "role": string(enum=["agent", "supervisor", "admin", "editor"]),
            "agent_id": string(nullable=True, description="For agents"),
            "language": string(nullable=True, enum=["en", "zh"]),
        },
        required=["id", "password", "role"],
    ),
    errors=(400, 401, 403, 409),
)
async def create_user(request: Request) -> HTTPResponse:
    """Create a console user: {id, name, password, role, agent_id (agents), language}."""
    await require(request, Role.ADMIN)
    body = json_object(request)
    try:
        role = Role(str(body.get("role", "")))
    except ValueError:
        raise BadRequest("'role' must be agent, supervisor, admin or editor", field="role") from None
    for field in ("name", "agent_id", "language"):
        if body.get(field) is not None and not isinstance(body[field], str):
            raise BadRequest(f"'{field}' must be a string", field=field)
    user = await accounts_of(request).create_user(
        body.get("id"),  # type: ignore[arg-type]  # validated by create_user
        check_password(body.get("password")),
        role,
        name=_clean_display_name(body.get("name")),
        agent_id=body.get("agent_id"),
        language=body.get("language") or "en",
    )
    return json(user.as_dict(), status=201)


def _clean_display_name(name: str | None) -> str | None:
    """A display name as colleagues (and, in quick replies, customers) read it: normalised like customer
    text and on one line. None, so the user id is shown, when nothing visible is left; a lone surrogate
    is a 400 naming 'name'."""
    if not name:
        return None
    try:
        return " ".join(normalise_text(name).split())
    except BlankText:
        return None
    except InboundError as exc:  # a 400 (handoff/errors.py) that names the field
        raise type(exc)(str(exc), "name") from None


@bp.get("/api/users")
@console_operation("get")
@documented(security=TEAM_READ, ok_schema=array(obj()), errors=(401, 403))
async def list_users(request: Request) -> HTTPResponse:
    await require(request, Role.ADMIN)
    return json([u.as_dict() for u in await accounts_of(request).users()])


@bp.put("/api/users/<user_id>/password")
@console_operation("put")
@documented(
    security=TEAM_WRITE,
    body=obj(
        {"password": string(), "current_password": string(description="Required unless an admin sets it")},
        required=["password"],
    ),
    errors=(400, 401, 403, 404),
)
async def change_password(request: Request, user_id: str) -> HTTPResponse:
    """A user changes their own password (with `current_password`); an admin sets anyone's. Every session
    of that user ends."""
    who = await require(request, Role.AGENT, Role.EDITOR, *STAFF)
    body = json_object(request)
    accounts = accounts_of(request)
    if who.role is not Role.ADMIN:
        if who.user_id != user_id:
            raise Forbidden("you can only change your own password")
        current = body.get("current_password")
        if not isinstance(current, str) or not await accounts.verify_password(user_id, current):
            raise Forbidden("'current_password' is wrong")
    await accounts.set_password(user_id, check_password(body.get("password")))
    return json({"user_id": user_id, "sessions_ended": True})
