"""The studio's knowledge-base API: edit articles, preview them, publish a new index version, compare
versions as text, roll back, and the inbox of customer questions the knowledge base missed (docs/studio.md).

The article files are edited by kb_index.editing (optimistic concurrency by content hash, atomic writes,
a file lock). What the hub workers of all machines must agree on lives in Redis, under
`hub:studio:kb:...`: the publish lease (one build at a time in the cluster), the publish state the page
polls, who published each version, and the missed questions.

A publish runs `python -m kb_index build` in a child process: the encoders take hundreds of megabytes and
seconds to minutes of CPU, which must not land in a worker that serves customers and agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import json as jsonlib
import logging
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from markdown_it import MarkdownIt
from redis.asyncio import Redis
from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic_ext.extensions.openapi import openapi

from handoff import keys
from handoff.errors import BadRequest, Conflict, NotFoundError, Unavailable, json_object
from handoff.identity import Principal, require
from handoff.openapi_docs import (
    TEAM_READ,
    TEAM_WRITE,
    array,
    boolean,
    documented,
    integer,
    nullable_string,
    number,
    obj,
    query,
    string,
)
from handoff.studio import audit
from handoff.studio.access import STUDIO_READ, STUDIO_WRITE
from kb_index import editing, storage
from kb_index.articles import CATEGORIES, LANGUAGES, QUESTION_TYPES, URGENCIES

logger = logging.getLogger(__name__)
T = TypeVar("T")

bp = Blueprint("studio_kb")
SECTION = "studio"

LEASE_SECONDS = 30  # a publisher that dies frees the cluster's publish within this
HEARTBEAT_SECONDS = 10
PUBLISH_TIMEOUT_SECONDS = 3600
PROGRESS_LINES = 40  # the build's latest output lines kept in the state
PROBLEM_LINES = 200
MISS_RETENTION_SECONDS = 90 * 86400  # customers' words are kept no longer than this
MISSES_KEPT = 2000  # per language
MISS_QUESTION_CHARS = 1000
MISS_HITS = 3
MISS_ID = re.compile(r"^[0-9a-f]{16}\Z")
MASKING_MODULE = "handoff.studio.masking"
ROOT = Path(__file__).resolve().parents[2]  # where `python -m kb_index` runs, as `make index` runs it


# -- Redis keys ----------------------------------------------------------------------------------------


def _key(*parts: str) -> str:
    return ":".join((keys.PREFIX, "studio", "kb", *parts))


def misses_key(language: str) -> str:
    """Sorted set: a language's missed-question ids scored by when they were asked."""
    return _key("misses", language)


def miss_items_key() -> str:
    """Hash: missed-question id -> JSON {id, conversation_id, language, question (masked), masked, ts,
    hits}."""
    return _key("miss-items")


def publish_lease_key() -> str:
    """String with expiry: the id of the publish or rollback running in the cluster."""
    return _key("publish", "lease")


def publish_state_key() -> str:
    """String: JSON of the latest publish (the page polls it)."""
    return _key("publish", "state")


def published_by_key() -> str:
    """Hash: index version -> JSON {by, at, job} for versions published from the studio."""
    return _key("published-by")


# -- shared helpers ----------------------------------------------------------------------------------


def _operation(handler: T) -> T:
    tagged: T = openapi.tag(SECTION)(handler)
    return tagged


def workspace_of(app: Sanic) -> editing.KbWorkspace:  # type: ignore[type-arg]
    """The app's article and index folders: `app.ctx.studio_kb_workspace` when set (tests), else
    KB_DIR and KB_INDEX_DIR."""
    found = getattr(app.ctx, "studio_kb_workspace", None)
    if found is None:
        found = editing.KbWorkspace.from_env()
        app.ctx.studio_kb_workspace = found
    workspace: editing.KbWorkspace = found
    return workspace


