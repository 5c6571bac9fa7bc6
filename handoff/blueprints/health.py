"""GET /health: the state of Redis, Rasa and the action server; 503 when one is down.

With several Rasa processes (RASA_URLS) each is listed with the model it serves, so a model activation
that reached only some of them shows; Rasa is "up" while at least one process is, since conversations
move to the processes that answer (handoff.rasa_pool)."""

from __future__ import annotations

import asyncio
from pathlib import PurePath

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


async def _rasa_process(
    client: httpx.AsyncClient, number: int, url: str, api_token: str
) -> dict[str, int | str | None]:
    """The process's state and the model it serves (Rasa's token-protected /status). Processes are named
    by their place in RASA_URLS: this endpoint is public, the internal addresses are not."""
    try:
        response = await client.get(f"{url}/status", params={"token": api_token}, timeout=PROBE_TIMEOUT)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return {"process": number, "state": "down", "model": None}
    model = body.get("model_file") if isinstance(body, dict) else None
    return {
        "process": number,
        "state": "up" if body is not None else "down",
        "model": PurePath(model).name if isinstance(model, str) else None,
    }


@bp.get("/health")
async def health(request: Request) -> HTTPResponse:
    """Service health with the state of each dependency."""
    settings = request.app.ctx.settings
    client = request.app.ctx.http
    urls = settings.rasa_urls or (settings.rasa_url,)
    redis_state, actions_state, processes = await asyncio.gather(
        _redis_state(request),
        _http_state(client, f"{settings.actions_url}/health"),
        asyncio.gather(
            *(_rasa_process(client, i, url, settings.rasa_api_token) for i, url in enumerate(urls, 1))
        ),
    )
    rasa_state = "up" if any(p["state"] == "up" for p in processes) else "down"
    deps = {"redis": redis_state, "rasa": rasa_state, "actions": actions_state}
    healthy = all(state == "up" for state in deps.values())
    body = {
        "status": "ok" if healthy else "degraded",
        **deps,
        "redis_memory_high": await _memory_high(request),
        "rasa_processes": processes,
    }
    # Up or down decides the status code: a filling Redis is an alert, not an outage.
    return json(body, status=200 if healthy else 503)


async def _memory_high(request: Request) -> bool | None:
    try:
        usage = await asyncio.wait_for(redis_memory(request.app.ctx.redis), PROBE_TIMEOUT)
    except Exception:
        return None
    return usage.high
