"""The studio's training and models: start, follow and cancel a training run; list the models with their
reports; activate a candidate behind the gates; roll back (docs/studio.md).

Reads are for editors, admins and supervisors; changes for editors and admins, each recorded in the
studio's audit log. Any worker answers any of these: the run's state is in Redis, the models on disk.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import os
import time
from pathlib import PurePath
from typing import Any

import httpx
from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic_ext.extensions.openapi import openapi

from handoff.errors import BadRequest, json_object
from handoff.identity import require
from handoff.openapi_docs import (
    ERROR,
    TEAM_READ,
    TEAM_WRITE,
    array,
    boolean,
    documented,
    integer,
    nullable_string,
    number,
    obj,
    string,
)
from handoff.studio.access import STUDIO_READ, STUDIO_WRITE
from handoff.studio.models import ModelStore, check_name
from handoff.studio.training import TrainingRunner, TrainingSettings, valid_event_id

bp = Blueprint("studio_training")

STREAM_SECONDS = 600.0  # an event stream ends after this long; EventSource reconnects with Last-Event-ID
RETRY_MS = 2000
PROBE_TIMEOUT = 2.0

_STAGE = obj({"stage": string(), "at": number(description="Seconds after the start")})
_RUN = obj(
    {
        "id": string(),
        "state": string(enum=["running", "succeeded", "failed", "cancelled", "interrupted"]),
        "mode": string(enum=["auto", "full"], description="As asked"),
        "training_mode": string(enum=["finetune", "full"], description="As done"),
        "stage": string(
            description="starting, snapshot, train, evaluate_candidate, evaluate_live, report, done"
        ),
        "step": nullable_string(description="Within the stage: the component being trained, or 'epochs'"),
        "progress": obj({"epoch": integer(), "epochs": integer()}, nullable=True),
        "stages": array(_STAGE),
        "started": number(),
        "finished": number(nullable=True),
        "elapsed": number(),
        "who": string(),
        "owner": string(description="host:pid of the worker running it"),
        "base_model": nullable_string(description="The live model when it started"),
        "candidate": nullable_string(),
        "cancel_requested_by": nullable_string(),
        "result": obj(
            description="Summary of the report: passed, mode, timings, overall, gates", nullable=True
        ),
        "error": nullable_string(),
        "log_tail": array(string()),
    }
)
_MODEL = obj({"name": string(), "size_bytes": integer(), "modified": number()})
_GATES = obj({"passed": boolean(), "checks": array(obj())})


def _paths_root(app: Sanic) -> str:  # type: ignore[type-arg]
    settings = getattr(app.ctx, "settings", None)
    return str(getattr(settings, "studio_root", "") or "")


def runner_of(request: Request) -> TrainingRunner:
    """The worker's training runner: `app.ctx.studio_training` when set, else one made from
    `app.ctx.studio_training_settings` or the environment, once per worker."""
    app = request.app
    runner: TrainingRunner | None = getattr(app.ctx, "studio_training", None)
    if runner is None:
        settings = getattr(app.ctx, "studio_training_settings", None)
        if settings is None:
            env = dict(os.environ)
            if _paths_root(app):  # the app's settings (STUDIO_ROOT) name the project the studio edits
                env["STUDIO_ROOT"] = _paths_root(app)
            settings = TrainingSettings.from_env(env)
        runner = TrainingRunner(app.ctx.redis, settings)
        app.ctx.studio_training = runner
    return runner


def models_of(request: Request) -> ModelStore:
    return runner_of(request).models


@bp.before_server_stop
async def _stop_runs(app: Sanic) -> None:  # type: ignore[type-arg]
    runner: TrainingRunner | None = getattr(app.ctx, "studio_training", None)
    if runner is not None:
        await runner.shutdown()


def _expected_active(body: dict[str, Any]) -> str | None:
    value = body.get("expected_active")
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("'expected_active' must be a model name or null", field="expected_active")
    try:
        return check_name(value) if value else None
    except BadRequest as exc:
        raise BadRequest(str(exc), field="expected_active") from None


# -- training --------------------------------------------------------------------------------------


@bp.get("/api/studio/training")
@openapi.tag("studio")
@documented(
    security=TEAM_READ,
    errors=(401, 403),
    ok_schema=obj({"run": _RUN, "recent": array(_RUN)}),
)
async def training_state(request: Request) -> HTTPResponse:
    """The latest training run (`run`, null before the first) with its log tail, and the recent runs."""
    await require(request, *STUDIO_READ)
    runner = runner_of(request)
    return json({"run": await runner.current(), "recent": await runner.recent()})


@bp.post("/api/studio/training")
@openapi.tag("studio")
@documented(
    security=TEAM_WRITE,
    ok=202,
    errors=(400, 401, 403, 409),
    body=obj(
        {
            "mode": string(
                enum=["auto", "full"],
                description="auto (default): fine-tune the live model when Rasa can, else train in full",
            )
        }
    ),
    body_required=False,
    ok_schema=obj({"run": _RUN}),
)
async def start_training(request: Request) -> HTTPResponse:
    """Start a training run; 409 `training_running` (with the running one as `current`) while one runs."""
    who = await require(request, *STUDIO_WRITE)
    body = json_object(request)
    mode = body.get("mode", "auto")
    if mode not in ("auto", "full"):
        raise BadRequest("'mode' must be 'auto' or 'full'", field="mode")
    # Shielded: a client that goes away mid-start must not leave a lease without a run behind it.
    run = await asyncio.shield(runner_of(request).start(who.user_id, full=mode == "full"))
    return json({"run": run}, status=202)


@bp.delete("/api/studio/training")
@openapi.tag("studio")
@documented(security=TEAM_WRITE, errors=(401, 403, 409), ok_schema=obj({"run": _RUN}))
async def cancel_training(request: Request) -> HTTPResponse:
    """Cancel the running run; answers once it has ended (or after a few seconds with
    `cancel_requested_by` set). 409 `not_running` when none runs."""
    who = await require(request, *STUDIO_WRITE)
    return json({"run": await runner_of(request).cancel(who.user_id)})


def _sse(kind: str, data: Any, event_id: str = "") -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: {jsonlib.dumps(data, ensure_ascii=False)}\n\n"


def _event_stream_documented(func: Any) -> Any:
    """`documented` declares JSON answers; this operation's success is an event stream."""
    responses = [
        openapi.definitions.Response(
            {"text/event-stream": string(description="`id:`, `event:` and `data:` (JSON) lines per event")},
            status=200,
            description="Server-sent events",
        ),
        *(
            openapi.definitions.Response({"application/json": ERROR}, status=status, description=text)
            for status, text in (
                (400, "Last-Event-ID is not an id of this stream"),
                (401, "Missing, wrong or expired credentials"),
                (403, "Not allowed for this caller"),
            )
        ),
    ]
    func = openapi.definition(response=responses)(func)
    for alternative in TEAM_READ:
        func = openapi.secured(alternative)(func)
    return func


