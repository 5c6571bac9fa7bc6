"""Tickets in the console: create on demand, list, read, assign and update.

Agents see tickets in their skills and tickets assigned to them; they change their own tickets and
unassigned ones in their skills, and assign only themselves. Supervisors and admins see and change all.
"""

from __future__ import annotations

from functools import partial

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.blueprints.conversations import holds
from handoff.errors import BadRequest, Forbidden, json_object
from handoff.hub import Hub
from handoff.identity import STAFF, Principal, Role, require
from handoff.openapi_docs import TEAM_READ, TEAM_WRITE, documented, integer, obj, query, string
from handoff.packet import CONVERSATION_ID
from handoff.routing.engine import NotFound, RoutingEngine, check_agent_id
from handoff.tickets.model import Priority, TicketStatus, Viewer
from handoff.tickets.rules import (
    CUSTOMER_ID_MAX,
    DESCRIPTION_MAX,
    MAX_LIMIT,
    MAX_OFFSET,
    NOTE_MAX,
    SUBJECT_MAX,
    check_access,
    check_edit,
    check_skill,
    validate_changes,
    validate_new,
)
from handoff.tickets.store import TicketStore

bp = Blueprint("tickets", url_prefix="/api/tickets")

LIST_ARGS = frozenset({"status", "skill", "assignee", "conversation_id", "limit", "offset"})


def _store(request: Request) -> TicketStore:
    store: TicketStore = request.app.ctx.tickets
    return store


async def _viewer(request: Request) -> tuple[Principal, Viewer]:
    who = await require(request, Role.AGENT, *STAFF)
    if who.is_staff:
        return who, Viewer(who.user_id, who.agent_id)
    engine: RoutingEngine = request.app.ctx.routing
    try:
        skills = frozenset((await engine.get_agent(str(who.agent_id))).skills)
    except NotFound:  # the agent record was removed; their token still names them
        skills = frozenset()
    return who, Viewer(who.user_id, who.agent_id, skills)


