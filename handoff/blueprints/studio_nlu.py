"""The studio's training data: intents, their examples per language, live warnings and search.

Reads are for editors, admins and supervisors; changes for editors and admins, each based on the version
the editor saw (409 with the current examples otherwise) and recorded in the studio's audit log. File work
runs in a thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic_ext.extensions.openapi import openapi

from handoff.errors import BadRequest, json_object
from handoff.identity import require
from handoff.openapi_docs import (
    TEAM_READ,
    TEAM_WRITE,
    array,
    boolean,
    documented,
    integer,
    obj,
    query,
    string,
)
from handoff.studio import audit
from handoff.studio.access import STUDIO_READ, STUDIO_WRITE
from handoff.studio.nlu_data import (
    LANGUAGES,
    MAX_QUERY_CHARS,
    MAX_TEXT_CHARS,
    MAX_TEXTS_PER_ADD,
    MIN_EXAMPLES,
    NluData,
    accept_example,
)

__all__ = ["NluData", "accept_example", "bp", "nlu_data_of"]

bp = Blueprint("studio_nlu")

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SEARCH_LIMIT = 500

_LANGUAGE = string(enum=list(LANGUAGES))
_TEXT = string(minLength=1, maxLength=MAX_TEXT_CHARS * 4, description="As written, with entity markup")
_ENTITY = obj(
    {
        "entity": string(),
        "value": string(),
        "text": string(),
        "start": integer(),
        "end": integer(),
        "role": string(),
        "group": string(),
    }
)
_EXAMPLE = obj(
    {
        "text": string(description="As written, with entity markup"),
        "plain": string(),
        "entities": array(_ENTITY),
        "file": string(description="The data file holding it, relative to the project"),
        "problem": string(description="Markup that could not be read (written by hand)"),
    }
)
_EXAMPLES = obj(
    {
        "intent": string(),
        "language": _LANGUAGE,
        "version": string(description="Send it back as base_version with the next change"),
        "count": integer(),
        "files": array(string()),
        "adds_to": string(description="The file new examples go to"),
        "examples": array(_EXAMPLE),
    }
)
_VERSION = string(minLength=1, description="The version the change is based on")


def nlu_data_of(request: Request) -> NluData:
    """The app's training-data store: `app.ctx.nlu_data` when set, else one over the studio root setting
    (STUDIO_ROOT) or this checkout, made once per worker."""
    found: NluData | None = getattr(request.app.ctx, "nlu_data", None)
    if found is None:
        settings = getattr(request.app.ctx, "settings", None)
        root = getattr(settings, "studio_root", "") or REPOSITORY_ROOT
        found = NluData(Path(root))
        request.app.ctx.nlu_data = found
    return found


async def _record(request: Request, actor: str, action: str, detail: dict[str, Any]) -> None:
    await audit.record(request.app.ctx.redis, actor, action, detail)


@bp.get("/api/studio/intents")
@openapi.tag("studio")
@documented(
    security=TEAM_READ,
    errors=(401, 403, 409),
    ok_schema=obj(
        {
            "intents": array(
                obj(
                    {
                        "name": string(),
                        "editable": boolean(),
                        "languages": obj(
                            additionalProperties=obj(
                                {"count": integer(), "version": string(), "files": array(string())}
                            )
                        ),
                    }
                )
            ),
            "languages": array(_LANGUAGE),
            "min_examples": integer(),
        }
    ),
)
async def list_intents(request: Request) -> HTTPResponse:
    """Every intent of the domain with, per language, its example count, version and files."""
    await require(request, *STUDIO_READ)
    intents = await asyncio.to_thread(nlu_data_of(request).intents)
    return json({"intents": intents, "languages": list(LANGUAGES), "min_examples": MIN_EXAMPLES})


@bp.get("/api/studio/intents/<intent:str>/<language:str>")
@openapi.tag("studio")
@documented(security=TEAM_READ, errors=(400, 401, 403, 404, 409), ok_schema=_EXAMPLES)
async def intent_examples(request: Request, intent: str, language: str) -> HTTPResponse:
    """An intent's examples in one language, with their version."""
    await require(request, *STUDIO_READ)
    found = await asyncio.to_thread(nlu_data_of(request).examples, intent, language)
    return json(found.as_dict())


@bp.post("/api/studio/intents/<intent:str>/<language:str>/examples")
@openapi.tag("studio")
@documented(
    security=TEAM_WRITE,
    ok=201,
    errors=(400, 401, 403, 404, 409),
    body=obj(
        {"texts": array(_TEXT, minItems=1, maxItems=MAX_TEXTS_PER_ADD), "base_version": _VERSION},
        required=["texts", "base_version"],
    ),
    ok_schema=_EXAMPLES,
)
async def add_examples(request: Request, intent: str, language: str) -> HTTPResponse:
    """Add examples at the end of the intent's block; 409 with the current examples when `base_version` is
    not the current one."""
    who = await require(request, *STUDIO_WRITE)
    body = json_object(request)
    nlu = nlu_data_of(request)
    saved = await asyncio.to_thread(nlu.add, intent, language, body.get("texts"), body.get("base_version"))
    detail = {"intent": intent, "language": language, "texts": list(saved.texts)}
    await _record(request, who.user_id, "nlu.example.added", {**detail, "version": saved.examples.version})
    return json(saved.examples.as_dict(), status=201)


