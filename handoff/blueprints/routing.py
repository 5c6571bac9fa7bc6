"""Routing API: agents and presence, offers, assignments, decisions, queues, weights, API tokens."""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.analytics.store import Filters
from handoff.auth import bearer
from handoff.errors import BadRequest, Forbidden, Unavailable, json_object
from handoff.hub import Hub
from handoff.identity import ROTATION_GRACE_SECONDS, STAFF, Principal, Role, TokenStore, principal, require
from handoff.inbound import BlankText, InboundError, normalise_text
from handoff.lifecycle import HandoffLifecycle
from handoff.openapi_docs import (
    API_ONLY,
    TEAM_READ,
    TEAM_WRITE,
    array,
    describe_security,
    documented,
    integer,
    number,
    obj,
    query,
    string,
)
from handoff.packet import CONVERSATION_ID
from handoff.routing.config import MAX_WEIGHT, ConfigError, Weights
from handoff.routing.engine import RoutingEngine, RoutingError, check_agent_id, validate_agent_spec
from handoff.routing.scoring import Presence
from handoff.simulator.replay import ReplayError, compare

bp = Blueprint("routing", url_prefix="/api")
describe_security(bp)

TRANSFER_NOTE_MAX = 1000  # characters of the note an agent leaves for the next one

# Flows an agent can hand the conversation back into: the intent the assistant is triggered with.
RETURN_FLOWS = {
    "order_status": "order_status",
    "request_return": "request_return",
    "refund_status": "refund_status",
    "cancel_order": "cancel_order",
    "change_address": "change_address",
    "greet": "greet",
}


def _engine(request: Request) -> RoutingEngine:
    engine: RoutingEngine = request.app.ctx.routing
    return engine


def _lifecycle(request: Request) -> HandoffLifecycle:
    lifecycle: HandoffLifecycle = request.app.ctx.lifecycle
    return lifecycle


def _conversation(value: str) -> str:
    if not CONVERSATION_ID.match(value):
        raise BadRequest("a conversation id is 1-128 letters, digits or _.:@+-", field="conversation_id")
    return value


def _acting_agent(who: Principal) -> str | None:
    """Staff act on any conversation (None = no ownership check); an agent only on their own."""
    if who.is_staff:
        return None
    if not who.agent_id:
        raise Forbidden("this needs an agent identity")
    return who.agent_id


async def _holding(request: Request, conversation_id: str, who: Principal) -> str | None:
    """The acting agent for resolve, transfer and return to bot: an agent must hold the chat (an offer
    is accepted or declined, not resolved). Returns the current holder, for the release event."""
    hub: Hub = request.app.ctx.hub
    state = await hub.fields(conversation_id, "owner", "agent")
    owner, holder = state["owner"], state["agent"]
    if not who.is_staff:
        if owner not in ("queued", "offered", "agent"):
            raise RoutingError(
                "not_routed", f"conversation '{conversation_id}' is not waiting for or with an agent"
            )
        if owner != "agent" or holder != _acting_agent(who):
            raise RoutingError("not_assigned", "the conversation is not assigned to you")
    return holder if owner == "agent" else None


def _self_or_staff(who: Principal, agent_id: str) -> None:
    if not who.is_staff and who.agent_id != agent_id:
        raise Forbidden("agents can only change themselves")


