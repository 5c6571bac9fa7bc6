"""The templates every hub worker serves, kept current without a restart.

A save in the studio (editing.py) writes the files, then `announce` bumps a version in Redis, stores a
digest of the new files and publishes the version. Each worker reloads the files when the Redis version
differs from the one it loaded, checked on use (`current()`, at most every `max_age` seconds): the agents'
quick-reply search is the only reader, so nothing runs in the background and a worker that nobody asks
does no work. Files changed by hand (a deploy, an editor's text editor) are noticed on use too, at most
every `poll_seconds`, by their size, inode and modification time.

Workers on other machines share the files (a network volume): the digest says whether what a worker read
is the announced change. If not, its view of the share has not caught up yet and it reads again on the next
check, for up to `settle_seconds`; then it keeps what it sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from redis.asyncio import Redis

from handoff import keys
from handoff.quick_replies.editing import EditorBusy, directory_lock, sources_digest
from handoff.quick_replies.loader import TemplateError, check_sources, read_sources
from handoff.quick_replies.model import Template
from handoff.quick_replies.search import QuickReplies

logger = logging.getLogger(__name__)

STATE_KEY = f"{keys.PREFIX}:studio:quick_replies"  # hash: version (a counter), digest (of the files)

Signature = tuple[tuple[str, int, int, int], ...]


async def announce(redis: Redis, digest: str) -> int:
    """Tell every worker that the files changed (called after they are written); the new version."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(STATE_KEY, "version", 1)
        pipe.hset(STATE_KEY, "digest", digest)
        version, _ = await pipe.execute()
    return int(version)


class LiveQuickReplies:
    """QuickReplies that follow the files: `search`, `get`, `templates`, `counts` and len() answer from
    the newest set this worker loaded; `await current()` first checks Redis for a newer one.

    The constructor loads the files, so bad files still stop the service at start; later, a bad file
    is logged and the last good set stays in service.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_age: float = 0.1,
        poll_seconds: float = 5.0,
        settle_seconds: float = 30.0,
        lock_timeout: float = 5.0,
    ) -> None:
        self.directory = directory
        self._max_age = max_age
        self._poll_seconds = poll_seconds
        self._settle_seconds = settle_seconds
        self._lock_timeout = lock_timeout
        signature = _signature(directory)
        sources = read_sources(directory)
        self._replies = check_sources(sources)
        self._digest = sources_digest(sources)
        self._signature = signature
        self._seen: str | None = None  # the Redis version the loaded set answers to
        self._mismatch_since: float | None = None
        self._checked_at = float("-inf")
        self._polled_at = time.monotonic()
        self._redis: Redis | None = None
        self._reloading: asyncio.Lock | None = None

    # -- what assist.py uses -------------------------------------------------------------------------

    @property
    def replies(self) -> QuickReplies:
        return self._replies

    @property
    def templates(self) -> tuple[Template, ...]:
        return self._replies.templates

    def __len__(self) -> int:
        return len(self._replies)

    def counts(self) -> dict[str, int]:
        return self._replies.counts()

    def get(self, language: str, id: str) -> Template | None:
        return self._replies.get(language, id)

    def search(self, query: str, language: str | None = None, limit: int = 20) -> list[Template]:
        return self._replies.search(query, language, limit)

    @property
    def digest(self) -> str:
        """The digest of the files the current set was read from."""
        return self._digest

    # -- keeping it current --------------------------------------------------------------------------

    async def start(self, redis: Redis) -> None:
        """Follow changes announced through `redis` (once per worker, after its Redis client exists)."""
        self._redis = redis

    async def stop(self) -> None:
        """Nothing to stop: changes are checked on use."""

    async def announce(self, digest: str) -> None:
        """The editor's callback after a save: every worker (this one included) reloads."""
        if self._redis is not None:
            await announce(self._redis, digest)

    async def current(self) -> QuickReplies:
        """The newest set, checking Redis first unless it did so less than `max_age` seconds ago. Redis
        being unreachable only delays a change: the files are the templates, Redis says when to reread."""
        if self._redis is not None and time.monotonic() - self._checked_at >= self._max_age:
            try:
                await self.refresh()
            except Exception:  # redis-py raises its own errors and OSError alike while failing over
                logger.debug("hub.quick_replies.check_failed", exc_info=True)
        if time.monotonic() - self._polled_at >= self._poll_seconds:
            self._polled_at = time.monotonic()
            await self._reread_changed_files()
        return self._replies

    async def refresh(self) -> bool:
        """Reload when Redis's version differs from the one loaded; True when the set was reread."""
        if self._redis is None:
            return False
        self._checked_at = time.monotonic()
        raw_version, raw_digest = await self._redis.hmget(STATE_KEY, ["version", "digest"])
        version, digest = _text(raw_version), _text(raw_digest)
        if version == self._seen:
            return False
        if self._reloading is None:
            self._reloading = asyncio.Lock()
        async with self._reloading:
            if version == self._seen:  # another caller reloaded while this one waited
                return False
            loaded = await self._reload()
            if loaded is None:  # busy or unreadable for now: the next check tries again
                return False
            settled = self._mismatch_since is not None and (
                time.monotonic() - self._mismatch_since >= self._settle_seconds
            )
            if digest is None or loaded in (digest, "") or settled:
                self._seen = version
                self._mismatch_since = None
            elif self._mismatch_since is None:
                self._mismatch_since = time.monotonic()
            return True

    async def catch_up(self) -> None:
        """The version in Redis, and then the files themselves (changed by hand, or by a save whose
        announcement failed); the files are checked even when Redis cannot be asked."""
        try:
            await self.refresh()
        finally:
            await self._reread_changed_files()

    async def _reread_changed_files(self) -> None:
        if _signature(self.directory) != self._signature:
            if self._reloading is None:
                self._reloading = asyncio.Lock()
            async with self._reloading:
                if _signature(self.directory) != self._signature:
                    await self._reload()

    async def _reload(self) -> str | None:
        """Read and check every file: the digest of what was read, "" when the files are broken (the
        previous set stays; they are read again once they change), None when they could not be read now."""
        signature = _signature(self.directory)  # before reading: a write after this leads to another reload
        try:
            async with directory_lock(self.directory, exclusive=False, timeout=self._lock_timeout):
                sources = await asyncio.to_thread(read_sources, self.directory)
            replies = await asyncio.to_thread(check_sources, sources)
        except EditorBusy:
            return None
        except TemplateError as exc:
            logger.error("hub.quick_replies.invalid", extra={"error": str(exc)})
            self._signature = signature
            return ""
        self._replies = replies
        self._digest = sources_digest(sources)
        self._signature = signature
        logger.info("hub.quick_replies.reloaded", extra={"templates": len(replies)})
        return self._digest


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _signature(directory: Path) -> Signature:
    """Names, inodes, modification times and sizes of the template files: a rename or an edit changes it."""
    found: list[tuple[str, int, int, int]] = []
    with contextlib.suppress(OSError):
        for path in sorted(directory.glob("*.yml")):
            with contextlib.suppress(OSError):
                st = path.stat()
                found.append((path.name, st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(found)