@bp.get("/api/studio/training/events")
@openapi.tag("studio")
@_event_stream_documented
async def training_events(request: Request) -> None:
    """Server-sent events of the training runs: `state` (a run's whole state: on connecting, on start and at
    the end), `stage` (a stage or step the trainer announced: {id, stage, elapsed, step?, epoch?, epochs?}),
    `cancel_requested` ({id, by}) and, every 2 s without news, `tick` (the latest run's state, or null).
    Reconnecting with Last-Event-ID continues after that event."""
    await require(request, *STUDIO_READ)
    runner = runner_of(request)
    last = request.headers.get("last-event-id")
    if last is not None and not valid_event_id(last):
        raise BadRequest("Last-Event-ID must be an id this stream sent", field="Last-Event-ID")
    response = await request.respond(
        content_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    await response.send(f"retry: {RETRY_MS}\n\n")
    if last is None:
        await response.send(_sse("state", await runner.current(with_log=False)))
    deadline = time.monotonic() + STREAM_SECONDS
    async for event_id, kind, data in runner.follow(last):
        await response.send(_sse(kind, data, event_id))
        if time.monotonic() > deadline:
            break
    await response.eof()


# -- models ----------------------------------------------------------------------------------------


async def _rasa_process(client: httpx.AsyncClient, number: int, url: str, token: str) -> dict[str, Any]:
    """Which model a Rasa process serves (its token-protected /status), named by its place in RASA_URLS."""
    try:
        response = await client.get(f"{url}/status", params={"token": token}, timeout=PROBE_TIMEOUT)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        body = None
    model = body.get("model_file") if isinstance(body, dict) else None
    return {
        "process": number,
        "state": "up" if body is not None else "down",
        "model": PurePath(model).name if isinstance(model, str) else None,
    }


async def _serving(request: Request) -> list[dict[str, Any]]:
    settings = request.app.ctx.settings
    client: httpx.AsyncClient = request.app.ctx.http
    urls = settings.rasa_urls or (settings.rasa_url,)
    token = settings.rasa_api_token
    return list(await asyncio.gather(*(_rasa_process(client, i, u, token) for i, u in enumerate(urls, 1))))


@bp.get("/api/studio/models")
@openapi.tag("studio")
@documented(
    security=TEAM_READ,
    errors=(401, 403),
    ok_schema=obj(
        {
            "active": _MODEL,
            "previous": _MODEL,
            "models": array(obj({"name": string(), "active": boolean(), "previous": boolean()})),
            "candidates": array(
                obj(
                    {
                        "name": string(),
                        "size_bytes": integer(),
                        "modified": number(),
                        "active": boolean(),
                        "report": obj(description="bot/studio_train.py's report", nullable=True),
                        "activatable": boolean(),
                        "reason": nullable_string(
                            description="no_report, already_active, stale_evaluation or gates_failed"
                        ),
                        "message": nullable_string(),
                        "gates": _GATES,
                        "compared_with": nullable_string(),
                    }
                )
            ),
            "gate_settings": obj({"max_overall_drop_points": number(), "max_intent_drop_points": number()}),
            "rasa_processes": array(
                obj({"process": integer(), "state": string(enum=["up", "down"]), "model": nullable_string()})
            ),
        }
    ),
)
async def list_models(request: Request) -> HTTPResponse:
    """The live model (newest in models/), the previous one, every model there, the candidates with their
    reports and whether each may be activated now, the gate settings, and which model each Rasa process
    serves (activation has reached every process when all name the active model)."""
    await require(request, *STUDIO_READ)
    listing, processes = await asyncio.gather(models_of(request).listing(), _serving(request))
    return json({**listing, "rasa_processes": processes})


_ACTIVATION_BODY = obj(
    {
        "expected_active": nullable_string(
            description="The live model the editor saw; 409 active_changed when another is live now"
        )
    }
)


@bp.post("/api/studio/models/<name:str>/activate")
@openapi.tag("studio")
@documented(
    security=TEAM_WRITE,
    errors=(400, 401, 403, 404, 409),
    body=_ACTIVATION_BODY,
    body_required=False,
    ok_schema=obj({"active": string(), "previous": nullable_string(), "gates": _GATES}),
)
async def activate_model(request: Request, name: str) -> HTTPResponse:
    """Make a candidate the live model on every Rasa process (the model watcher loads it within seconds).
    409 `gates_failed` with the gates as `current.gates`, or `stale_evaluation`, `already_active`,
    `no_report`, `active_changed`, `models_busy`."""
    who = await require(request, *STUDIO_WRITE)
    body = json_object(request)
    result = await models_of(request).activate(name, who.user_id, _expected_active(body))
    return json(result)


@bp.post("/api/studio/models/rollback")
@openapi.tag("studio")
@documented(
    security=TEAM_WRITE,
    errors=(400, 401, 403, 409),
    body=_ACTIVATION_BODY,
    body_required=False,
    ok_schema=obj({"active": string(), "previous": string()}),
)
async def rollback_model(request: Request) -> HTTPResponse:
    """Make the previous model live again; the model it replaces becomes the previous one.
    409 `no_previous_model`, `active_changed` or `models_busy`."""
    who = await require(request, *STUDIO_WRITE)
    body = json_object(request)
    return json(await models_of(request).rollback(who.user_id, _expected_active(body)))
