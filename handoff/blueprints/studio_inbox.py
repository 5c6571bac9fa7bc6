"""The studio's inbox, agents' flags, "try it" and the audit log (docs/studio.md).

Editors read the messages the assistant was unsure of, handed off, or that an agent flagged, grouped by
meaning; they accept one (or a group) into the training data under the right intent, or dismiss it. Agents
flag a message from the console. "Try it" shows what the live model makes of any text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from common.language import detect_language
from handoff.blueprints.conversations import conversation_for
from handoff.blueprints.studio_nlu import nlu_data_of
from handoff.bot_client import BotUnavailable, RasaBot
from handoff.errors import BadRequest, Conflict, NotFoundError, Unavailable, json_object
from handoff.hub import Hub
from handoff.identity import STAFF, Role, require
from handoff.openapi_docs import TEAM_READ, TEAM_WRITE, documented
from handoff.studio import audit
from handoff.studio.access import STUDIO_READ, STUDIO_WRITE
from handoff.studio.inbox import REASONS, InboxItem, StudioInbox, group_by_similarity
from handoff.studio.masking import mask
from handoff.studio.nlu_data import NluWriteError, accept_example

bp = Blueprint("studio_inbox")
logger = logging.getLogger(__name__)

MAX_TEXT = 500
MAX_IDS = 200
CONTEXT_BEFORE = 6
CONTEXT_AFTER = 4
GROUP_THRESHOLD = 0.8
_VECTORS: OrderedDict[str, list[float]] = OrderedDict()  # item id -> sentence vector, per worker
_VECTORS_KEPT = 20_000


def studio_inbox_of(request: Request) -> StudioInbox:
    inbox: StudioInbox = request.app.ctx.studio_inbox
    return inbox


def _bot(request: Request) -> RasaBot:
    bot: RasaBot | None = getattr(request.app.ctx, "bot", None)
    if bot is None:
        raise Unavailable("the assistant is not reachable from this service")
    return bot


def _ids(body: dict[str, Any]) -> list[str]:
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise BadRequest("'ids' must be a non-empty list of item ids", field="ids")
    if len(ids) > MAX_IDS:
        raise BadRequest(f"'ids' may name at most {MAX_IDS} items", field="ids")
    return ids


def _text(body: dict[str, Any], name: str = "text", required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"'{name}' must be a non-empty string", field=name)
    if len(value) > MAX_TEXT:
        raise BadRequest(f"'{name}' is longer than {MAX_TEXT} characters", field=name)
    return value.strip()


async def _vectors(request: Request, items: Sequence[InboxItem]) -> dict[str, list[float]]:
    """Sentence vectors for grouping, from the knowledge base's encoders; none when it is not available."""
    missing: dict[str, list[InboxItem]] = {}
    for item in items:
        if item.id not in _VECTORS:
            missing.setdefault(item.language, []).append(item)
    knowledge = getattr(request.app.ctx, "knowledge", None)
    if missing and knowledge is not None:
        try:
            kb = knowledge()
            for language, todo in missing.items():
                matrix = await kb.embed([i.text for i in todo], language)
                for item, row in zip(todo, matrix, strict=True):
                    _VECTORS[item.id] = [float(x) for x in row]
        except Exception:  # grouping is a convenience: a list without groups is still the inbox
            logger.warning("studio.inbox.grouping_unavailable", exc_info=True)
        while len(_VECTORS) > _VECTORS_KEPT:
            _VECTORS.popitem(last=False)
    return {i.id: _VECTORS[i.id] for i in items if i.id in _VECTORS}


@bp.get("/api/studio/inbox")
@openapi.tag("studio")
@documented(security=TEAM_READ, errors=(400, 401, 403))
async def list_inbox(request: Request) -> HTTPResponse:
    """Open (or resolved) inbox items, newest first, with groups of similar messages.

    Query: status (open | resolved | accepted | dismissed), language (en | zh), reason (low_confidence,
    fallback, handoff, flagged), limit (1-500, default 200)."""
    await require(request, *STUDIO_READ)
    status = request.args.get("status", "open")
    if status not in ("open", "resolved", "accepted", "dismissed"):
        raise BadRequest("'status' must be open, resolved, accepted or dismissed", field="status")
    language = request.args.get("language") or None
    if language not in (None, "en", "zh"):
        raise BadRequest("'language' must be en or zh", field="language")
    reason = request.args.get("reason") or None
    if reason is not None and reason not in REASONS:
        raise BadRequest(f"'reason' must be one of {', '.join(REASONS)}", field="reason")
    raw_limit = request.args.get("limit", "200")
    if not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= 500):
        raise BadRequest("'limit' must be 1-500", field="limit")
    inbox = studio_inbox_of(request)
    items = await inbox.items(status, language, reason, int(raw_limit))
    groups = group_by_similarity(items, await _vectors(request, items), GROUP_THRESHOLD)
    return json(
        {
            "items": [i.as_dict() for i in items],
            "groups": groups,
            "counts": await inbox.counts(),
            "low_confidence": inbox.low_confidence,
        }
    )


