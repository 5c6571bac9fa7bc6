"""The supervisors' analytics (docs/console.md, "Analytics"): automation, resolution, waits, service level,
CSAT, handoff reasons, what the assistant could not answer and the proactive messages, from the analytics
store (handoff/analytics/store.py).

Every route reads the same filters (start, end, channel, language, queue) and answers JSON, or with
`format=csv` the same rows as a CSV download. The store is synchronous SQLite: each call runs in a thread so
a month's aggregation never holds up the event loop.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json as jsonlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json, raw
from sanic_ext import openapi

from handoff.analytics.store import AnalyticsStore, FilterError, Filters, parse_filters
from handoff.errors import BadRequest, Unavailable
from handoff.identity import STAFF, require
from handoff.openapi_docs import TEAM_READ, documented, integer, query, string
from handoff.static_files import serve_file

bp = Blueprint("analytics")

FILTER_NAMES = ("start", "end", "channel", "language", "queue")
CSAT_BY = ("agent", "queue", "intent")
MISS_KINDS = ("kb_miss", "fallback")
MISSES_LIMIT = 200
# A spreadsheet runs a cell that starts like a formula (CSV injection): such text cells get a leading '.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
UTF8_BOM = "\ufeff"  # so spreadsheet programs read Chinese text in the export as UTF-8
UPLOT = Path(__file__).resolve().parent.parent / "static" / "vendor" / "uplot"

# The columns of each export, in the contract's order (handoff/analytics/store.py); a column the store adds
# later is appended after them, and an empty export still has its header row.
COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": (
        "contacts", "ended", "assistant", "person", "abandoned", "ticket", "automation_rate", "fcr_rate",
        "handoffs", "first_response_p50", "first_response_p90", "first_person_p50", "first_person_p90",
        "handle_p50", "handle_p90", "service_level", "service_level_target_share",
        "service_level_target_seconds", "csat_average", "csat_count",
    ),
    "series": ("day", "contacts", "automation_rate", "service_level", "csat_average", "first_person_p90"),
    "intents": ("intent", "contacts", "assistant", "automation_rate", "handoffs", "fcr_rate", "csat_average"),
    "reasons": ("reason", "handoffs", "share"),
    "csat": ("key", "ratings", "average", "share_4_5"),
    "misses": ("text", "count", "last_at", "conversation_id", "language"),
    "proactive": (
        "late_orders", "late_proactive", "late_reactive", "late_proactive_share", "late_reactive_share",
        "proactive_sent", "proactive_contacts", "proactive_replied", "reply_rate", "proactive_handoffs",
    ),
    "proactive-triggers": ("trigger", "late_order", "sent", "contacts", "replied", "reply_rate", "handoffs"),
}  # fmt: skip

FILTER_PARAMS = (
    query("start", string(format="date"), "First day, inclusive (YYYY-MM-DD, in the store's time zone)"),
    query("end", string(format="date"), "Last day, inclusive (YYYY-MM-DD)"),
    query("channel", string(), "widget, rest, telegram, ..."),
    query("language", string(), "en or zh"),
    query("queue", string(), "The skill queue handoffs went to"),
    query("format", string(enum=["json", "csv"]), "csv: the same rows as a text/csv attachment"),
)


def analytics_of(request: Request) -> AnalyticsStore:
    store: AnalyticsStore | None = getattr(request.app.ctx, "analytics", None)
    if store is None:
        raise Unavailable("analytics is not enabled on this server (no analytics store is configured)")
    return store


def filters_of(request: Request) -> Filters:
    """The query's filters; a bad one is a 400 that names it."""
    given = {name: value for name in FILTER_NAMES if (value := request.args.get(name, "").strip())}
    try:
        return parse_filters(given)
    except FilterError as exc:
        raise BadRequest(str(exc), field=exc.field) from None


def _choice(request: Request, name: str, allowed: Sequence[str], default: str) -> str:
    value = str(request.args.get(name, default))
    if value not in allowed:
        raise BadRequest(f"'{name}' must be one of {', '.join(allowed)}", field=name)
    return value


def _wants_csv(request: Request) -> bool:
    return _choice(request, "format", ("json", "csv"), "json") == "csv"


