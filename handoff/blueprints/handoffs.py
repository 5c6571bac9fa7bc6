"""Handoffs: the action server posts the context packet (service token); staff read status and cancel."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.blueprints import studio_kb
from handoff.blueprints.conversations import holds
from handoff.errors import BadRequest, Forbidden, PayloadTooLarge
from handoff.hub import Hub
from handoff.identity import STAFF, Role, require
from handoff.lifecycle import HandoffLifecycle
from handoff.openapi_docs import API_ONLY, TEAM_READ, TEAM_WRITE, array, documented, obj, string
from handoff.packet import CONVERSATION_ID, LANGUAGES, REASONS, VERIFIED_BY, validate_packet
from handoff.routing.engine import RoutingEngine

bp = Blueprint("handoffs", url_prefix="/api/handoffs")

MAX_PACKET_BYTES = 256 * 1024


def _conversation_id(value: str) -> str:
    if not CONVERSATION_ID.match(value):
        raise BadRequest("a conversation id is 1-128 letters, digits or _.:@+-", field="conversation_id")
    return value


@bp.post("/")
@documented(
    security=API_ONLY,
    ok=201,
    body=obj(
        {
            "conversation_id": string(pattern=r"^[A-Za-z0-9_.:@+-]{1,128}$", maxLength=128),
            "reason": string(enum=sorted(REASONS)),
            "language": string(enum=sorted(LANGUAGES)),
            "channel": string(),
            "customer_id": string(),
            "intent": string(),
            "customer_tier": string(),
            "intent_history": array(obj()),
            "entities": array(obj()),
            "kb_hits": array(obj()),
            "transcript": array(obj()),
            "slots": obj(),
            "order": obj(),
            "identity": obj(
                {
                    "customer_id": string(),
                    "verified_phone": string(),
                    "verified_by": string(enum=sorted(VERIFIED_BY)),
                }
            ),
        },
        required=["conversation_id", "reason", "language"],
        description="The handoff packet (at most 256 KB); the service token creates handoffs",
    ),
    errors=(400, 401, 403, 409, 413),
)
async def create_handoff(request: Request) -> HTTPResponse:
    """Queue a conversation for a human agent with its handoff packet; routed at once if someone is free."""
    await require(request, Role.SERVICE)
    if len(request.body) > MAX_PACKET_BYTES:
        raise PayloadTooLarge(MAX_PACKET_BYTES)
    try:
        body = request.json
    except Exception:  # Sanic raises its own BadRequest subclass on malformed JSON
        raise BadRequest("body is not valid JSON") from None
    packet = validate_packet(body)
    hub: Hub = request.app.ctx.hub
    status = await hub.handoff(packet["conversation_id"], packet)
    await studio_kb.record_kb_miss_from_packet(request.app.ctx.redis, packet)  # the studio's miss inbox
    return json(status.as_dict(), status=201)


@bp.get("/<conversation_id>")
@documented(security=TEAM_READ, errors=(400, 401, 403, 404))
async def handoff_status(request: Request, conversation_id: str) -> HTTPResponse:
    """Owner, queue position and estimated wait (seconds; null when no qualified agent is online)."""
    # Agents and staff only: the action server creates handoffs and never needs to read or close them.
    who = await require(request, Role.AGENT, *STAFF)
    cid = _conversation_id(conversation_id)
    if who.role is Role.AGENT:
        # Offered to or held by them right now; a chat they released grants nothing (conversations.holds).
        hub: Hub = request.app.ctx.hub
        if not holds(who, await hub.fields(cid, "owner", "agent", "offer_agent")):
            raise Forbidden("this conversation is not offered to or held by you")
    engine: RoutingEngine = request.app.ctx.routing
    return json((await engine.status(cid)).as_dict())


@bp.delete("/<conversation_id>")
@documented(security=TEAM_WRITE, errors=(400, 401, 403, 404, 409))
async def cancel_handoff(request: Request, conversation_id: str) -> HTTPResponse:
    """Withdraw a handoff (the customer left or the case was solved elsewhere); frees any agent holding it.
    Staff only."""
    await require(request, *STAFF)
    cid = _conversation_id(conversation_id)
    lifecycle: HandoffLifecycle = request.app.ctx.lifecycle
    previous, ticket = await lifecycle.withdraw(cid)
    return json({"conversation_id": cid, "owner": "closed", "previous_owner": previous, "ticket_id": ticket})
