"""Tickets in the console: create on demand, list, read, assign and update; reply to the customer (in the
ticket's conversation and by email), read the exchange, and send a failed email again.

Agents see tickets in their skills and tickets assigned to them; they change (and reply on) their own
tickets and unassigned ones in their skills, and assign only themselves. Supervisors and admins see and
change all.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.blueprints.conversations import holds, message_view
from handoff.channels.email.channel import EmailChannel
from handoff.channels.email.outbox import NotRetryable, Status
from handoff.channels.email.ticket_mail import compose_reply, queue_reply
from handoff.errors import BadRequest, Conflict, Forbidden, NotFoundError, json_object
from handoff.hub import Hub
from handoff.identity import STAFF, Principal, Role, require
from handoff.openapi_docs import (
    TEAM_READ,
    TEAM_WRITE,
    array,
    boolean,
    documented,
    integer,
    number,
    obj,
    query,
    string,
)
from handoff.packet import CONVERSATION_ID
from handoff.routing.engine import NotFound, RoutingEngine, check_agent_id
from handoff.tickets.model import Priority, PromiseKind, TicketChanges, TicketStatus, Viewer
from handoff.tickets.rules import (
    CUSTOMER_ID_MAX,
    DESCRIPTION_MAX,
    EMAIL_MAX,
    MAX_LIMIT,
    MAX_OFFSET,
    NOTE_MAX,
    SUBJECT_MAX,
    check_access,
    check_edit,
    check_skill,
    validate_changes,
    validate_new,
    validate_reply,
)
from handoff.tickets.store import PROMISE_FILTERS, TicketStore
from handoff.transcript import Message

bp = Blueprint("tickets", url_prefix="/api/tickets")

LIST_ARGS = frozenset({"status", "skill", "assignee", "conversation_id", "promise", "limit", "offset"})
EMAIL_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}\Z")  # the outbox's ids
NO_CHANGES = TicketChanges({})


def _email_status(nullable: bool = False) -> Any:
    """The schema of an email's delivery status (outbox.EmailStatus)."""
    return obj(
        {
            "id": string(),
            "ticket_id": string(),
            "recipient": string(),
            "subject": string(),
            "status": string(enum=[s.value for s in Status]),
            "attempts": integer(),
            "created_at": number(),
            "updated_at": number(),
            "next_at": number(nullable=True),
            "sent_at": number(nullable=True),
            "reason": string(),
        },
        nullable=nullable,
    )


def _store(request: Request) -> TicketStore:
    store: TicketStore = request.app.ctx.tickets
    return store