async def _edit(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking kb_index.editing call in a thread, its refusals as the API's errors."""
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except editing.FieldError as exc:
        raise BadRequest(str(exc), field=exc.field) from None
    except editing.Missing as exc:
        raise NotFoundError(exc.code, str(exc)) from None
    except editing.EditConflict as exc:
        raise Conflict(exc.code, str(exc), current=exc.current) from None
    except OSError as exc:
        logger.error("studio.kb.files_unavailable", extra={"error": repr(exc)})
        raise Unavailable("the knowledge-base files cannot be read or written right now") from None


def _redis(request: Request) -> Redis:
    client: Redis = request.app.ctx.redis
    return client


def _language_arg(request: Request) -> str | None:
    value = request.args.get("language")
    if value in (None, ""):
        return None
    if value not in LANGUAGES:
        raise BadRequest(f"'language' must be one of {', '.join(LANGUAGES)}", field="language")
    return str(value)


def _int_arg(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, str(default))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not low <= int(raw) <= high:
        raise BadRequest(f"'{name}' must be {low}-{high}", field=name)
    return int(raw)


# -- masking -----------------------------------------------------------------------------------------


def _masker() -> Callable[[str], Any] | None:
    """handoff.studio.masking.mask when that module exists (a later addition); None until then."""
    try:
        module = importlib.import_module(MASKING_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name == MASKING_MODULE:
            return None
        raise
    mask: Callable[[str], Any] = module.mask
    return mask


def mask_text(text: str) -> tuple[str, list[str]]:
    """The text without personal data, and the kinds of data taken out; unchanged without a masker."""
    mask = _masker()
    if mask is None:
        return text, []
    masked = mask(text)
    return str(masked.text), sorted({str(kind) for kind in masked.kinds})


# -- the miss inbox ----------------------------------------------------------------------------------

_RECORD_MISS = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
local extra = redis.call('ZCARD', KEYS[1]) - #gone - tonumber(ARGV[5])
if extra > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], #gone, #gone + extra - 1)) do table.insert(gone, id) end
end
for _, id in ipairs(gone) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return #gone
"""


def miss_id(conversation_id: str, language: str, question: str) -> str:
    """The same question asked again in one conversation is one entry (newest time), not two."""
    normal = " ".join(question.casefold().split())
    return hashlib.sha256(f"{language}\n{conversation_id}\n{normal}".encode()).hexdigest()[:16]


async def record_kb_miss(
    redis: Redis,
    conversation_id: str,
    language: str,
    question: str,
    ts: float,
    hits: Sequence[Mapping[str, Any]] = (),
) -> str | None:
    """Keep a customer question the knowledge base missed for the studio's inbox, masked of personal data;
    returns its id (None when there is nothing to keep). Entries older than 90 days and beyond 2,000 per
    language go."""
    question = " ".join(str(question).split())[:MISS_QUESTION_CHARS]
    if language not in LANGUAGES or not question:
        return None
    question, kinds = mask_text(question)
    item_id = miss_id(conversation_id, language, question)
    found = [
        {"article_id": str(h.get("article_id")), "title": str(h.get("title") or ""), "score": h.get("score")}
        for h in hits[:MISS_HITS]
        if isinstance(h, Mapping) and h.get("article_id")
    ]
    item = {
        "id": item_id,
        "conversation_id": conversation_id,
        "language": language,
        "question": question,
        "masked": kinds,
        "ts": ts,
        "hits": found,
    }
    cutoff = ts - MISS_RETENTION_SECONDS
    await redis.eval(
        _RECORD_MISS,
        2,
        misses_key(language),
        miss_items_key(),
        item_id,
        repr(ts),
        jsonlib.dumps(item, ensure_ascii=False),
        repr(cutoff),
        str(MISSES_KEPT),
    )
    return item_id


def _customer_question(packet: Mapping[str, Any]) -> str:
    """The message the knowledge base was searched with: the customer's latest line in the packet."""
    for line in reversed(packet.get("transcript") or []):
        if isinstance(line, Mapping) and line.get("author") == "customer" and line.get("text"):
            return str(line["text"])
    for turn in reversed(packet.get("intent_history") or []):
        if isinstance(turn, Mapping) and turn.get("text"):
            return str(turn["text"])
    return ""


async def record_kb_miss_from_packet(
    redis: Redis, packet: Mapping[str, Any], ts: float | None = None
) -> str | None:
    """The hub's hook: call it for every handoff packet; it keeps those with reason `kb_miss`. It never
    raises: the inbox is worth less than the handoff that feeds it."""
    if packet.get("reason") != "kb_miss":
        return None
    hits = packet.get("kb_hits")
    try:
        return await record_kb_miss(
            redis,
            str(packet.get("conversation_id") or ""),
            str(packet.get("language") or ""),
            _customer_question(packet),
            time.time() if ts is None else ts,
            hits if isinstance(hits, list) else (),
        )
    except Exception:
        logger.exception(
            "studio.kb.miss_not_recorded", extra={"conversation_id": packet.get("conversation_id")}
        )
        return None


async def _miss(redis: Redis, item_id: str) -> dict[str, Any]:
    raw = await redis.hget(miss_items_key(), item_id) if MISS_ID.match(item_id) else None
    if raw is None:
        raise NotFoundError("unknown_miss", f"no missed question '{item_id}' (dismissed or answered already)")
    item: dict[str, Any] = jsonlib.loads(raw)
    return item


async def _forget_miss(redis: Redis, item: Mapping[str, Any]) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(misses_key(str(item["language"])), str(item["id"]))
        pipe.hdel(miss_items_key(), str(item["id"]))
        await pipe.execute()


def _shown_miss(item: Mapping[str, Any]) -> dict[str, Any]:
    """What editors see of a missed question: masked (again: entries kept before masking existed, and masking
    a masked text changes nothing), without the conversation it came from."""
    question, kinds = mask_text(str(item["question"]))
    return {
        "id": item["id"],
        "language": item["language"],
        "question": question,
        "masked": sorted({*item.get("masked", []), *kinds}),
        "ts": item["ts"],
        "hits": item.get("hits", []),
    }


# -- markdown preview --------------------------------------------------------------------------------

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_SAFE_SCHEMES = frozenset({"http:", "https:", "mailto:"})


class _PreviewMarkdown(MarkdownIt):
    """CommonMark with tables and strikethrough; raw HTML is shown as text, and links and images may
    only be web, mail or relative addresses (no javascript:, data:, vbscript:, file:)."""

    def __init__(self) -> None:
        super().__init__("commonmark", {"html": False, "linkify": False, "typographer": False})
        self.enable(["table", "strikethrough"])

    def validateLink(self, url: str) -> bool:  # markdown-it calls it by this name
        scheme = _SCHEME.match(url.strip())
        return scheme is None or scheme.group(0).lower() in _SAFE_SCHEMES


_markdown = _PreviewMarkdown()


def render_preview(body: str) -> str:
    return str(_markdown.render(body))


# -- publishing --------------------------------------------------------------------------------------

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_SET_IF_LEASED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[2], ARGV[2]) return 1 end
return 0
"""


async def _acquire(redis: Redis, job: str) -> bool:
    return bool(await redis.set(publish_lease_key(), job, nx=True, px=LEASE_SECONDS * 1000))


async def _release(redis: Redis, job: str) -> None:
    await redis.eval(_RELEASE, 1, publish_lease_key(), job)


async def publish_state(redis: Redis, workspace: editing.KbWorkspace) -> dict[str, Any]:
    """The latest publish as the page shows it; a run whose worker died (its lease expired) reads as
    `interrupted`."""
    raw, holder = await redis.mget(publish_state_key(), publish_lease_key())
    state: dict[str, Any] = jsonlib.loads(raw) if raw else {"state": "idle", "job": None}
    if state.get("state") == "running" and holder != state.get("job"):
        state = {**state, "state": "interrupted", "message": "the publish stopped with its server process"}
    current = await asyncio.to_thread(storage.read_current, workspace.index_dir)
    return {**state, "current_version": current}


class PublishRun:
    """One build in a child process, its output mirrored into the publish state while it holds the lease."""

    def __init__(
        self, redis: Redis, workspace: editing.KbWorkspace, job: str, who: Principal, state: dict[str, Any]
    ) -> None:
        self.redis = redis
        self.workspace = workspace
        self.job = job
        self.who = who
        self.state = state
        self.process: asyncio.subprocess.Process | None = None

    def command(self) -> list[str]:
        ws = self.workspace
        args = [sys.executable, "-m", "kb_index", "build", "--kb-dir", str(ws.kb_dir)]
        args += ["--index-dir", str(ws.index_dir), "--force"]  # a publish is always a new version
        for language, flag in (("en", "--en-model"), ("zh", "--zh-model")):
            if ws.encoders and ws.encoders.get(language):
                args += [flag, ws.encoders[language]]
        return args

    async def save(self, **changes: Any) -> None:
        self.state.update(changes)
        await self.redis.eval(
            _SET_IF_LEASED,
            2,
            publish_lease_key(),
            publish_state_key(),
            self.job,
            jsonlib.dumps(self.state, ensure_ascii=False),
        )

    async def run(self) -> None:
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self._build()
        except asyncio.CancelledError:
            self._kill()
            with contextlib.suppress(Exception):
                await self.save(state="interrupted", finished_at=time.time(), message="the server stopped")
            raise
        except Exception as exc:
            logger.exception("studio.kb.publish_failed", extra={"job": self.job})
            self._kill()
            with contextlib.suppress(Exception):
                await self.save(state="failed", finished_at=time.time(), message=f"publish failed: {exc!r}")
        finally:
            heartbeat.cancel()
            with contextlib.suppress(Exception):
                await _release(self.redis, self.job)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(Exception):  # a Redis hiccup: the next beat tries again
                renewed = await self.redis.eval(
                    _RENEW, 1, publish_lease_key(), self.job, str(LEASE_SECONDS * 1000)
                )
                if not renewed:
                    logger.warning("studio.kb.publish_lease_lost", extra={"job": self.job})

    def _kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # the build and its embedding workers

    async def _build(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.process = await asyncio.create_subprocess_exec(
            *self.command(),
            cwd=str(ROOT),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        errors: list[str] = []

        async def follow_output() -> None:
            assert self.process is not None and self.process.stdout is not None
            async for raw in self.process.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip()
                if line:
                    await self.save(progress=[*self.state["progress"], line][-PROGRESS_LINES:])

        async def collect_errors() -> None:
            assert self.process is not None and self.process.stderr is not None
            async for raw in self.process.stderr:
                line = raw.decode("utf-8", errors="replace").rstrip()
                if line and len(errors) < PROBLEM_LINES:
                    errors.append(line)

        try:
            await asyncio.wait_for(
                asyncio.gather(follow_output(), collect_errors(), self.process.wait()),
                PUBLISH_TIMEOUT_SECONDS,
            )
        except TimeoutError:
            self._kill()
            await self.process.wait()
            message = f"the build took longer than {PUBLISH_TIMEOUT_SECONDS} s and was stopped"
            await self.save(state="failed", finished_at=time.time(), message=message, problems=errors)
            return
        if self.process.returncode != 0:
            await self.save(
                state="failed",
                finished_at=time.time(),
                message="the build refused the articles or failed; nothing was published",
                problems=errors,
            )
            return
        await self._succeeded()

    async def _succeeded(self) -> None:
        version = await asyncio.to_thread(storage.read_current, self.workspace.index_dir)
        rows = await asyncio.to_thread(editing.version_list, self.workspace)
        row = next((r for r in rows if r["version"] == version), None)
        changes = row["changes"] if row else None
        now = time.time()
        if version is not None:
            record = {"by": self.who.user_id, "at": now, "job": self.job}
            await self.redis.hset(published_by_key(), version, jsonlib.dumps(record))
        await self.save(
            state="succeeded",
            finished_at=now,
            version=version,
            changes=changes,
            message=f"published {version}: it is served now",
        )
        await audit.record(
            self.redis,
            self.who.user_id,
            "kb.published",
            {"job": self.job, "version": version, "changes": changes},
        )


def _runs(app: Sanic) -> set[asyncio.Task[None]]:  # type: ignore[type-arg]
    runs: set[asyncio.Task[None]] | None = getattr(app.ctx, "studio_kb_runs", None)
    if runs is None:
        runs = set()
        app.ctx.studio_kb_runs = runs
    return runs


@bp.before_server_stop
async def _stop_publishing(app: Sanic) -> None:  # type: ignore[type-arg]
    """A worker that stops takes its build down with it and says so in the state."""
    runs = _runs(app)
    for task in runs:
        task.cancel()
    if runs:
        await asyncio.wait(runs, timeout=5.0)


async def _with_lease(redis: Redis, workspace: editing.KbWorkspace, job: str) -> None:
    if not await _acquire(redis, job):
        raise Conflict(
            "publish_running",
            "a publish or rollback is running: wait for it to finish",
            current=await publish_state(redis, workspace),
        )


# -- schemas -----------------------------------------------------------------------------------------

_LANGUAGE = string(enum=list(LANGUAGES))
_TEXTS = array(string(maxLength=editing.MAX_ITEM), maxItems=editing.MAX_ITEMS)
_ARTICLE_FIELDS = {
    "title": string(maxLength=editing.MAX_TITLE),
    "category": string(enum=sorted(CATEGORIES)),
    "question_type": string(enum=sorted(QUESTION_TYPES)),
    "urgency": string(enum=sorted(URGENCIES)),
    "tags": _TEXTS,
    "questions": _TEXTS,
    "related": _TEXTS,
    "body": string(maxLength=editing.MAX_BODY, description="Markdown: the answer the bot sends"),
}
_ARTICLE = obj(
    {
        "language": _LANGUAGE,
        "slug": string(),
        "version": string(description="content hash: send it back as base_version"),
        "status": string(enum=["published", "modified", "new"]),
        "path": string(),
        **_ARTICLE_FIELDS,
        "problems": array(obj({"line": integer(), "message": string()})),
        "source": nullable_string(description="the file's text, only when it has problems"),
    }
)
_CHANGES = obj({"added": array(string()), "changed": array(string()), "removed": array(string())})


# -- articles ----------------------------------------------------------------------------------------


@bp.get("/api/studio/kb/articles")
@_operation
@documented(
    security=TEAM_READ,
    params=[query("language", _LANGUAGE)],
    ok_schema=obj(
        {"current_version": nullable_string(), "articles": array(_ARTICLE), "unpublished": _CHANGES}
    ),
    errors=(400, 401, 403, 503),
)
async def list_articles(request: Request) -> HTTPResponse:
    """Every article without its body (optionally of one `language`), and what is not published yet."""
    await require(request, *STUDIO_READ)
    workspace = workspace_of(request.app)
    return json(await _edit(editing.list_articles, workspace, _language_arg(request)))


@bp.get("/api/studio/kb/articles/<language>/<slug>")
@_operation
@documented(security=TEAM_READ, errors=(400, 401, 403, 404, 503), ok_schema=_ARTICLE)
async def get_article(request: Request, language: str, slug: str) -> HTTPResponse:
    """One article: front matter as fields, the Markdown body, its questions and its version."""
    await require(request, *STUDIO_READ)
    return json(await _edit(editing.read_article, workspace_of(request.app), language, slug))


@bp.put("/api/studio/kb/articles/<language>/<slug>")
@_operation
@documented(
    security=TEAM_WRITE,
    body=obj(
        {"base_version": nullable_string(description="the version edited; null creates"), **_ARTICLE_FIELDS},
        required=["title", "category", "question_type", "urgency", "body"],
    ),
    ok_schema=obj({"result": string(enum=["created", "updated", "unchanged"]), "article": _ARTICLE}),
    also=(201,),
    errors=(400, 401, 403, 409, 503),
)
async def put_article(request: Request, language: str, slug: str) -> HTTPResponse:
    """Create (base_version null, 201) or update an article; 409 with the current article when it
    changed since `base_version`."""
    who = await require(request, *STUDIO_WRITE)
    body = json_object(request)
    base_version = body.pop("base_version", None)
    workspace = workspace_of(request.app)
    article, result = await _edit(editing.save_article, workspace, language, slug, body, base_version)
    if result != "unchanged":
        await audit.record(
            _redis(request),
            who.user_id,
            f"kb.article.{result}",
            {"language": language, "slug": slug, "version": article["version"], "base_version": base_version},
        )
    return json({"result": result, "article": article}, status=201 if result == "created" else 200)


@bp.delete("/api/studio/kb/articles/<language>/<slug>")
@_operation
@documented(
    security=TEAM_WRITE,
    params=[query("base_version", string(), "The version being deleted", required=True)],
    errors=(400, 401, 403, 404, 409, 503),
)
async def delete_article(request: Request, language: str, slug: str) -> HTTPResponse:
    """Delete an article at `base_version` (query); 409 when it changed or another article relates to it."""
    who = await require(request, *STUDIO_WRITE)
    base_version = request.args.get("base_version")
    deleted = await _edit(editing.delete_article, workspace_of(request.app), language, slug, base_version)
    await audit.record(_redis(request), who.user_id, "kb.article.deleted", deleted)
    return json({"deleted": deleted})


@bp.post("/api/studio/kb/preview")
@_operation
@documented(
    security=TEAM_WRITE,
    body=obj({"body": string(maxLength=editing.MAX_BODY)}, required=["body"]),
    ok_schema=obj({"html": string()}),
)
async def preview(request: Request) -> HTTPResponse:
    """The body's Markdown as HTML for the editor's preview (raw HTML shown as text, only safe links)."""
    await require(request, *STUDIO_WRITE)
    text = json_object(request).get("body")
    if not isinstance(text, str):
        raise BadRequest("'body' must be a text", field="body")
    if len(text) > editing.MAX_BODY:
        raise BadRequest(f"'body' is longer than {editing.MAX_BODY} characters", field="body")
    return json({"html": await asyncio.to_thread(render_preview, text)})


# -- publish, versions, diff, rollback -----------------------------------------------------------------

_STATE = obj(
    {
        "state": string(enum=["idle", "running", "succeeded", "failed", "interrupted"]),
        "job": nullable_string(),
        "started_by": string(),
        "started_at": number(),
        "finished_at": number(nullable=True),
        "unpublished": _CHANGES,
        "previous_version": nullable_string(),
        "version": nullable_string(),
        "changes": obj(),
        "progress": array(string()),
        "problems": array(string()),
        "message": string(),
        "current_version": nullable_string(),
    }
)


@bp.post("/api/studio/kb/publish")
@_operation
@documented(security=TEAM_WRITE, ok=202, ok_schema=_STATE, errors=(401, 403, 409, 503))
async def start_publish(request: Request) -> HTTPResponse:
    """Build a new index version from the article files and serve it; poll GET for its progress. 409 while
    another publish runs, when the articles have problems, or when nothing changed."""
    who = await require(request, *STUDIO_WRITE)
    redis, workspace = _redis(request), workspace_of(request.app)
    job = uuid.uuid4().hex
    await _with_lease(redis, workspace, job)
    try:
        unpublished = await _edit(editing.publishable, workspace)
        previous = await asyncio.to_thread(storage.read_current, workspace.index_dir)
        state: dict[str, Any] = {
            "state": "running",
            "job": job,
            "started_by": who.user_id,
            "started_at": time.time(),
            "finished_at": None,
            "unpublished": unpublished,
            "previous_version": previous,
            "version": None,
            "changes": None,
            "progress": [],
            "problems": [],
            "message": "building the new version",
        }
        run = PublishRun(redis, workspace, job, who, state)
        await run.save()
        await audit.record(redis, who.user_id, "kb.publish.started", {"job": job, "unpublished": unpublished})
    except BaseException:
        await _release(redis, job)
        raise
    runs = _runs(request.app)
    task = asyncio.create_task(run.run())
    runs.add(task)
    task.add_done_callback(runs.discard)
    return json({**state, "current_version": previous}, status=202)


@bp.get("/api/studio/kb/publish")
@_operation
@documented(security=TEAM_READ, ok_schema=_STATE, errors=(401, 403, 503))
async def get_publish(request: Request) -> HTTPResponse:
    """The latest publish: running (with the build's latest output lines), succeeded, failed or
    interrupted; `idle` before the first."""
    await require(request, *STUDIO_READ)
    return json(await publish_state(_redis(request), workspace_of(request.app)))


@bp.get("/api/studio/kb/versions")
@_operation
@documented(security=TEAM_READ, errors=(401, 403, 503))
async def list_versions(request: Request) -> HTTPResponse:
    """Every index version, newest first, with its change log, who published it from the studio and
    whether its article texts were kept (text diffs need them)."""
    await require(request, *STUDIO_READ)
    workspace = workspace_of(request.app)
    rows = await _edit(editing.version_list, workspace)
    by = await _redis(request).hgetall(published_by_key())
    for row in rows:
        record = jsonlib.loads(by[row["version"]]) if row["version"] in by else None
        row["published_by"] = record["by"] if record else None
        row["published_at"] = record["at"] if record else None
    current = next((row["version"] for row in rows if row["current"]), None)
    return json({"current_version": current, "versions": rows})


@bp.get("/api/studio/kb/diff")
@_operation
@documented(
    security=TEAM_READ,
    params=[
        query("from", string(), "A version (v3) or `working` (the files now)", required=True),
        query("to", string(), "A version (v4) or `working`", required=True),
    ],
    errors=(400, 401, 403, 404, 409, 503),
)
async def diff(request: Request) -> HTTPResponse:
    """A unified text diff per added, changed or removed article between two versions (or a version and
    the working files); versions from before texts were kept list the articles with `diff: null`."""
    await require(request, *STUDIO_READ)
    old, new = request.args.get("from"), request.args.get("to")
    for name, value in (("from", old), ("to", new)):
        if not value:
            raise BadRequest(f"'{name}' is required: a version such as v3, or working", field=name)
    return json(await _edit(editing.text_diff, workspace_of(request.app), old, new))


@bp.post("/api/studio/kb/rollback")
@_operation
@documented(
    security=TEAM_WRITE,
    body=obj(
        {"version": string(), "discard_unpublished": boolean(description="overwrite unpublished edits")},
        required=["version"],
    ),
    errors=(400, 401, 403, 404, 409, 503),
)
async def rollback(request: Request) -> HTTPResponse:
    """Serve an earlier (or later) version again and restore its article files; 409 when unpublished edits
    would be overwritten (unless `discard_unpublished`) or a publish is running."""
    who = await require(request, *STUDIO_WRITE)
    body = json_object(request)
    discard = body.get("discard_unpublished", False)
    if not isinstance(discard, bool):
        raise BadRequest("'discard_unpublished' must be true or false", field="discard_unpublished")
    redis, workspace = _redis(request), workspace_of(request.app)
    job = f"rollback-{uuid.uuid4().hex}"
    await _with_lease(redis, workspace, job)
    try:
        result = await _edit(editing.rollback, workspace, body.get("version"), discard_unpublished=discard)
    finally:
        await _release(redis, job)
    await audit.record(redis, who.user_id, "kb.rolled_back", result)
    return json(result)


# -- the miss inbox ------------------------------------------------------------------------------------

_MISS = obj(
    {
        "id": string(),
        "language": _LANGUAGE,
        "question": string(description="masked of personal data"),
        "masked": array(string(), description="kinds of personal data taken out"),
        "ts": number(),
        "hits": array(obj({"article_id": string(), "title": string(), "score": number()})),
    }
)


@bp.get("/api/studio/kb/misses")
@_operation
@documented(
    security=TEAM_READ,
    params=[
        query("language", _LANGUAGE),
        query("limit", integer(minimum=1, maximum=200), "Default 50"),
        query("offset", integer(minimum=0, maximum=MISSES_KEPT * 2), "Default 0"),
    ],
    ok_schema=obj({"misses": array(_MISS), "total": integer(), "masking": boolean()}),
)
async def list_misses(request: Request) -> HTTPResponse:
    """Customer questions the knowledge base missed (handoffs with reason kb_miss), newest first."""
    await require(request, *STUDIO_READ)
    language = _language_arg(request)
    limit = _int_arg(request, "limit", 50, 1, 200)
    offset = _int_arg(request, "offset", 0, 0, MISSES_KEPT * 2)
    redis = _redis(request)
    cutoff = time.time() - MISS_RETENTION_SECONDS
    languages = [language] if language else list(LANGUAGES)
    async with redis.pipeline(transaction=False) as pipe:
        for lang in languages:
            pipe.zrevrangebyscore(
                misses_key(lang), "+inf", cutoff, start=0, num=offset + limit, withscores=True
            )
            pipe.zcount(misses_key(lang), cutoff, "+inf")
        replies = await pipe.execute()
    newest = sorted(
        (pair for reply in replies[0::2] for pair in reply), key=lambda pair: (-pair[1], pair[0])
    )[offset : offset + limit]
    ids = [str(item_id) for item_id, _ in newest]
    raw = await redis.hmget(miss_items_key(), ids) if ids else []
    items = [_shown_miss(jsonlib.loads(r)) for r in raw if r is not None]
    return json({"misses": items, "total": sum(replies[1::2]), "masking": _masker() is not None})


@bp.post("/api/studio/kb/misses/<item_id>/dismiss")
@_operation
@documented(security=TEAM_WRITE, errors=(401, 403, 404))
async def dismiss_miss(request: Request, item_id: str) -> HTTPResponse:
    """Take a missed question out of the inbox without using it."""
    who = await require(request, *STUDIO_WRITE)
    redis = _redis(request)
    item = await _miss(redis, item_id)
    await _forget_miss(redis, item)
    await audit.record(redis, who.user_id, "kb.miss.dismissed", {"id": item_id, "language": item["language"]})
    return json({"dismissed": item_id})


@bp.post("/api/studio/kb/misses/<item_id>/to-article")
@_operation
@documented(
    security=TEAM_WRITE,
    body=obj(
        {
            "language": _LANGUAGE,
            "slug": string(),
            "question": string(
                maxLength=editing.MAX_ITEM, description="the question as edited; default: the masked question"
            ),
        },
        required=["language", "slug"],
    ),
    ok_schema=obj({"article": _ARTICLE, "added": boolean(), "miss": string()}),
    errors=(400, 401, 403, 404, 409, 503),
)
async def miss_to_article(request: Request, item_id: str) -> HTTPResponse:
    """Add the missed question (masked, or as the editor rewrote it) to an article's customer questions and
    take it out of the inbox; the next publish makes search find that article for it."""
    who = await require(request, *STUDIO_WRITE)
    body = json_object(request)
    redis = _redis(request)
    item = await _miss(redis, item_id)
    language = body.get("language")
    if language != item["language"]:
        raise BadRequest(f"'language' must be {item['language']}, the question's language", field="language")
    question = body.get("question")
    if question is None:
        question = _shown_miss(item)["question"]
    slug = body.get("slug")
    if not isinstance(slug, str):
        raise BadRequest("'slug' must name an article", field="slug")
    article, added = await _edit(editing.add_question, workspace_of(request.app), language, slug, question)
    await _forget_miss(redis, item)
    detail = {
        "id": item_id,
        "language": language,
        "slug": slug,
        "version": article["version"],
        "added": added,
    }
    await audit.record(redis, who.user_id, "kb.miss.added_to_article", detail)
    return json({"article": article, "added": added, "miss": item_id})
