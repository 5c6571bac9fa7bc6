"""Experiments in the console (docs/console.md, "Analytics"): supervisors define one (variants with their
shares and settings, a primary metric and the smallest effect worth finding), stop it, and read its results
per variant with confidence intervals. Every start and stop is audited (handoff/analytics/experiments.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from handoff.analytics.experiment_results import experiment_results
from handoff.analytics.experiments import DEFAULT_EFFECT, KINDS, METRICS, ExperimentError, ExperimentStore
from handoff.blueprints.analytics import analytics_of, experiment_filters
from handoff.errors import BadRequest, Unavailable, json_object
from handoff.identity import STAFF, require
from handoff.openapi_docs import TEAM_READ, TEAM_WRITE, array, documented, number, obj, string

bp = Blueprint("experiments")

AUDIT_SHOWN = 20

VARIANT = obj(
    {
        "name": string(description="a-z, 0-9, _ and -; the first variant is the control"),
        "share": number(description="Share of conversations, 0-1; all add up to 1 (omit all: even split)"),
        "params": obj(description="routing_weights: {skill, load, rating}; kb_threshold: {threshold}; "
                      "reply_variant: {variant}"),
    },
    required=("name", "params"),
)  # fmt: skip
NEW_EXPERIMENT = obj(
    {
        "name": string(maxLength=80),
        "kind": string(enum=list(KINDS)),
        "variants": array(VARIANT, minItems=2, maxItems=4),
        "primary_metric": string(enum=list(METRICS)),
        "minimum_effect": number(description="The smallest absolute difference worth detecting"),
    },
    required=("name", "kind", "variants", "primary_metric"),
)


def experiments_of(request: Request) -> ExperimentStore:
    store: ExperimentStore | None = getattr(request.app.ctx, "experiments", None)
    if store is None:
        raise Unavailable("experiments are not enabled on this server")
    return store


@bp.get("/api/experiments")
@openapi.tag("experiments")
@documented(security=TEAM_READ, errors=(401, 403, 503))
async def list_experiments(request: Request) -> HTTPResponse:
    """Running experiments first, then stopped ones, newest first; the newest audit entries; and what a new
    experiment may be (kinds, metrics and each metric's default minimum effect)."""
    await require(request, *STAFF)
    store = experiments_of(request)
    found, audit = await asyncio.gather(store.list(), store.audit(AUDIT_SHOWN))
    return json(
        {
            "experiments": [e.as_dict() for e in found],
            "audit": audit,
            "kinds": list(KINDS),
            "metrics": list(METRICS),
            "default_effect": dict(DEFAULT_EFFECT),
        }
    )


@bp.post("/api/experiments")
@openapi.tag("experiments")
@documented(security=TEAM_WRITE, ok=201, errors=(400, 401, 403, 409, 503), body=NEW_EXPERIMENT)
async def create_experiment(request: Request) -> HTTPResponse:
    """Start an experiment now. 409 `experiment_running` while another of the same kind runs (two
    experiments never change the same setting)."""
    who = await require(request, *STAFF)
    store = experiments_of(request)
    body = json_object(request)
    try:
        experiment = await store.create(body, who.user_id)
    except ExperimentError as exc:
        raise BadRequest(str(exc), field=exc.field) from None
    return json(experiment.as_dict(), status=201)


@bp.post("/api/experiments/<experiment_id:str>/stop")
@openapi.tag("experiments")
@documented(security=TEAM_WRITE, errors=(401, 403, 404, 409, 503))
async def stop_experiment(request: Request, experiment_id: str) -> HTTPResponse:
    """Stop a running experiment: new turns get the configured behaviour again; its results stay. 409
    `experiment_stopped` when it has stopped already."""
    who = await require(request, *STAFF)
    experiment = await experiments_of(request).stop(experiment_id, who.user_id)
    return json(experiment.as_dict())


@bp.get("/api/experiments/<experiment_id:str>/results")
@openapi.tag("experiments")
@documented(security=TEAM_READ, errors=(401, 403, 404, 503))
async def results(request: Request, experiment_id: str) -> HTTPResponse:
    """Per variant: contacts and every metric with its 95% interval; each variant against the control (the
    difference with its interval, p-value and verdict); the sample size each variant needs before any
    verdict and the progress towards it; and a sample-ratio check of the split against the shares
    (handoff/analytics/experiment_results.py)."""
    await require(request, *STAFF)
    experiment = await experiments_of(request).get(experiment_id)
    analytics = analytics_of(request)
    f = experiment_filters(analytics, experiment.started_at)
    outcomes: list[dict[str, Any]] = await asyncio.to_thread(analytics.variant_outcomes, experiment.id, f)
    return json(experiment_results(experiment, outcomes))
