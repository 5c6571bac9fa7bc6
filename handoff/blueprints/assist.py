"""What helps an agent write a reply in the console: quick replies and their variables, knowledge-base
suggestions for the customer's latest message, and knowledge-base search (docs/console.md)."""

from __future__ import annotations

import contextlib
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.blueprints.console_common import accounts_of, console_operation, inbox_of, routing_of
from handoff.blueprints.conversations import conversation_for
from handoff.errors import BadRequest, NotFoundError, Unavailable
from handoff.identity import STAFF, Principal, Role, require
from handoff.openapi_docs import TEAM_READ, array, documented, integer, obj, query, string
from handoff.quick_replies.filling import context_from_conversation

bp = Blueprint("assist")

MAX_QUERY = 500
SUGGESTIONS = 3
_HIT_FIELDS = ("article_id", "title", "answer", "score", "language", "category", "version", "excerpt")


def _language(value: str | None, field: str = "lang") -> str | None:
    if value in (None, ""):
        return None
    if value not in ("en", "zh"):
        raise BadRequest(f"'{field}' must be en or zh", field=field)
    return value


def _limit(request: Request, default: int, high: int) -> int:
    raw = request.args.get("limit", str(default))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= high:
        raise BadRequest(f"'limit' must be 1-{high}", field="limit")
    return int(raw)


@bp.get("/api/quick-replies")
@console_operation("get")
@documented(
    security=TEAM_READ,
    ok_schema=array(obj()),
    params=[
        query("q", string(maxLength=MAX_QUERY), "Matches shortcut, title or text"),
        query("lang", string(enum=["en", "zh"])),
        query("limit", integer(minimum=1, maximum=100), "Default 20"),
    ],
)
async def quick_replies(request: Request) -> HTTPResponse:
    """Templates matching `q` (shortcut, title or text), in `lang` when given."""
    await require(request, Role.AGENT, Role.EDITOR, *STAFF)
    query = request.args.get("q", "")
    if len(query) > MAX_QUERY:
        raise BadRequest(f"'q' is longer than {MAX_QUERY} characters", field="q")
    found = (await request.app.ctx.quick_replies.current()).search(
        query, _language(request.args.get("lang")), _limit(request, 20, 100)
    )
    return json(
        [
            {
                "id": t.id,
                "language": t.language,
                "shortcut": t.shortcut,
                "title": t.title,
                "category": t.category,
                "text": t.text,
                "variables": list(t.variables),
            }
            for t in found
        ]
    )


@bp.get("/api/conversations/<conversation_id>/variables")
@console_operation("get")
@documented(security=TEAM_READ, errors=(400, 401, 403, 404))
async def variables(request: Request, conversation_id: str) -> HTTPResponse:
    """Values for quick-reply variables known from the conversation; the rest the agent fills in."""
    who, _ = await conversation_for(request, conversation_id)
    packet = await inbox_of(request).packet(conversation_id)
    return json({"variables": context_from_conversation(packet, await _display_name(request, who))})


async def _display_name(request: Request, who: Principal) -> str:
    if who.agent_id:
        with contextlib.suppress(NotFoundError):
            return (await routing_of(request).get_agent(who.agent_id)).name
    with contextlib.suppress(NotFoundError):
        return (await accounts_of(request).get_user(who.user_id)).name
    return who.user_id


async def _kb_search(request: Request, query: str, language: str) -> dict[str, Any]:
    from kb_index.manifest import IndexLoadError  # heavy: loaded on the first search
    from kb_index.retriever import KnowledgeBaseUnavailable

    kb = request.app.ctx.knowledge()
    try:
        result = await kb.search(query, language, top_k=SUGGESTIONS)
    except (KnowledgeBaseUnavailable, IndexLoadError) as exc:
        raise Unavailable(f"the knowledge base is not available: {exc}") from None
    return {
        "query": query,
        "language": language,
        "version": result.version,
        "miss": result.miss,
        "hits": [{k: v for k, v in hit.to_json().items() if k in _HIT_FIELDS} for hit in result.hits],
    }


@bp.get("/api/conversations/<conversation_id>/suggestions")
@console_operation("get")
@documented(security=TEAM_READ, errors=(400, 401, 403, 404, 503))
async def suggestions(request: Request, conversation_id: str) -> HTTPResponse:
    """Knowledge-base articles for the customer's latest message, in the conversation's language."""
    _, info = await conversation_for(request, conversation_id)
    latest = await inbox_of(request).latest_customer_text(conversation_id)
    language = info.get("language") or "en"
    if latest is None:
        return json({"query": None, "language": language, "version": None, "miss": True, "hits": []})
    return json(await _kb_search(request, latest[:MAX_QUERY], language))


@bp.get("/api/kb/search")
@console_operation("get")
@documented(
    security=TEAM_READ,
    params=[
        query("q", string(minLength=1, maxLength=MAX_QUERY), required=True),
        query("lang", string(enum=["en", "zh"]), "Default en"),
    ],
    errors=(400, 401, 403, 503),
)
async def kb_search(request: Request) -> HTTPResponse:
    """Search the knowledge base as an agent types: `q`, `lang` (en or zh)."""
    await require(request, Role.AGENT, Role.EDITOR, *STAFF)
    query = request.args.get("q", "").strip()
    if not query or len(query) > MAX_QUERY:
        raise BadRequest(f"'q' must be 1-{MAX_QUERY} characters", field="q")
    return json(await _kb_search(request, query, _language(request.args.get("lang")) or "en"))
