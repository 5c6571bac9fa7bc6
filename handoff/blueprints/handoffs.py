"""Handoffs from the assistant: the action server posts the context packet here (service token)."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.auth import require_token
from handoff.errors import BadRequest
from handoff.hub import Hub
from handoff.packet import validate_packet

bp = Blueprint("handoffs", url_prefix="/api/handoffs")

MAX_PACKET_BYTES = 256 * 1024


@bp.post("/")
async def create_handoff(request: Request) -> HTTPResponse:
    """Queue a conversation for a human agent with its handoff packet."""
    require_token(request, request.app.ctx.settings.service_token)
    if len(request.body) > MAX_PACKET_BYTES:
        raise BadRequest(f"the packet is larger than {MAX_PACKET_BYTES} bytes")
    try:
        body = request.json
    except Exception:  # Sanic raises its own BadRequest subclass on malformed JSON
        raise BadRequest("body is not valid JSON") from None
    packet = validate_packet(body)
    hub: Hub = request.app.ctx.hub
    queued = await hub.handoff(packet["conversation_id"], packet)
    return json(
        {"conversation_id": queued.conversation_id, "status": "queued", "position": queued.position},
        status=201,
    )