@bp.put("/api/studio/intents/<intent:str>/<language:str>/examples")
@openapi.tag("studio")
@documented(
    security=TEAM_WRITE,
    errors=(400, 401, 403, 404, 409),
    body=obj({"old": _TEXT, "new": _TEXT, "base_version": _VERSION}, required=["old", "new", "base_version"]),
    ok_schema=_EXAMPLES,
)
async def edit_example(request: Request, intent: str, language: str) -> HTTPResponse:
    """Replace the example `old` (as written) with `new` where it stands."""
    who = await require(request, *STUDIO_WRITE)
    body = json_object(request)
    nlu = nlu_data_of(request)
    old = body.get("old")
    saved = await asyncio.to_thread(
        nlu.edit, intent, language, old, body.get("new"), body.get("base_version")
    )
    detail = {"intent": intent, "language": language, "old": old, "new": saved.texts[0]}
    await _record(request, who.user_id, "nlu.example.edited", {**detail, "version": saved.examples.version})
    return json(saved.examples.as_dict())


@bp.delete("/api/studio/intents/<intent:str>/<language:str>/examples")
@openapi.tag("studio")
@documented(
    security=TEAM_WRITE,
    errors=(400, 401, 403, 404, 409),
    body=obj({"text": _TEXT, "base_version": _VERSION}, required=["text", "base_version"]),
    ok_schema=_EXAMPLES,
)
async def delete_example(request: Request, intent: str, language: str) -> HTTPResponse:
    """Remove the example `text` (as written), every copy of it."""
    who = await require(request, *STUDIO_WRITE)
    body = json_object(request)
    nlu = nlu_data_of(request)
    saved = await asyncio.to_thread(nlu.delete, intent, language, body.get("text"), body.get("base_version"))
    detail = {"intent": intent, "language": language, "texts": list(saved.texts)}
    await _record(request, who.user_id, "nlu.example.deleted", {**detail, "version": saved.examples.version})
    return json(saved.examples.as_dict())


@bp.post("/api/studio/intents/<intent:str>/<language:str>/examples/move")
@openapi.tag("studio")
@documented(
    security=TEAM_WRITE,
    errors=(400, 401, 403, 404, 409),
    body=obj(
        {"text": _TEXT, "to_intent": string(), "base_version": _VERSION, "to_base_version": _VERSION},
        required=["text", "to_intent", "base_version", "to_base_version"],
    ),
    ok_schema=obj({"from": _EXAMPLES, "to": _EXAMPLES}),
)
async def move_example(request: Request, intent: str, language: str) -> HTTPResponse:
    """Move the example `text` to the end of `to_intent` (same language); both versions must be current."""
    who = await require(request, *STUDIO_WRITE)
    body = json_object(request)
    nlu = nlu_data_of(request)
    to_intent = body.get("to_intent")
    versions = (body.get("base_version"), body.get("to_base_version"))
    saved = await asyncio.to_thread(nlu.move, intent, language, body.get("text"), to_intent, versions)
    assert saved.target is not None  # a move always has one
    detail = {"intent": intent, "language": language, "texts": list(saved.texts), "to_intent": to_intent}
    detail.update(version=saved.examples.version, to_version=saved.target.version)
    await _record(request, who.user_id, "nlu.example.moved", detail)
    return json({"from": saved.examples.as_dict(), "to": saved.target.as_dict()})


@bp.post("/api/studio/warnings")
@openapi.tag("studio")
@documented(
    security=TEAM_WRITE,
    errors=(400, 401, 403, 409),
    body=obj(
        {"intent": string(), "language": _LANGUAGE, "texts": array(_TEXT, maxItems=MAX_TEXTS_PER_ADD)},
        required=["intent", "language", "texts"],
    ),
    ok_schema=obj(
        {
            "warnings": array(
                obj(
                    {
                        "kind": string(),
                        "blocking": boolean(description="A save would refuse it"),
                        "index": integer(nullable=True, description="Which of `texts`; null: the intent"),
                        "text": string(nullable=True),
                        "message": string(),
                    }
                )
            )
        }
    ),
)
async def warnings(request: Request) -> HTTPResponse:
    """What would be wrong or doubtful about adding `texts` to the intent; nothing is written."""
    await require(request, *STUDIO_READ)
    body = json_object(request)
    nlu = nlu_data_of(request)
    found = await asyncio.to_thread(
        nlu.warnings, body.get("intent"), body.get("language"), body.get("texts", [])
    )
    return json({"warnings": found})


@bp.get("/api/studio/examples")
@openapi.tag("studio")
@documented(
    security=TEAM_READ,
    errors=(400, 401, 403, 409),
    params=[
        query("q", string(maxLength=MAX_QUERY_CHARS), "Matches the text, case, width and spacing ignored"),
        query("language", _LANGUAGE),
        query("intent", string()),
        query("limit", integer(minimum=1, maximum=SEARCH_LIMIT), "Default 100"),
    ],
    ok_schema=obj(
        {
            "query": string(),
            "total": integer(),
            "truncated": boolean(),
            "examples": array(_EXAMPLE),
        }
    ),
)
async def search_examples(request: Request) -> HTTPResponse:
    """Examples containing `q`, across intents, optionally in one language or intent."""
    await require(request, *STUDIO_READ)
    raw_limit = request.args.get("limit", "100")
    if not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit[:6]) <= SEARCH_LIMIT):
        raise BadRequest(f"'limit' must be 1-{SEARCH_LIMIT}", field="limit")
    nlu = nlu_data_of(request)
    found = await asyncio.to_thread(
        nlu.search,
        request.args.get("q", ""),
        request.args.get("language") or None,
        request.args.get("intent") or None,
        int(raw_limit),
    )
    return json(found)
