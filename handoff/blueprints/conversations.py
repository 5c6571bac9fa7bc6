"""Conversations for agents: context card, transcript, replies, typing. An agent sees only conversations
offered to or held by them; supervisors and admins see all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.errors import BadRequest, Conflict, Forbidden, NotFoundError, json_object
from handoff.hub import Hub
from handoff.identity import STAFF, Principal, Role, require
from handoff.inbound import check_message
from handoff.lifecycle import HandoffLifecycle
from handoff.openapi_docs import TEAM_READ, TEAM_WRITE, array, documented, obj, query, string
from handoff.packet import CONVERSATION_ID
from handoff.transcript import Message, check_cursor

bp = Blueprint("conversations", url_prefix="/api/conversations")


def message_view(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "author": message.author,
        "text": message.text,
        "channel": message.channel,
        "ts": message.ts,
        "buttons": message.buttons,
        "internal": message.internal,
        "agent_id": message.agent_id,
        "attachments": message.attachments,
    }


async def conversation_for(request: Request, conversation_id: str) -> tuple[Principal, dict[str, str]]:
    """The caller and the conversation's state, if the caller may see it."""
    who = await require(request, Role.AGENT, *STAFF)
    if not CONVERSATION_ID.match(conversation_id):
        raise BadRequest("a conversation id is 1-128 letters, digits or _.:@+-", field="conversation_id")
    hub: Hub = request.app.ctx.hub
    info = await hub.info(conversation_id)
    if not info:
        raise NotFoundError("unknown_conversation", f"no conversation '{conversation_id}'")
    if not holds(who, info):
        raise Forbidden("this conversation is not offered to or held by you")
    return who, info


def holds(who: Principal, info: Mapping[str, str | None]) -> bool:
    """Staff see every conversation; an agent only one offered to them or held by them right now (a
    resolved or transferred chat keeps its last agent's id, which grants nothing)."""
    if who.is_staff:
        return True
    if not who.agent_id:
        return False
    owner = info.get("owner")
    return (owner == "agent" and info.get("agent") == who.agent_id) or (
        owner == "offered" and info.get("offer_agent") == who.agent_id
    )


@bp.get("/<conversation_id>")
@documented(security=TEAM_READ, errors=(400, 401, 403, 404))
async def get_conversation(request: Request, conversation_id: str) -> HTTPResponse:
    """State and the handoff context card (reason, intents with confidence, entities, order, KB hits)."""
    _, info = await conversation_for(request, conversation_id)
    hub: Hub = request.app.ctx.hub
    return json(
        {
            "conversation_id": conversation_id,
            "owner": info.get("owner", "bot"),
            "agent_id": info.get("agent") or info.get("offer_agent"),
            "channel": info.get("channel"),
            "language": info.get("language"),
            "skill": info.get("skill"),
            "transfer_note": info.get("transfer_note"),
            "packet": await hub.packet(conversation_id),
        }
    )


@bp.get("/<conversation_id>/messages")
@documented(
    security=TEAM_READ,
    ok_schema=array(obj()),
    params=[query("after", string(pattern=r"^([0-9]{1,20}-[0-9]{1,20}|-)$"), "The last message id seen")],
    errors=(400, 401, 403, 404),
)
async def get_messages(request: Request, conversation_id: str) -> HTTPResponse:
    """The whole transcript, the assistant's part included; `after` continues from a message id."""
    await conversation_for(request, conversation_id)
    hub: Hub = request.app.ctx.hub
    after = check_cursor(request.args.get("after", "-"))
    return json([message_view(m) for m in await hub.history(conversation_id, after=after)])


@bp.post("/<conversation_id>/messages")
@documented(
    security=TEAM_WRITE,
    ok=201,
    body=obj({"text": string(minLength=1)}, required=["text"]),
    errors=(400, 401, 403, 404, 409),
)
async def post_message(request: Request, conversation_id: str) -> HTTPResponse:
    """An agent's reply, delivered to the customer's channel."""
    who, info = await conversation_for(request, conversation_id)
    if info.get("owner") != "agent" or (not who.is_staff and info.get("agent") != who.agent_id):
        raise Conflict("not_assigned", "accept the conversation before replying")
    text = check_message(
        json_object(request).get("text"), max_chars=request.app.ctx.settings.max_message_chars, field="text"
    )
    hub: Hub = request.app.ctx.hub
    message = await hub.agent_message(conversation_id, who.agent_id or who.user_id, text)
    return json(message_view(message), status=201)


@bp.post("/<conversation_id>/typing")
@documented(security=TEAM_WRITE, errors=(400, 401, 403, 404))
async def typing(request: Request, conversation_id: str) -> HTTPResponse:
    """Shows "typing…" in the customer's widget for a few seconds."""
    who, _ = await conversation_for(request, conversation_id)
    lifecycle: HandoffLifecycle = request.app.ctx.lifecycle
    await lifecycle.agent_typing(conversation_id, who.agent_id)
    return json({"ok": True})