def _filters_dict(f: Filters) -> dict[str, Any]:
    return {
        item.name: value.isoformat() if isinstance(value, date) else value
        for item in fields(f)
        if (value := getattr(f, item.name)) is not None
    }


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """One level of columns: nested objects become `outer_inner` (service_level_target_share)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def csv_cell(value: Any) -> str | int | float:
    """A value as a spreadsheet should see it: numbers as numbers, empty for null, text defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value, 6)
    text = value if isinstance(value, str) else jsonlib.dumps(value, ensure_ascii=False, sort_keys=True)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    flat = [flatten(row) for row in rows]
    header = list(columns)
    for row in flat:
        header += [key for key in row if key not in header]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in flat:
        writer.writerow([csv_cell(row.get(name)) for name in header])
    return out.getvalue()


def _download_name(report: str, f: Filters, extra: str = "") -> str:
    parts = ["analytics", report, extra, _filters_dict(f).get("start", ""), _filters_dict(f).get("end", "")]
    name = "-".join(p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".csv"


def csv_response(report: str, rows: Sequence[Mapping[str, Any]], f: Filters, extra: str = "") -> HTTPResponse:
    body = UTF8_BOM + csv_text(rows, COLUMNS[report])
    return raw(
        body.encode("utf-8"),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{_download_name(report, f, extra)}"',
            "Cache-Control": "no-store",
        },
    )


async def _rows(
    request: Request, report: str, read: Callable[[AnalyticsStore, Filters], Any], extra: str = ""
) -> HTTPResponse:
    """The shared shape of the list routes: role, filters, one store call in a thread, JSON or CSV."""
    await require(request, *STAFF)
    store = analytics_of(request)
    f = filters_of(request)
    as_csv = _wants_csv(request)
    try:
        rows: list[dict[str, Any]] = await asyncio.to_thread(read, store, f)
    except FilterError as exc:  # an option the store refuses (by, kind, limit)
        raise BadRequest(str(exc), field=exc.field) from None
    if as_csv:
        return csv_response(report, rows, f, extra)
    return json({"rows": rows, "filters": _filters_dict(f)})


async def _summary(
    request: Request, report: str, read: Callable[[AnalyticsStore, Filters], dict[str, Any]]
) -> HTTPResponse:
    """The shared shape of the summary routes: role, filters, one store call in a thread, its one row as
    JSON or CSV."""
    await require(request, *STAFF)
    store = analytics_of(request)
    f = filters_of(request)
    as_csv = _wants_csv(request)
    found = await asyncio.to_thread(read, store, f)
    if as_csv:
        return csv_response(report, [found], f)
    return json({"summary": found, "filters": _filters_dict(f)})


@bp.get("/api/analytics/summary")
@openapi.tag("analytics")
@documented(security=TEAM_READ, errors=(400, 401, 403, 503), params=FILTER_PARAMS)
async def summary(request: Request) -> HTTPResponse:
    """The key numbers of the period: contacts and how they ended, automation and first-contact resolution
    rates, first response, first person and handle time percentiles (seconds), service level against its
    target, CSAT. Rates are null when nothing counts towards them."""
    return await _summary(request, "summary", lambda store, f: store.summary(f))


@bp.get("/api/analytics/series")
@openapi.tag("analytics")
@documented(security=TEAM_READ, errors=(400, 401, 403, 503), params=FILTER_PARAMS)
async def series(request: Request) -> HTTPResponse:
    """One row per day: contacts, automation rate, service level, CSAT average, 90th percentile wait."""
    return await _rows(request, "series", lambda store, f: store.series(f))


@bp.get("/api/analytics/intents")
@openapi.tag("analytics")
@documented(security=TEAM_READ, errors=(400, 401, 403, 503), params=FILTER_PARAMS)
async def intents(request: Request) -> HTTPResponse:
    """Per first intent: contacts, answered by the assistant alone, automation rate, handoffs,
    first-contact resolution and CSAT."""
    return await _rows(request, "intents", lambda store, f: store.by_intent(f))