def _email(request: Request) -> EmailChannel | None:
    """The email channel; None when it is off (no SMTP_HOST)."""
    email: EmailChannel | None = getattr(request.app.ctx, "email", None)
    return email


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
            "customer_email": string(nullable=True, maxLength=EMAIL_MAX),
        },
        required=["subject"],
    ),
    errors=(400, 401, 403, 404),
)
async def create_ticket(request: Request) -> HTTPResponse:
    """Create a ticket on demand.

    Body: `subject` (required), `description`, `conversation_id`, `customer_id`, `language` (en|zh),
    `intent`, `category`, `skill`, `priority` (low|normal|high|urgent), `assignee`, `customer_email`. With
    a `conversation_id`, omitted fields are filled from the conversation and its handoff packet (the email
    from a verified identity or a proven order only); the skill otherwise comes from the routing
    configuration's intent mapping. Agents may assign only themselves. Returns 201 with the ticket.
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
        query(
            "promise", string(enum=list(PROMISE_FILTERS)), "Open and pending tickets with an unkept promise"
        ),
        query("limit", integer(minimum=1, maximum=MAX_LIMIT), "Default 50"),
        query("offset", integer(minimum=0, maximum=MAX_OFFSET), "Default 0"),
    ],
)
async def list_tickets(request: Request) -> HTTPResponse:
    """Tickets newest first, without their history.

    Query: `status` (one or a comma list of open, pending, solved, closed), `skill`, `assignee`
    (`me`, `none` or an agent id), `conversation_id`, `promise` (`due`: an unkept promise due within the
    hour; `overdue`: past its time; open and pending tickets only), `limit` (1-200, default 50), `offset`.
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
    promise = request.args.get("promise")
    if promise is not None and promise not in PROMISE_FILTERS:
        raise BadRequest(f"'promise' must be one of {', '.join(PROMISE_FILTERS)}", field="promise")
    limit = _int_arg(request, "limit", 50, 1, MAX_LIMIT)
    offset = _int_arg(request, "offset", 0, 0, MAX_OFFSET)
    tickets, total = await _store(request).find(
        viewer=viewer,
        statuses=statuses,
        skill=skill,
        assignee=assignee,
        unassigned=unassigned,
        conversation_id=conversation_id,
        promise=promise,
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

    Actions: `created`, `updated`, `noted`; `replied` (an agent's reply: `text`, `message_id` in the
    conversation or null, `email_id` in the outbox or null, `emailed`); `customer_replied` (the customer's
    email: `text`, `truncated`, `channel`, `from`); `email_retried` (`email_id`).
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
            "customer_email": string(nullable=True, maxLength=EMAIL_MAX),
            "promise": obj(
                {"kind": string(enum=list(PromiseKind)), "due_at": number()},
                required=["kind", "due_at"],
                nullable=True,
            ),
            "promise_kept": boolean(),
        },
        minProperties=1,
    ),
    errors=(400, 401, 403, 404, 409),
)
async def update_ticket(request: Request, ticket_id: str) -> HTTPResponse:
    """Change `status`, `assignee` (agent id or null), `priority`, `skill`, `customer_email` (one plain
    address; null or blank removes it) or `promise`, optionally with a `note`.

    `promise`: `{"kind": "reply"|"callback", "due_at": epoch seconds}` sets what the customer was promised
    (replacing any earlier promise), null removes it; views show it with its `state` (pending, due within
    the hour, overdue, kept). A reply promise is kept by the next reply to the customer; a callback promise
    by `{"promise_kept": true}` (409 `no_promise` without one, `promise_kept_by_reply` for a reply promise).
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


@bp.post("/<ticket_id>/replies")
@documented(
    security=TEAM_WRITE,
    ok=201,
    body=obj({"text": string(minLength=1), "email": boolean()}, required=["text"]),
    ok_schema=obj({"message": obj(nullable=True), "email": _email_status(nullable=True)}),
    errors=(400, 401, 403, 404, 409),
)
async def reply(request: Request, ticket_id: str) -> HTTPResponse:
    """Reply to the customer: `{"text", "email"}`.

    The text goes into the ticket's conversation (the widget shows it, Telegram gets it pushed; a closed
    conversation reopens) and, with `email` (default: true when the ticket has a `customer_email` and the
    email channel is on), by email, threaded after the ticket's earlier emails. The history records the
    reply, an open ticket becomes pending (awaiting the customer) and a reply promise is kept.
    201 `{"message": the conversation's message or null (no conversation), "email": its status or null}`.
    409: `ticket_closed`; `email_off` or `no_customer_email` when `email` is true but cannot be done;
    `nowhere_to_send` when the ticket has neither a conversation nor an email.
    Who may: as for PATCH (403 otherwise).
    """
    who, viewer = await _viewer(request)
    store = _store(request)
    asked = validate_reply(json_object(request), request.app.ctx.settings.max_message_chars)
    ticket = await store.get(ticket_id)
    check_edit(viewer, ticket, NO_CHANGES)
    if ticket.status == TicketStatus.CLOSED:
        raise Conflict("ticket_closed", f"ticket {ticket.id} is closed; only notes can be added")
    email = _email(request)
    by_email = asked.email if asked.email is not None else bool(email and ticket.customer_email)
    if by_email and email is None:
        raise Conflict("email_off", "the email channel is off (SMTP_HOST is not set)")
    if by_email and not ticket.customer_email:
        raise Conflict("no_customer_email", f"ticket {ticket.id} has no customer_email to send to")
    if not by_email and ticket.conversation_id is None:
        raise Conflict("nowhere_to_send", f"ticket {ticket.id} has neither a conversation nor an email")
    composed = None
    if email is not None and by_email:
        try:  # before anything is sent: a reply that cannot be emailed is not half sent
            composed = await compose_reply(store.redis, email, ticket, asked.text)
        except ValueError as exc:
            raise Conflict("email_not_composed", f"the email cannot be made: {exc}") from None
    message = None
    if ticket.conversation_id is not None:
        hub: Hub = request.app.ctx.hub
        channel = (await hub.fields(ticket.conversation_id, "channel")).get("channel") or ""
        author_id = who.agent_id or who.user_id
        written = Message(author="agent", text=asked.text, channel=channel, agent_id=author_id)
        message = await hub.follow_up(ticket.conversation_id, written)
    sent = None
    if email is not None and composed is not None:
        sent = await queue_reply(store.redis, email, composed)
    await store.record_reply(
        ticket.id,
        viewer.actor,
        asked.text,
        message.id if message is not None else None,
        sent.id if sent is not None else None,
    )
    return json(
        {
            "message": message_view(message) if message is not None else None,
            "email": sent.as_dict() if sent is not None else None,
        },
        status=201,
    )


@bp.get("/<ticket_id>/thread")
@documented(
    security=TEAM_READ,
    ok_schema=obj({"messages": array(obj()), "emails": array(_email_status())}),
    errors=(401, 403, 404),
)
async def get_thread(request: Request, ticket_id: str) -> HTTPResponse:
    """The exchange with the customer: `{"messages": the ticket's conversation (as GET
    /api/conversations/<id>/messages, with each message's `channel`: `email` for the customer's emailed
    replies; [] without a conversation), "emails": the ticket's emails with their delivery status, newest
    first ([] while the email channel is off)}`. A failed email has `status` "failed" and
    its `reason`; POST .../emails/<id>/retry sends it again. Who may: as for GET /api/tickets/<id>.
    """
    _, viewer = await _viewer(request)
    ticket = await _store(request).get(ticket_id)
    check_access(viewer, ticket)
    messages = []
    if ticket.conversation_id is not None:
        hub: Hub = request.app.ctx.hub
        messages = [message_view(m) for m in await hub.history(ticket.conversation_id)]
    email = _email(request)
    emails = [] if email is None else [s.as_dict() for s in await email.outbox.messages_for(ticket.id)]
    return json({"messages": messages, "emails": emails[::-1]})


@bp.post("/<ticket_id>/emails/<message_id>/retry")
@documented(security=TEAM_WRITE, ok_schema=obj({"email": _email_status()}), errors=(401, 403, 404, 409))
async def retry_email(request: Request, ticket_id: str, message_id: str) -> HTTPResponse:
    """Send a failed email of the ticket again, with a fresh count of attempts: 200 `{"email": its status}`.

    404 `unknown_email` when the ticket has no such email; 409 `not_failed` when it is queued, retrying or
    sent, `email_off` while the channel is off. The history records it. Who may: as for PATCH.
    """
    _, viewer = await _viewer(request)
    store = _store(request)
    ticket = await store.get(ticket_id)
    check_edit(viewer, ticket, NO_CHANGES)
    email = _email(request)
    if email is None:
        raise Conflict("email_off", "the email channel is off (SMTP_HOST is not set)")
    unknown = NotFoundError("unknown_email", f"ticket {ticket.id} has no email '{message_id[:128]}'")
    status = await email.outbox.status(message_id) if EMAIL_ID.match(message_id) else None
    if status is None or status.ticket_id != ticket.id:
        raise unknown
    try:
        await email.outbox.retry(message_id)
    except KeyError:
        raise unknown from None
    except NotRetryable as exc:
        raise Conflict("not_failed", str(exc)) from None
    await store.record(ticket.id, viewer.actor, "email_retried", email_id=message_id)
    queued = await email.outbox.status(message_id)
    return json({"email": queued.as_dict() if queued is not None else None})