def _int_arg(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer", field=name) from None
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be in {low}..{high}", field=name)
    return value


@bp.post("/")
@documented(
    security=TEAM_WRITE,
    ok=201,
    body=obj(
        {
            "subject": string(maxLength=SUBJECT_MAX),
            "description": string(maxLength=DESCRIPTION_MAX),
            "conversation_id": string(pattern=r"^[A-Za-z0-9_.:@+-]{1,128}$", maxLength=128),
            "customer_id": string(maxLength=CUSTOMER_ID_MAX),
            "language": string(enum=["en", "zh"]),
            "intent": string(pattern=r"^[A-Za-z0-9_.:/-]{1,64}$"),
            "category": string(pattern=r"^[a-z][a-z0-9_]{0,39}$"),
            "skill": string(pattern=r"^[a-z][a-z0-9_]{0,39}$"),
            "priority": string(enum=list(Priority)),
            "assignee": string(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", maxLength=64),
        },
        required=["subject"],
    ),
    errors=(400, 401, 403, 404),
)
async def create_ticket(request: Request) -> HTTPResponse:
    """Create a ticket on demand.

    Body: `subject` (required), `description`, `conversation_id`, `customer_id`, `language` (en|zh),
    `intent`, `category`, `skill`, `priority` (low|normal|high|urgent), `assignee`. With a
    `conversation_id`, omitted fields are filled from the conversation and its handoff packet; the skill
    otherwise comes from the routing configuration's intent mapping. Agents may assign only themselves.
    Returns 201 with the ticket.
    """
    who, viewer = await _viewer(request)
    new = validate_new(json_object(request), _store(request).config)
    if not viewer.is_staff and new.assignee not in (None, who.agent_id):
        raise Forbidden("agents can assign tickets only to themselves")
    if new.conversation_id and not viewer.is_staff:
        # The ticket copies the conversation's packet: an agent may only file one for a chat they hold,
        # and an unknown id answers like someone else's, so ids cannot be probed.
        hub: Hub = request.app.ctx.hub
        if not holds(who, await hub.fields(new.conversation_id, "owner", "agent", "offer_agent")):
            raise Forbidden("this conversation is not offered to or held by you")
    ticket = await _store(request).create(new, who.user_id)
    return json(ticket.as_dict(), status=201)


@bp.get("/")
@documented(
    security=TEAM_READ,
    params=[
        query("status", string(), "One or a comma list of open, pending, solved, closed"),
        query("skill", string(pattern=r"^[a-z][a-z0-9_]{0,39}$")),
        query("assignee", string(), "`me`, `none` or an agent id"),
        query("conversation_id", string(pattern=r"^[A-Za-z0-9_.:@+-]{1,128}$", maxLength=128)),
        query("limit", integer(minimum=1, maximum=MAX_LIMIT), "Default 50"),
        query("offset", integer(minimum=0, maximum=MAX_OFFSET), "Default 0"),
    ],
)
async def list_tickets(request: Request) -> HTTPResponse:
    """Tickets newest first, without their history.

    Query: `status` (one or a comma list of open, pending, solved, closed), `skill`, `assignee`
    (`me`, `none` or an agent id), `conversation_id`, `limit` (1-200, default 50), `offset`.
    Agents get only tickets in their skills or assigned to them. Returns `{tickets, total, limit, offset}`.
    """
    who, viewer = await _viewer(request)
    unknown = sorted(set(request.args) - LIST_ARGS)
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}", field=unknown[0])
    statuses = [s for s in (request.args.get("status") or "").split(",") if s]
    for status in statuses:
        if status not in list(TicketStatus):
            raise BadRequest(f"'status' must be among {', '.join(TicketStatus)}", field="status")
    skill = request.args.get("skill")
    if skill is not None:
        check_skill(skill, _store(request).config)
    assignee, unassigned = request.args.get("assignee"), False
    if assignee == "none":
        assignee, unassigned = None, True
    elif assignee == "me":
        if not who.agent_id:
            raise BadRequest("'assignee=me' needs an agent token", field="assignee")
        assignee = who.agent_id
    elif assignee is not None:
        check_agent_id(assignee, field="assignee")
    conversation_id = request.args.get("conversation_id")
    if conversation_id is not None and not CONVERSATION_ID.match(conversation_id):
        raise BadRequest("a conversation id is 1-128 letters, digits or _.:@+-", field="conversation_id")
    limit = _int_arg(request, "limit", 50, 1, MAX_LIMIT)
    offset = _int_arg(request, "offset", 0, 0, MAX_OFFSET)
    tickets, total = await _store(request).find(
        viewer=viewer,
        statuses=statuses,
        skill=skill,
        assignee=assignee,
        unassigned=unassigned,
        conversation_id=conversation_id,
        limit=limit,
        offset=offset,
    )
    return json(
        {
            "tickets": [t.as_dict(history=False) for t in tickets],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@bp.get("/<ticket_id>")
@documented(security=TEAM_READ, errors=(401, 403, 404))
async def get_ticket(request: Request, ticket_id: str) -> HTTPResponse:
    """One ticket with its history: `[{at, actor, action, changes: {field: [old, new]}, note}]`.

    404 `unknown_ticket`; 403 for an agent when the ticket is neither in their skills nor theirs.
    """
    _, viewer = await _viewer(request)
    ticket = await _store(request).get(ticket_id)
    check_access(viewer, ticket)
    return json(ticket.as_dict())


@bp.patch("/<ticket_id>")
@documented(
    security=TEAM_WRITE,
    body=obj(
        {
            "status": string(enum=list(TicketStatus)),
            "assignee": string(nullable=True, pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$"),
            "priority": string(enum=list(Priority)),
            "skill": string(pattern=r"^[a-z][a-z0-9_]{0,39}$"),
            "note": string(maxLength=NOTE_MAX),
        },
        minProperties=1,
    ),
    errors=(400, 401, 403, 404, 409),
)
async def update_ticket(request: Request, ticket_id: str) -> HTTPResponse:
    """Change `status`, `assignee` (agent id or null), `priority` or `skill`, optionally with a `note`.

    Every change is recorded in the history with who, when, old and new values. Statuses: open → pending →
    solved → closed (steps may be skipped; pending → open; solved → open reopens; closed is final):
    another move is 409 `invalid_transition`, any change to a closed ticket 409 `ticket_closed`.
    Agents change their own tickets and unassigned ones in their skills, and assign only themselves (403).
    """
    _, viewer = await _viewer(request)
    store = _store(request)
    changes = validate_changes(json_object(request), store.config)
    ticket = await store.update(ticket_id, changes, viewer.actor, check=partial(check_edit, viewer))
    return json(ticket.as_dict())