@bp.get("/api/analytics/reasons")
@openapi.tag("analytics")
@documented(security=TEAM_READ, errors=(400, 401, 403, 503), params=FILTER_PARAMS)
async def reasons(request: Request) -> HTTPResponse:
    """Why conversations were handed to a person: handoffs per reason and their share."""
    return await _rows(request, "reasons", lambda store, f: store.handoff_reasons(f))


@bp.get("/api/analytics/csat")
@openapi.tag("analytics")
@documented(
    security=TEAM_READ,
    errors=(400, 401, 403, 503),
    params=(*FILTER_PARAMS, query("by", string(enum=list(CSAT_BY)), "Group ratings by (default agent)")),
)
async def csat(request: Request) -> HTTPResponse:
    """Customer ratings (1-5 stars) per agent, queue or intent: count, average, share of 4 and 5."""
    by = _choice(request, "by", CSAT_BY, "agent")
    return await _rows(request, "csat", lambda store, f: store.csat(f, by), extra=by)


@bp.get("/api/analytics/misses")
@openapi.tag("analytics")
@documented(
    security=TEAM_READ,
    errors=(400, 401, 403, 503),
    params=(
        *FILTER_PARAMS,
        query("kind", string(enum=list(MISS_KINDS)), "kb_miss (no article good enough) or fallback"),
        query("limit", integer(minimum=1, maximum=MISSES_LIMIT), "Most frequent first (default 50)"),
    ),
)
async def misses(request: Request) -> HTTPResponse:
    """The customer messages (masked) the knowledge base had no answer for, or the assistant did not
    understand, most frequent first, each with the latest conversation it came from."""
    kind = _choice(request, "kind", MISS_KINDS, "kb_miss")
    raw_limit = request.args.get("limit", "50")
    if not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= MISSES_LIMIT):
        raise BadRequest(f"'limit' must be 1-{MISSES_LIMIT}", field="limit")
    limit = int(raw_limit)
    return await _rows(request, "misses", lambda store, f: store.misses(f, kind, limit), extra=kind)


@bp.get("/api/analytics/proactive")
@openapi.tag("analytics")
@documented(security=TEAM_READ, errors=(400, 401, 403, 503), params=FILTER_PARAMS)
async def proactive(request: Request) -> HTTPResponse:
    """Late-order contacts by who spoke first: started by a proactive message about a late order
    (late_shipment, delivery_exception, stuck_processing) or by the customer asking where their order is
    (first intent order_status), with their shares; proactive messages sent, the contacts they started, how
    many the customer answered (reply_rate) and how many of those reached a person. Days, channel and
    language are the contact's; queue, where it was handed off."""
    return await _summary(request, "proactive", lambda store, f: store.proactive_summary(f))


@bp.get("/api/analytics/proactive/triggers")
@openapi.tag("analytics")
@documented(security=TEAM_READ, errors=(400, 401, 403, 503), params=FILTER_PARAMS)
async def proactive_triggers(request: Request) -> HTTPResponse:
    """Per trigger: proactive messages sent, the contacts they started, answered by the customer (count and
    rate), handed to a person, and whether the trigger means a late order; most sent first."""
    return await _rows(request, "proactive-triggers", lambda store, f: store.proactive_triggers(f))


# The charts' library, pinned (static/vendor/uplot/README.md). Public like the console's own modules.
@bp.get("/console/vendor/uplot/uPlot.esm.js")
@openapi.exclude()
async def uplot_script(request: Request) -> HTTPResponse:
    return await serve_file(
        UPLOT / "uPlot.esm.js",
        "text/javascript; charset=utf-8",
        request_headers=request.headers,
    )


@bp.get("/console/vendor/uplot/uPlot.min.css")
@openapi.exclude()
async def uplot_style(request: Request) -> HTTPResponse:
    return await serve_file(
        UPLOT / "uPlot.min.css",
        "text/css; charset=utf-8",
        request_headers=request.headers,
    )


def experiment_filters(store: AnalyticsStore, started_at: float) -> Filters:
    """The filters of an experiment's results: from the day it started, in the store's time zone (a
    contact before the start carries no variant, so the day's earlier hours change nothing)."""
    return Filters(start=date.fromisoformat(store.day_of(started_at)))
