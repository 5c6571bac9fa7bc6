"""The supervisor's overview in the console: queues, agents, service level and open tickets
(docs/console.md)."""

from __future__ import annotations

import asyncio

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff import service_level
from handoff.blueprints.console_common import console_operation, routing_of
from handoff.identity import STAFF, require
from handoff.openapi_docs import TEAM_READ, documented

bp = Blueprint("supervisor")


@bp.get("/api/supervisor/overview")
@console_operation("get")
@documented(security=TEAM_READ, errors=(401, 403))
async def overview(request: Request) -> HTTPResponse:
    """Queues, agents, the last hour's service level, the live level against its target (with an alert
    when it has been missed for SERVICE_LEVEL_ALERT_MINUTES) and open tickets, for the dashboard."""
    await require(request, *STAFF)
    engine = routing_of(request)
    settings = request.app.ctx.settings
    queues, agents, level, target = await asyncio.gather(
        engine.queues(),
        engine.agents(),
        service_level.summary(request.app.ctx.redis),
        service_level.target_status(
            request.app.ctx.redis,
            settings.service_level.seconds,
            settings.service_level.share,
            settings.service_level_alert_minutes,
        ),
    )
    tickets = getattr(request.app.ctx, "tickets", None)
    open_tickets = await tickets.open_counts() if tickets is not None else {}
    return json(
        {
            "queues": queues,
            "agents": [a.as_dict() for a in agents],
            "service_level": level,
            "service_level_target": target,
            "tickets": open_tickets,
        }
    )