@bp.get("/api/studio/inbox/<item_id:str>")
@openapi.tag("studio")
@documented(security=TEAM_READ, errors=(401, 403, 404))
async def inbox_item(request: Request, item_id: str) -> HTTPResponse:
    """One item with the conversation around it (masked like the item)."""
    await require(request, *STUDIO_READ)
    item = await studio_inbox_of(request).get(item_id)
    if item is None:
        raise NotFoundError("unknown_item", f"no inbox item '{item_id}'")
    hub: Hub = request.app.ctx.hub
    messages = await hub.history(item.conversation_id)
    at = next((n for n, m in enumerate(messages) if item.message_id and m.id == item.message_id), None)
    if at is None:  # captured from a handoff's history: find the customer's message by its text
        at = next(
            (
                n
                for n in range(len(messages) - 1, -1, -1)
                if messages[n].author == "customer" and mask(messages[n].text).text == item.text
            ),
            None,
        )
    window = (
        messages[max(0, at - CONTEXT_BEFORE) : at + CONTEXT_AFTER + 1] if at is not None else messages[-10:]
    )
    context = [
        {
            "author": m.author,
            "text": mask(m.text).text,
            "ts": m.ts,
            "this": at is not None and m is messages[at],
        }
        for m in window
        if not m.internal
    ]
    return json({"item": item.as_dict(), "context": context})


@bp.post("/api/studio/inbox/accept")
@openapi.tag("studio")
@documented(security=TEAM_WRITE, errors=(400, 401, 403, 404, 409))
async def accept(request: Request) -> HTTPResponse:
    """Add items to the training data under `intent` (body: ids, intent, and optionally `text`, a corrected
    wording for a single item, which may mark entities: `[red jacket](item)`). Each item is masked again;
    items refused (a duplicate, an unknown intent or entity) are listed with the reason and stay open."""
    who = await require(request, *STUDIO_WRITE)
    body = json_object(request)
    ids = _ids(body)
    intent = _text(body, "intent")
    assert intent is not None
    edited = _text(body, "text", required=False)
    if edited is not None and len(ids) != 1:
        raise BadRequest("'text' can only correct a single item", field="text")
    inbox = studio_inbox_of(request)
    nlu = nlu_data_of(request)
    accepted: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    for item_id in ids:
        item = await inbox.get(item_id)
        if item is None:
            refused.append({"id": item_id, "error": "unknown_item", "message": "no such inbox item"})
            continue
        text = mask(edited).text if edited is not None else item.text
        try:
            annotated = edited is not None  # the editor's wording may mark entities
            stored = await asyncio.to_thread(accept_example, nlu, intent, item.language, text, annotated)
        except (BadRequest, Conflict, ValueError) as exc:
            refused.append({"id": item_id, "error": "refused", "message": str(exc)})
            continue
        except NluWriteError as exc:  # the file check failed: nothing was written, the item stays open
            refused.append({"id": item_id, "error": "not_written", "message": str(exc)})
            continue
        await inbox.resolve([item_id], "accepted", who.user_id, intent)
        accepted.append({"id": item_id, "text": stored.example.text, "language": item.language})
    if accepted:
        await audit.record(
            request.app.ctx.redis,
            who.user_id,
            "inbox.accepted",
            {
                "intent": intent,
                "examples": [{"language": a["language"], "text": a["text"]} for a in accepted],
            },
        )
    return json({"accepted": accepted, "refused": refused, "intent": intent})


@bp.post("/api/studio/inbox/dismiss")
@openapi.tag("studio")
@documented(security=TEAM_WRITE, errors=(400, 401, 403))
async def dismiss(request: Request) -> HTTPResponse:
    """Dismiss items (body: ids): nothing to learn from them."""
    who = await require(request, *STUDIO_WRITE)
    ids = _ids(json_object(request))
    done = await studio_inbox_of(request).resolve(ids, "dismissed", who.user_id)
    if done:
        await audit.record(request.app.ctx.redis, who.user_id, "inbox.dismissed", {"ids": done})
    return json({"dismissed": done, "unknown": [i for i in ids if i not in done]})


