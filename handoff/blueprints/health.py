"""GET /health: the state of Redis, Rasa and the action server; 503 when one is down."""

from __future__ import annotations

import asyncio

import httpx
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.redis_memory import redis_memory

bp = Blueprint("health")

PROBE_TIMEOUT = 2.0


async def _redis_state(request: Request) -> str:
    try:
        await asyncio.wait_for(request.app.ctx.redis.ping(), PROBE_TIMEOUT)
    except Exception:
        return "down"
    return "up"


async def _http_state(client: httpx.AsyncClient, url: str) -> str:
    try:
        response = await client.get(url, timeout=PROBE_TIMEOUT)
    except httpx.HTTPError:
        return "down"
    return "up" if response.status_code == 200 else "down"


@bp.get("/health")
async def health(request: Request) -> HTTPResponse:
    """Service health with the state of each dependency."""
    settings = request.app.ctx.settings
    client = request.app.ctx.http
    redis_state, rasa_state, actions_state = await asyncio.gather(
        _redis_state(request),
        _http_state(client, f"{settings.rasa_url}/"),
        _http_state(client, f"{settings.actions_url}/health"),
    )
    deps = {"redis": redis_state, "rasa": rasa_state, "actions": actions_state}
    healthy = all(state == "up" for state in deps.values())
    body = {
        "status": "ok" if healthy else "degraded",
        **deps,
        "redis_memory_high": await _memory_high(request),
    }
    # Up or down decides the status code: a filling Redis is an alert, not an outage.
    return json(body, status=200 if healthy else 503)


async def _memory_high(request: Request) -> bool | None:
    try:
        usage = await asyncio.wait_for(redis_memory(request.app.ctx.redis), PROBE_TIMEOUT)
    except Exception:
        return None
    return usage.high