_AGENT_PROPS = {
    "id": string(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", maxLength=64),
    "name": string(minLength=1, maxLength=80),
    "languages": array(string(enum=["en", "zh"]), minItems=1, uniqueItems=True),
    "skills": obj(
        additionalProperties=number(minimum=0, maximum=1),
        description="{skill: proficiency 0-1}; skill names are lowercase letters, digits, underscores",
    ),
    "capacity": integer(minimum=1, maximum=50),
}


# -- agents ----------------------------------------------------------------------------------------


@bp.post("/agents")
@documented(
    security=TEAM_WRITE,
    ok=201,
    body=obj(_AGENT_PROPS, required=["id", "name", "languages", "skills", "capacity"]),
    errors=(400, 401, 403, 409),
)
async def create_agent(request: Request) -> HTTPResponse:
    """Create an agent: id, name, languages, skills {skill: proficiency 0-1}, capacity."""
    await require(request, *STAFF)
    body = json_object(request)
    agent_id = check_agent_id(body.get("id"))
    agent = await _engine(request).put_agent(agent_id, validate_agent_spec(body), create=True)
    return json(agent.as_dict(), status=201)


@bp.get("/agents")
@documented(security=TEAM_READ, ok_schema=array(obj()), errors=(401, 403))
async def list_agents(request: Request) -> HTTPResponse:
    """Every agent with presence, load and rating."""
    await require(request, *STAFF)
    return json([a.as_dict() for a in await _engine(request).agents()])


@bp.get("/agents/<agent_id>")
@documented(security=TEAM_READ, errors=(401, 403, 404))
async def get_agent(request: Request, agent_id: str) -> HTTPResponse:
    who = await require(request, Role.AGENT, *STAFF)
    _self_or_staff(who, agent_id)
    return json((await _engine(request).get_agent(agent_id)).as_dict())


@bp.patch("/agents/<agent_id>")
@documented(security=TEAM_WRITE, body=obj(_AGENT_PROPS), errors=(400, 401, 403, 404))
async def update_agent(request: Request, agent_id: str) -> HTTPResponse:
    """Change name, languages, skills or capacity; omitted fields keep their value."""
    await require(request, *STAFF)
    engine = _engine(request)
    body = json_object(request)
    if "id" in body and body["id"] != agent_id:
        raise BadRequest("'id' cannot be changed", field="id")
    current = await engine.get_agent(agent_id)
    agent = await engine.put_agent(agent_id, validate_agent_spec(body, partial=current), create=False)
    return json(agent.as_dict())


@bp.put("/agents/<agent_id>/presence")
@documented(
    security=TEAM_WRITE,
    body=obj({"presence": string(enum=["online", "away", "offline"])}, required=["presence"]),
    errors=(400, 401, 403, 404),
)
async def set_presence(request: Request, agent_id: str) -> HTTPResponse:
    """online, away or offline. Going online routes waiting conversations to the agent at once."""
    who = await require(request, Role.AGENT, *STAFF)
    _self_or_staff(who, agent_id)
    raw = json_object(request).get("presence")
    try:
        presence = Presence(str(raw))
    except ValueError:
        raise BadRequest("'presence' must be online, away or offline", field="presence") from None
    offers = await _engine(request).set_presence(agent_id, presence)
    return json({"agent_id": agent_id, "presence": presence.value, "offers": [o.__dict__ for o in offers]})


@bp.post("/agents/<agent_id>/tokens")
@documented(security=TEAM_WRITE, ok=201, errors=(401, 403, 404))
async def issue_agent_token(request: Request, agent_id: str) -> HTTPResponse:
    """A new API token for the agent (shown once)."""
    who = await require(request, *STAFF)
    await _engine(request).get_agent(agent_id)  # 404 for an unknown agent
    tokens: TokenStore = request.app.ctx.tokens
    issued = await tokens.grant(agent_id, Role.AGENT, agent_id)
    return json({**issued.as_dict(), "issued_by": who.user_id}, status=201)


@bp.post("/tokens")
@documented(
    security=TEAM_WRITE,
    ok=201,
    body=obj(
        {"role": string(enum=["supervisor", "admin", "editor"]), "user_id": string()},
        required=["role", "user_id"],
    ),
)
async def issue_token(request: Request) -> HTTPResponse:
    """Admin only: an API token for a supervisor, admin or editor (agents: /agents/<id>/tokens)."""
    await require(request, Role.ADMIN)
    body = json_object(request)
    try:
        role = Role(str(body.get("role")))
    except ValueError:
        raise BadRequest("'role' must be supervisor, admin or editor", field="role") from None
    if role is Role.AGENT:
        raise BadRequest("agent tokens are issued at /api/agents/<id>/tokens", field="role")
    user_id = body.get("user_id")
    if not isinstance(user_id, str):
        raise BadRequest("'user_id' must be a string", field="user_id")
    tokens: TokenStore = request.app.ctx.tokens
    return json((await tokens.grant(user_id, role)).as_dict(), 201)


@bp.post("/tokens/rotate")
@documented(
    security=API_ONLY,
    ok=201,
    body=obj({"grace_seconds": number(minimum=0, maximum=3600, description="Default 600")}),
    body_required=False,
    errors=(400, 401),
)
async def rotate_token(request: Request) -> HTTPResponse:
    """A new token for the caller's own API token; the old one works `grace_seconds` more (default 600)."""
    await principal(request)  # 401 for a missing or dead token
    token = bearer(request)
    if not token:
        raise BadRequest("rotation needs the API token itself in 'Authorization: Bearer', not a session")
    body = json_object(request) if request.body else {}
    grace = body.get("grace_seconds", ROTATION_GRACE_SECONDS)
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 <= grace <= 3600:
        raise BadRequest("'grace_seconds' must be a number from 0 to 3600", field="grace_seconds")
    tokens: TokenStore = request.app.ctx.tokens
    return json((await tokens.rotate(token, float(grace))).as_dict(), status=201)


@bp.delete("/users/<user_id>/tokens")
@documented(security=TEAM_WRITE, errors=(401, 403))
async def revoke_tokens(request: Request, user_id: str) -> HTTPResponse:
    await require(request, Role.ADMIN)
    tokens: TokenStore = request.app.ctx.tokens
    return json({"user_id": user_id, "revoked": await tokens.revoke_all(user_id)})


# -- offers and assignments ------------------------------------------------------------------------


@bp.post("/offers/<conversation_id>/accept")
@documented(security=TEAM_WRITE, errors=(400, 401, 403, 404, 409))
async def accept_offer(request: Request, conversation_id: str) -> HTTPResponse:
    who = await require(request, Role.AGENT)
    engine = _engine(request)
    status = await engine.accept(_conversation(conversation_id), str(who.agent_id))
    await _lifecycle(request).answered(conversation_id, str(who.agent_id))
    hub: Hub = request.app.ctx.hub
    await hub.agent_joined(conversation_id, (await engine.get_agent(str(who.agent_id))).name)
    return json(status.as_dict())


@bp.post("/offers/<conversation_id>/decline")
@documented(security=TEAM_WRITE, errors=(400, 401, 403, 404, 409))
async def decline_offer(request: Request, conversation_id: str) -> HTTPResponse:
    """The conversation goes to the next candidate (never back to this agent for this handoff)."""
    who = await require(request, Role.AGENT)
    await _engine(request).decline(_conversation(conversation_id), str(who.agent_id))
    return json((await _engine(request).status(conversation_id)).as_dict())


@bp.post("/assignments/<conversation_id>/resolve")
@documented(security=TEAM_WRITE, errors=(400, 401, 403, 404, 409))
async def resolve(request: Request, conversation_id: str) -> HTTPResponse:
    """Done: the assistant takes over again and asks the customer to rate the help (1-5)."""
    who = await require(request, Role.AGENT, *STAFF)
    hub: Hub = request.app.ctx.hub
    await _holding(request, _conversation(conversation_id), who)
    await hub.resolve(conversation_id, _acting_agent(who))  # the engine announces the release
    return json({"conversation_id": conversation_id, "owner": "bot", "survey": True})


@bp.post("/assignments/<conversation_id>/transfer")
@documented(
    security=TEAM_WRITE,
    body=obj(
        {
            "agent_id": string(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", maxLength=64),
            "skill": string(description="A skill queue; give exactly one of agent_id or skill"),
            "note": string(maxLength=TRANSFER_NOTE_MAX),
        },
        description="Exactly one of `agent_id` or `skill`",
    ),
    errors=(400, 401, 403, 404, 409),
)
async def transfer(request: Request, conversation_id: str) -> HTTPResponse:
    """To an agent (`agent_id`, offered at once) or a skill queue (`skill`, keeping its place)."""
    who = await require(request, Role.AGENT, *STAFF)
    body = json_object(request)
    cid = _conversation(conversation_id)
    note = _transfer_note(body.get("note", ""))
    engine = _engine(request)
    holder = await _holding(request, cid, who)
    if ("agent_id" in body) == ("skill" in body):
        raise BadRequest("give exactly one of 'agent_id' or 'skill'", field="agent_id")
    if "agent_id" in body:
        target = check_agent_id(body["agent_id"], field="agent_id")
        offer = await engine.transfer_to_agent(cid, _acting_agent(who), target)
        await _save_note(request, cid, note, who)
        await _lifecycle(request).transferred_away(cid, holder, to_agent=offer.agent_id)
        return json({"conversation_id": cid, "offered_to": offer.agent_id, "expires_at": offer.expires_at})
    skill = body["skill"]
    if not isinstance(skill, str):
        raise BadRequest("'skill' must be a string", field="skill")
    status = await engine.transfer_to_skill(cid, _acting_agent(who), skill)
    await _save_note(request, cid, note, who)
    await _lifecycle(request).transferred_away(cid, holder, to_queue=skill)
    return json(status.as_dict())


def _transfer_note(note: object) -> str:
    """The note as the next agent reads it: normalised like customer text (no bidirectional or invisible
    characters); a lone surrogate is a 400 naming 'note', and a note with nothing visible is no note."""
    if not isinstance(note, str) or len(note) > TRANSFER_NOTE_MAX:
        raise BadRequest(f"'note' must be a string of at most {TRANSFER_NOTE_MAX} characters", field="note")
    if not note:
        return ""
    try:
        cleaned = normalise_text(note)
    except BlankText:
        return ""  # optional: blank is the same as leaving it out
    except InboundError as exc:  # a 400 (handoff/errors.py) that names the field
        raise type(exc)(str(exc), "note") from None
    if len(cleaned) > TRANSFER_NOTE_MAX:  # NFC can lengthen a few characters
        raise BadRequest(f"'note' must be a string of at most {TRANSFER_NOTE_MAX} characters", field="note")
    return cleaned


async def _save_note(request: Request, conversation_id: str, note: str, who: Principal) -> None:
    """Only after the transfer succeeded: a refused transfer must not touch the conversation."""
    if note:
        hub: Hub = request.app.ctx.hub
        await hub.note_transfer(conversation_id, note, who.user_id)


@bp.post("/assignments/<conversation_id>/return-to-bot")
@documented(
    security=TEAM_WRITE,
    body=obj({"flow": string(enum=sorted(RETURN_FLOWS), nullable=True)}),
    errors=(400, 401, 403, 404, 409),
)
async def return_to_bot(request: Request, conversation_id: str) -> HTTPResponse:
    """The assistant takes over again; `flow` optionally starts one of RETURN_FLOWS."""
    who = await require(request, Role.AGENT, *STAFF)
    flow = json_object(request).get("flow")
    if flow is not None and (not isinstance(flow, str) or flow not in RETURN_FLOWS):
        raise BadRequest(f"'flow' must be one of {', '.join(sorted(RETURN_FLOWS))}", field="flow")
    hub: Hub = request.app.ctx.hub
    await _holding(request, _conversation(conversation_id), who)
    replies = await hub.return_to_bot(  # the engine announces the release
        conversation_id, _acting_agent(who), RETURN_FLOWS.get(flow) if flow else None
    )
    return json({"conversation_id": conversation_id, "owner": "bot", "bot_messages": len(replies)})


# -- supervision -----------------------------------------------------------------------------------


@bp.get("/decisions")
@documented(
    security=TEAM_READ,
    ok_schema=array(obj()),
    params=[
        query("conversation_id", string(pattern=r"^[A-Za-z0-9_.:@+-]{1,128}$", maxLength=128)),
        query("limit", integer(minimum=1, maximum=1000), "Default 50"),
    ],
)
async def list_decisions(request: Request) -> HTTPResponse:
    """Recent routing decisions (newest first); `conversation_id` narrows to one conversation."""
    await require(request, *STAFF)
    cid = request.args.get("conversation_id")
    try:
        limit = int(request.args.get("limit", "50"))
    except ValueError:
        raise BadRequest("'limit' must be an integer", field="limit") from None
    if not 1 <= limit <= 1000:
        raise BadRequest("'limit' must be in 1..1000", field="limit")
    return json(await _engine(request).decisions(_conversation(cid) if cid else None, limit))


@bp.get("/decisions/<decision_id>")
@documented(security=TEAM_READ, errors=(400, 401, 403, 404))
async def get_decision(request: Request, decision_id: str) -> HTTPResponse:
    """One decision: candidates with each score's parts, and who each filter removed."""
    await require(request, *STAFF)
    if not decision_id.isdigit():
        raise BadRequest("a decision id is a number", field="decision_id")
    return json(await _engine(request).decision(decision_id))


@bp.get("/queues")
@documented(security=TEAM_READ, errors=(401, 403))
async def queues(request: Request) -> HTTPResponse:
    await require(request, Role.AGENT, *STAFF)
    return json(await _engine(request).queues())


@bp.get("/routing/weights")
@documented(security=TEAM_READ, errors=(401, 403))
async def get_weights(request: Request) -> HTTPResponse:
    await require(request, *STAFF)
    engine = _engine(request)
    weights = await engine.current_weights()
    return json({"weights": weights.as_dict(), "audit": await engine.weight_audit()})


WEIGHT_FIELDS = {name: number(minimum=0, maximum=MAX_WEIGHT) for name in ("skill", "load", "rating")}


@bp.put("/routing/weights")
@documented(
    security=TEAM_WRITE,
    body=obj(WEIGHT_FIELDS, description="Omitted weights keep their default; not all zero"),
)
async def put_weights(request: Request) -> HTTPResponse:
    """Change the scoring weights for every worker; audited with who, when, old and new values."""
    who = await require(request, *STAFF)
    try:
        weights = Weights.parse(json_object(request))
    except ConfigError as exc:
        raise BadRequest(str(exc), field="weights") from None
    entry = await _engine(request).set_weights(weights, who.user_id)
    return json(entry)


PREVIEW_DAYS = 7
PREVIEW_SEEDS = (1, 2, 3)


@bp.post("/routing/weights/preview")
@documented(
    security=TEAM_READ,
    body=obj(
        {
            **WEIGHT_FIELDS,
            "days": integer(
                minimum=1, maximum=31, description=f"recorded days to replay (default {PREVIEW_DAYS})"
            ),
        },
        description="Proposed weights (omitted ones keep their default; not all zero)",
    ),
    errors=(400, 401, 403, 503),
)
async def preview_weights(request: Request) -> HTTPResponse:
    """The predicted effect of a weight change before it is saved: the last days' recorded handoffs (from
    the analytics store) replayed by the routing simulator with today's team under the current and the
    proposed weights, same customers for both (docs/simulator.md, "What-if replay")."""
    await require(request, *STAFF)
    body = json_object(request)
    days = body.pop("days", PREVIEW_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 31:
        raise BadRequest("'days' must be a whole number of days from 1 to 31", field="days")
    try:
        proposed = Weights.parse(body)
    except ConfigError as exc:
        raise BadRequest(str(exc), field="weights") from None
    store = getattr(request.app.ctx, "analytics", None)
    if store is None:
        raise Unavailable("analytics is not enabled on this server: there are no recorded handoffs to replay")
    engine = _engine(request)
    current = await engine.current_weights()
    agents = [a.as_dict() for a in await engine.agents()]
    today = date.fromisoformat(store.day_of(time.time()))
    span = Filters(today - timedelta(days=days - 1), today, None, None, None)
    records = await asyncio.to_thread(store.handoff_records, span)
    result: dict[str, Any] = {"days": days, "records": len(records), "agents": len(agents)}
    if not records or not agents:
        return json({**result, "comparison": None, "message": "no recorded handoffs or no agents to replay"})
    try:
        comparison = await asyncio.to_thread(
            compare, records, agents, current, proposed, config=engine.config, seeds=PREVIEW_SEEDS
        )
    except ReplayError as exc:
        raise BadRequest(f"the recorded handoffs cannot be replayed: {exc}", field="weights") from None
    return json({**result, "comparison": comparison.as_dict()})
