"""The agent's inbox in the console: their offers and chats, and the flows a chat can go back into
(docs/console.md)."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.blueprints.console_common import console_operation, inbox_of, routing_of
from handoff.blueprints.routing import RETURN_FLOWS
from handoff.identity import STAFF, Role, require
from handoff.openapi_docs import TEAM_READ, array, documented, string

bp = Blueprint("inbox")


@bp.get("/api/console/inbox")
@console_operation("get")
@documented(security=TEAM_READ, errors=(401, 403, 404))
async def inbox(request: Request) -> HTTPResponse:
    """The agent's offers (with expiry) and held chats; for a supervisor without an agent, none."""
    who = await require(request, Role.AGENT, *STAFF)
    if not who.agent_id:
        return json({"agent": None, "offers": [], "chats": []})
    agent = await routing_of(request).get_agent(who.agent_id)
    found = await inbox_of(request).for_agent(who.agent_id)
    return json({"agent": agent.as_dict(), "offers": found.offers, "chats": found.chats})


@bp.get("/api/console/flows")
@console_operation("get")
@documented(security=TEAM_READ, ok_schema=array(string()), errors=(401, 403))
async def flows(request: Request) -> HTTPResponse:
    """Flows an agent can hand a conversation back into."""
    await require(request, Role.AGENT, *STAFF)
    return json(sorted(RETURN_FLOWS))
