"""The studio's quick-reply editor: list, read, check, save and delete templates (docs/quick-replies.md).

A template here is one id with its English and Chinese versions. Saves are refused when based on an old
version (409 with the current one), checked like `python -m handoff.quick_replies check` (400 naming the
field), written atomically, audited, and served by every hub worker at once (handoff/quick_replies/live.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic_ext.extensions.openapi import openapi

from handoff.errors import BadRequest, Conflict, NotFoundError, Unavailable, json_object
from handoff.identity import require
from handoff.openapi_docs import (
    TEAM_READ,
    TEAM_WRITE,
    array,
    boolean,
    documented,
    nullable_string,
    obj,
    query,
    string,
)
from handoff.quick_replies.editing import (
    LIMITS,
    DraftInvalid,
    EditableTemplate,
    EditorBusy,
    FilesUnusable,
    FilesUnwritable,
    TemplateEditor,
    TemplateNotFound,
    VersionConflict,
)
from handoff.quick_replies.live import LiveQuickReplies
from handoff.quick_replies.model import CATEGORIES, LANGUAGES, VARIABLES
from handoff.studio import audit
from handoff.studio.access import STUDIO_READ, STUDIO_WRITE

logger = logging.getLogger(__name__)

bp = Blueprint("studio_quick_replies")

_VARIANT = obj(
    {
        "file": string(description="The template file, e.g. en.yml"),
        "shortcut": string(),
        "title": string(),
        "category": string(enum=list(CATEGORIES)),
        "text": string(),
        "variables": array(string(), description="Variables the text uses, in order of first use"),
    },
    nullable=True,
    description="null: the template has no version in this language",
)
_TEMPLATE = obj(
    {
        "id": string(),
        "version": string(description="Send it back with a change: an edit of an older version is refused"),
        "languages": obj({language: _VARIANT for language in LANGUAGES}),
    }
)
_DRAFT_VARIANT = obj(
    {
        "shortcut": string(maxLength=LIMITS["shortcut"]),
        "title": string(maxLength=LIMITS["title"]),
        "category": string(enum=list(CATEGORIES)),
        "text": string(maxLength=LIMITS["text"]),
        "file": string(maxLength=LIMITS["file"], description="Default: where it is, else <language>.yml"),
    },
    required=["shortcut", "title", "category", "text"],
    nullable=True,
    description="null removes this language; a language left out stays as it is",
)
_DRAFT_LANGUAGES = obj({language: _DRAFT_VARIANT for language in LANGUAGES})
_PROBLEM = obj({"field": string(), "message": string(), "severity": string(enum=["error", "warning"])})


def _live(request: Request) -> LiveQuickReplies:
    live = getattr(request.app.ctx, "quick_replies", None)
    if not isinstance(live, LiveQuickReplies):
        raise Unavailable("quick-reply editing is not enabled on this service")
    return live


@asynccontextmanager
async def _translated(template_id: str | None = None) -> AsyncIterator[None]:
    """The editor's outcomes as the API's errors."""
    try:
        yield
    except DraftInvalid as exc:
        raise BadRequest(str(exc), field=exc.field) from None
    except VersionConflict as exc:
        current = exc.current.as_json() if exc.current is not None else None
        raise Conflict(exc.code, str(exc), current=current) from None
    except TemplateNotFound:
        raise NotFoundError("quick_reply_not_found", f"no quick reply '{template_id}'") from None
    except (EditorBusy, FilesUnwritable) as exc:
        raise Unavailable(str(exc)) from None
    except FilesUnusable as exc:
        raise Conflict("quick_replies_broken", str(exc)) from None


async def _announce(request: Request, digest: str) -> None:
    """Every worker rereads the files. A Redis failure here must not fail a save that is written:
    the workers notice the changed files on their next poll."""
    try:
        await _live(request).announce(digest)
    except Exception:
        logger.warning("hub.studio.quick_replies.announce_failed", exc_info=True)


async def _serve_now(request: Request) -> None:
    """This worker serves the change before answering, so the editor sees it in the console at once."""
    try:
        await _live(request).catch_up()
    except Exception:
        logger.warning("hub.studio.quick_replies.refresh_failed", exc_info=True)


@bp.get("/api/studio/quick-replies")
@openapi.tag("studio")
@documented(
    security=TEAM_READ,
    ok_schema=obj(
        {
            "templates": array(_TEMPLATE),
            "files": array(obj({"file": string(), "language": string(enum=list(LANGUAGES))})),
            "languages": array(string()),
            "categories": array(string()),
            "variables": array(obj({"name": string(), "source": string()})),
        }
    ),
    errors=(401, 403, 409, 503),
)
async def list_templates(request: Request) -> HTTPResponse:
    """Every template by id, with both languages, its file, its variables and its version; and what an
    editor may choose from (languages, categories, variables with where their values come from)."""
    await require(request, *STUDIO_READ)
    async with _translated():
        templates = await TemplateEditor(_live(request).directory).templates()
    files = sorted({(v.file, language) for t in templates for language, v in t.languages.items()})
    return json(
        {
            "templates": [t.as_json() for t in templates],
            "files": [{"file": file, "language": language} for file, language in files],
            "languages": list(LANGUAGES),
            "categories": list(CATEGORIES),
            "variables": [{"name": name, "source": source} for name, source in VARIABLES.items()],
        }
    )


@bp.post("/api/studio/quick-replies/check")
@openapi.tag("studio")
@documented(
    security=TEAM_WRITE,
    body=obj(
        {"id": string(maxLength=LIMITS["id"]), "version": nullable_string(), "languages": _DRAFT_LANGUAGES},
        required=["id", "languages"],
    ),
    ok_schema=obj(
        {
            "ok": boolean(description="No errors (warnings allowed): the draft can be saved"),
            "problems": array(_PROBLEM),
            "languages": obj(
                {
                    language: obj({"variables": array(string()), "preview": string()}, nullable=True)
                    for language in LANGUAGES
                }
            ),
        }
    ),
    errors=(400, 401, 403, 409, 503),
)
async def check_template(request: Request) -> HTTPResponse:
    """The checker on an unsaved draft {id, version?, languages}: every problem (errors and warnings,
    each naming its field) and, per language, the variables used and a preview filled with sample
    values. Nothing is saved. With `version`, a draft based on an old version is reported too."""
    await require(request, *STUDIO_READ)
    body = json_object(request)
    async with _translated():
        checked = await TemplateEditor(_live(request).directory).check(body)
    return json(checked.as_json())


@bp.get("/api/studio/quick-replies/<template_id>")
@openapi.tag("studio")
@documented(security=TEAM_READ, ok_schema=_TEMPLATE, errors=(401, 403, 404, 409, 503))
async def get_template(request: Request, template_id: str) -> HTTPResponse:
    """One template with both languages and its version."""
    await require(request, *STUDIO_READ)
    async with _translated(template_id):
        template = await TemplateEditor(_live(request).directory).template(template_id)
    return json(template.as_json())


@bp.put("/api/studio/quick-replies/<template_id>")
@openapi.tag("studio")
@documented(
    security=TEAM_WRITE,
    body=obj(
        {
            "version": nullable_string(description="The version you edited; null to create the template"),
            "languages": _DRAFT_LANGUAGES,
        },
        required=["version", "languages"],
    ),
    ok_schema=obj(
        {"template": _TEMPLATE, "changed": boolean(), "warnings": array(_PROBLEM)},
    ),
    ok_description="Updated (or unchanged)",
    also=(201,),
    errors=(400, 401, 403, 409, 503),
)
async def save_template(request: Request, template_id: str) -> HTTPResponse:
    """Create (`version`: null; 201) or update (`version` as read; 200) a template. Languages left out
    stay as they are; a language set to null is removed. Agents get the change at once."""
    who = await require(request, *STUDIO_WRITE)
    body = json_object(request)
    live = _live(request)

    async def announce(digest: str) -> None:
        await _announce(request, digest)

    async with _translated(template_id):
        saved = await TemplateEditor(live.directory).save(template_id, body, announce)
    if saved.changed:
        await _serve_now(request)
        detail: dict[str, Any] = {
            "id": template_id,
            "version": saved.template.version,
            "previous_version": saved.previous.version if saved.previous else None,
            "created": saved.created,
            "before": saved.previous.content() if saved.previous else None,
            "after": saved.template.content(),
        }
        await audit.record(request.app.ctx.redis, who.user_id, "quick_replies.template.saved", detail)
    return json(
        {
            "template": saved.template.as_json(),
            "changed": saved.changed,
            "warnings": [w.as_json() for w in saved.warnings],
        },
        status=201 if saved.created else 200,
    )


@bp.delete("/api/studio/quick-replies/<template_id>")
@openapi.tag("studio")
@documented(
    security=TEAM_WRITE,
    params=[query("version", string(), "The version you are deleting (from GET)", required=True)],
    ok_schema=obj({"id": string(), "deleted": boolean(), "version": string()}),
    errors=(400, 401, 403, 404, 409, 503),
)
async def delete_template(request: Request, template_id: str) -> HTTPResponse:
    """Delete a template in every language; `version` must be the current one."""
    who = await require(request, *STUDIO_WRITE)
    version = request.args.get("version", "")
    if not version:
        raise BadRequest("'version' is required: the version you are deleting (from GET)", field="version")
    live = _live(request)

    async def announce(digest: str) -> None:
        await _announce(request, digest)

    async with _translated(template_id):
        deleted: EditableTemplate = await TemplateEditor(live.directory).delete(
            template_id, version, announce
        )
    await _serve_now(request)
    detail = {"id": template_id, "version": deleted.version, "before": deleted.content()}
    await audit.record(request.app.ctx.redis, who.user_id, "quick_replies.template.deleted", detail)
    return json({"id": template_id, "deleted": True, "version": deleted.version})