@bp.post("/api/studio/flags")
@openapi.tag("studio")
@documented(security=TEAM_WRITE, errors=(400, 401, 403, 404))
async def flag(request: Request) -> HTTPResponse:
    """An agent (in a conversation they hold) or staff marks a customer message as misunderstood; body:
    conversation_id, message_id, and optionally intent (what it meant) and note."""
    body = json_object(request)
    conversation_id = body.get("conversation_id")
    if not isinstance(conversation_id, str) or not conversation_id:
        raise BadRequest("'conversation_id' is required", field="conversation_id")
    who, info = await conversation_for(request, conversation_id)
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise BadRequest("'message_id' is required", field="message_id")
    intent = _text(body, "intent", required=False)
    note = _text(body, "note", required=False)
    hub: Hub = request.app.ctx.hub
    message = next((m for m in await hub.history(conversation_id) if m.id == message_id), None)
    if message is None:
        raise NotFoundError("unknown_message", f"no message '{message_id}' in this conversation")
    if message.author != "customer" or not message.text.strip():
        raise BadRequest("only a customer's text message can be flagged", field="message_id")
    understood: dict[str, Any] | None = None
    with contextlib.suppress(BotUnavailable, Unavailable):  # the flag matters more than the prediction
        from handoff.studio.inbox import summarise_prediction

        understood = summarise_prediction(_understanding(await _bot(request).parse(message.text)))
    language = detect_language(message.text) or info.get("language") or "en"
    item_id = await studio_inbox_of(request).flag(
        conversation_id, message_id, message.text, language, understood, who.user_id, intent, note
    )
    await audit.record(
        request.app.ctx.redis,
        who.user_id,
        "inbox.flagged",
        {"item": item_id, "conversation_id": conversation_id, "intent": intent},
    )
    return json({"id": item_id}, status=201)


def _understanding(parse: dict[str, Any]) -> dict[str, Any]:
    """Rasa's parse result in the shape the hub channel reports (bot.rasa_fixes.understanding)."""
    intent = parse.get("intent") or {}
    return {
        "intent": intent.get("name"),
        "confidence": round(float(intent.get("confidence") or 0.0), 4),
        "ranking": [
            {"name": r.get("name"), "confidence": round(float(r.get("confidence") or 0.0), 4)}
            for r in (parse.get("intent_ranking") or [])[:10]
            if isinstance(r, dict)
        ],
        "entities": [
            {k: e.get(k) for k in ("entity", "value", "start", "end", "extractor")}
            for e in parse.get("entities") or []
            if isinstance(e, dict)
        ],
        **({"affect": parse["affect"]} if isinstance(parse.get("affect"), dict) else {}),
    }


@bp.get("/api/studio/intent-names")
@openapi.tag("studio")
@documented(security=TEAM_READ, errors=(401, 403))
async def intent_names(request: Request) -> HTTPResponse:
    """The intents an agent can name when flagging a message (the domain's, less the fallback)."""
    await require(request, Role.AGENT, *STUDIO_READ)
    intents = await asyncio.to_thread(nlu_data_of(request).intents)
    return json({"intents": [i["name"] for i in intents if i.get("editable", True)]})


@bp.post("/api/studio/try")
@openapi.tag("studio")
@documented(security=TEAM_WRITE, errors=(400, 401, 403, 503))
async def try_it(request: Request) -> HTTPResponse:
    """What the live model makes of `text`: intent ranking, entities, language, affect, and the
    knowledge-base article it would answer with. Nothing is stored."""
    await require(request, *STUDIO_WRITE, Role.SUPERVISOR)
    text = _text(json_object(request))
    assert text is not None
    try:
        parse = await _bot(request).parse(text)
    except BotUnavailable:
        raise Unavailable("the assistant did not answer; is a model loaded?") from None
    language = detect_language(text) or "en"
    article: dict[str, Any] | None = None
    knowledge = getattr(request.app.ctx, "knowledge", None)
    if knowledge is not None:
        with contextlib.suppress(Exception):  # the parse is the answer; the article is extra
            found = await knowledge().search(text, language, top_k=1)
            if found.hits:
                hit = found.hits[0]
                article = {
                    "article_id": hit.article_id,
                    "title": hit.title,
                    "score": round(float(hit.score), 4),
                    "answered": not found.miss,  # a miss hands off instead of answering with it
                }
    return json({"text": text, "language": language, **_understanding(parse), "article": article})


@bp.get("/api/studio/audit")
@openapi.tag("studio")
@documented(security=TEAM_READ, errors=(400, 401, 403))
async def audit_log(request: Request) -> HTTPResponse:
    """The newest studio changes (who, when, what); `prefix` filters by action (e.g. "model.")."""
    await require(request, *STUDIO_READ, *STAFF)
    raw_limit = request.args.get("limit", "100")
    if not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= 1000):
        raise BadRequest("'limit' must be 1-1000", field="limit")
    prefix = request.args.get("prefix", "")
    if len(prefix) > 64:
        raise BadRequest("'prefix' is too long", field="prefix")
    entries = await audit.recent(request.app.ctx.redis, int(raw_limit), prefix)
    return json({"entries": entries})
