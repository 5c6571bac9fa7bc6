"""Photos customers send (a damaged parcel, the wrong item): what is accepted, and where it is kept.

Validation (pure, no I/O): `check_image` accepts JPEG, PNG and WebP only, decided by the file's own bytes
(its signature and a readable header with the picture's size), never by a name or a declared type alone;
the declared Content-Type must agree with the bytes. SVG, HTML or anything else dressed up as an image
is refused, and so is a picture too large to decode safely in an agent's browser (MAX_PIXELS).

Storage: the `AttachmentStore` protocol; `LocalAttachmentStore` keeps each file on the local disk
(`HUB_ATTACHMENTS_DIR`, default `var/attachments`: directory 0700, files 0600, named by a random id and
nothing else) and its metadata in Redis (`hub:attachment:<id>`, a hash: content_type, size, sha256,
conversation_id, created_at). The metadata decides who may read a file (the conversation it belongs to)
and expires after the retention (`HUB_ATTACHMENT_RETENTION_DAYS`); files past the retention are deleted
by a sweep that every store runs at most once an hour. A file is re-checked against its size and sha256
whenever it is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from redis.asyncio import Redis

from handoff import keys
from handoff.errors import NotFoundError

# Photos are large next to a message: their own limits, besides the per-conversation message limit.
UPLOADS_PER_CONVERSATION = 10
UPLOADS_PER_ADDRESS = 30
UPLOAD_WINDOW_SECONDS = 600
logger = logging.getLogger(__name__)

# -- what is accepted -----------------------------------------------------------------------------

JPEG, PNG, WEBP = "image/jpeg", "image/png", "image/webp"
ACCEPTED = (JPEG, PNG, WEBP)
EXTENSIONS = {JPEG: ".jpg", PNG: ".png", WEBP: ".webp"}
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
# Pictures a browser decodes into width × height × 4 bytes: a small file can still be a huge picture.
MAX_PIXELS = 50_000_000
MAX_SIDE = 20_000


class UploadRefused(ValueError):
    """An upload the service does not keep; `status` and `code` are its HTTP answer."""

    status = 400
    code = "bad_request"


class EmptyUpload(UploadRefused):
    """No bytes at all."""


class UnsupportedImage(UploadRefused):
    """Not a JPEG, PNG or WebP picture (whatever it claims to be), or a damaged one."""

    status = 415
    code = "unsupported_media_type"


class ImageTooLarge(UploadRefused):
    """Over the byte limit, or more pixels than a browser should be asked to decode."""

    status = 413
    code = "payload_too_large"


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


def declared_type(header: str | None) -> str:
    """A Content-Type header's media type, lowercase, without parameters ("" when absent)."""
    return (header or "").split(";", 1)[0].strip().lower()


def sniff(data: bytes) -> str | None:
    """The accepted type whose signature the bytes start with, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def check_image(data: bytes, declared: str | None, max_bytes: int = DEFAULT_MAX_BYTES) -> ImageInfo:
    """The picture's type and size if it may be kept; UploadRefused (naming why) otherwise.

    `declared` is the Content-Type the sender gave; it must be one of ACCEPTED and match the bytes."""
    if not data:
        raise EmptyUpload("the photo is empty")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"the photo is larger than {max_bytes} bytes")
    claimed = declared_type(declared)
    if claimed not in ACCEPTED:
        raise UnsupportedImage(
            "send a JPEG, PNG or WebP photo (Content-Type image/jpeg, image/png or image/webp)"
        )
    found = sniff(data)
    if found is None:
        raise UnsupportedImage("this is not a JPEG, PNG or WebP picture")
    if found != claimed:
        raise UnsupportedImage(f"the content is {found}, not {claimed}")
    width, height = _dimensions(found, data) or (0, 0)
    if not (width and height):
        raise UnsupportedImage("the picture is damaged or incomplete")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageTooLarge(
            f"the picture is {width}×{height} pixels; at most {MAX_PIXELS // 1_000_000} megapixels"
        )
    return ImageInfo(found, width, height)


def _dimensions(content_type: str, data: bytes) -> tuple[int, int] | None:
    if content_type == PNG:
        return _png_size(data)
    if content_type == WEBP:
        return _webp_size(data)
    return _jpeg_size(data)


def _png_size(data: bytes) -> tuple[int, int] | None:
    # The signature, then the IHDR chunk first: length 13, "IHDR", width, height (big-endian).
    if len(data) < 33 or data[8:16] != b"\x00\x00\x00\x0dIHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 30 or int.from_bytes(data[4:8], "little") + 8 > len(data):
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":  # lossy: a key frame's start code
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:  # lossless: 14 bits each, minus one
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: the canvas, 24 bits each, minus one
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


# Start-of-frame markers (baseline, progressive, lossless, arithmetic); not DHT (C4), JPG (C8), DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the segments after SOI to the first frame header: height and width are in it."""
    i, end = 2, len(data)
    while i < end:
        if data[i] != 0xFF:
            return None
        while i < end and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= end:
            return None
        marker = data[i]
        i += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # segments without a length
            continue
        if marker in (0xD9, 0xDA) or i + 2 > end:  # the image ends or its data starts before any frame
            return None
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2 or i + length > end:
            return None
        if marker in _SOF:
            if length < 7:
                return None
            height = int.from_bytes(data[i + 3 : i + 5], "big")
            width = int.from_bytes(data[i + 5 : i + 7], "big")
            return width, height
        i += length
    return None


# -- what is kept ---------------------------------------------------------------------------------

DEFAULT_DIRECTORY = "var/attachments"
DEFAULT_RETENTION_DAYS = 90
ATTACHMENT_ID = re.compile(r"^[A-Za-z0-9_-]{32}\Z")  # secrets.token_urlsafe(24): 192 random bits
PURGE_INTERVAL_SECONDS = 3600.0
_TEMPORARY = re.compile(r"^\.[A-Za-z0-9_-]{32}\.tmp\Z")


def metadata_key(attachment_id: str) -> str:
    return keys.attachment(attachment_id)


@dataclass(frozen=True)
class Attachment:
    id: str
    content_type: str
    size: int
    sha256: str
    conversation_id: str
    created_at: float

    @property
    def filename(self) -> str:
        """A name safe in any header: the random id and the extension of its (checked) type."""
        return f"photo-{self.id}{EXTENSIONS.get(self.content_type, '')}"

    def ref(self) -> dict[str, Any]:
        """What a transcript message carries about it."""
        return {"id": self.id, "content_type": self.content_type, "size": self.size}

    def as_dict(self) -> dict[str, Any]:
        return {**self.ref(), "sha256": self.sha256, "created_at": self.created_at}


class AttachmentNotFound(NotFoundError):
    """No such attachment, one past its retention, or one whose file is missing or damaged."""

    def __init__(self) -> None:
        super().__init__("unknown_attachment", "no such attachment")


class AttachmentStore(Protocol):
    max_bytes: int  # the largest file it keeps

    async def put(self, data: bytes, content_type: str, conversation_id: str) -> Attachment:
        """Check (check_image) and keep the bytes; UploadRefused if they may not be kept."""
        ...

    async def info(self, attachment_id: str) -> Attachment:
        """The metadata alone (to decide who may read it before reading the file)."""
        ...

    async def get(self, attachment_id: str) -> tuple[Attachment, bytes]: ...

    async def read(self, attachment: Attachment) -> bytes:
        """The file of an attachment whose metadata `info` returned."""
        ...


class LocalAttachmentStore:
    """Files on the local disk, metadata in Redis. Every worker of one host shares the directory."""

    def __init__(
        self,
        directory: str | Path,
        redis: Redis,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        retention_seconds: float = DEFAULT_RETENTION_DAYS * 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes <= 0 or retention_seconds <= 0:
            raise ValueError("the size limit and the retention must be positive")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.retention_seconds = retention_seconds
        self._redis: Any = redis  # decode_responses=True: str replies, which redis-py's stubs cannot say
        self._clock = clock
        self._ready = False
        self._last_purge = 0.0
        self._purging: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Any, redis: Redis) -> LocalAttachmentStore:
        """Built from HUB_ATTACHMENTS_DIR, HUB_ATTACHMENT_MAX_BYTES and HUB_ATTACHMENT_RETENTION_DAYS as
        handoff.settings reads them, with these defaults where it has none."""
        days = getattr(settings, "attachment_retention_days", DEFAULT_RETENTION_DAYS)
        return cls(
            getattr(settings, "attachments_dir", DEFAULT_DIRECTORY),
            redis,
            max_bytes=getattr(settings, "attachment_max_bytes", DEFAULT_MAX_BYTES),
            retention_seconds=float(days) * 86400.0,
        )

    # -- writing -----------------------------------------------------------------------------------

    async def put(self, data: bytes, content_type: str, conversation_id: str) -> Attachment:
        info = check_image(data, content_type, self.max_bytes)
        attachment = Attachment(
            id=secrets.token_urlsafe(24),
            content_type=info.content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            conversation_id=conversation_id,
            created_at=self._clock(),
        )
        # The file first: metadata that points at nothing would be a broken photo in a transcript.
        await asyncio.to_thread(self._write, attachment.id, data)
        fields = {
            "content_type": attachment.content_type,
            "size": str(attachment.size),
            "sha256": attachment.sha256,
            "conversation_id": conversation_id,
            "created_at": repr(attachment.created_at),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(metadata_key(attachment.id), mapping=fields)
            pipe.expire(metadata_key(attachment.id), max(1, int(self.retention_seconds)))
            await pipe.execute()
        self._purge_now_and_then()
        return attachment

    def _prepare(self) -> None:
        if self._ready:
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.directory.stat().st_mode & 0o077:  # made earlier, or by a looser umask: tighten it
            self.directory.chmod(0o700)
        self._ready = True

    def _write(self, attachment_id: str, data: bytes) -> None:
        self._prepare()
        final = self.directory / attachment_id
        temporary = self.directory / f".{attachment_id}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, final)  # readers see the whole file or none
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    # -- reading -----------------------------------------------------------------------------------

    async def info(self, attachment_id: str) -> Attachment:
        if not isinstance(attachment_id, str) or not ATTACHMENT_ID.match(attachment_id):
            raise AttachmentNotFound  # never a path: only the id's own characters reach the disk
        raw = await self._redis.hgetall(metadata_key(attachment_id))
        try:
            attachment = Attachment(
                id=attachment_id,
                content_type=raw["content_type"],
                size=int(raw["size"]),
                sha256=raw["sha256"],
                conversation_id=raw["conversation_id"],
                created_at=float(raw["created_at"]),
            )
        except (KeyError, ValueError):
            raise AttachmentNotFound from None
        if attachment.content_type not in ACCEPTED:
            raise AttachmentNotFound
        return attachment

    async def get(self, attachment_id: str) -> tuple[Attachment, bytes]:
        attachment = await self.info(attachment_id)
        return attachment, await self.read(attachment)

    async def read(self, attachment: Attachment) -> bytes:
        """The file of an attachment whose metadata was read (info), checked against it."""
        try:
            data = await asyncio.to_thread(self._read, attachment.id)
        except OSError:
            logger.warning("hub.attachments.missing", extra={"attachment_id": attachment.id})
            raise AttachmentNotFound from None
        if len(data) != attachment.size or hashlib.sha256(data).hexdigest() != attachment.sha256:
            logger.error("hub.attachments.damaged", extra={"attachment_id": attachment.id})
            raise AttachmentNotFound
        return data

    def _read(self, attachment_id: str) -> bytes:
        fd = os.open(self.directory / attachment_id, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as source:
            return source.read(self.max_bytes + 1)

    # -- retention ---------------------------------------------------------------------------------

    def purge_expired(self) -> int:
        """Delete files past the retention (their metadata has expired already) and temporary files an
        interrupted write left behind; the number deleted. Blocking: run it in a thread."""
        now = self._clock()
        removed = 0
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if ATTACHMENT_ID.match(entry.name):
                limit = self.retention_seconds
            elif _TEMPORARY.match(entry.name):
                limit = PURGE_INTERVAL_SECONDS
            else:
                continue  # not ours: never touched
            with contextlib.suppress(FileNotFoundError):  # another worker was quicker
                if now - entry.stat(follow_symlinks=False).st_mtime > limit:
                    os.unlink(entry.path)
                    removed += 1
        if removed:
            logger.info("hub.attachments.purged", extra={"removed": removed})
        return removed

    def _purge_now_and_then(self) -> None:
        now = self._clock()
        if now - self._last_purge < PURGE_INTERVAL_SECONDS or (self._purging and not self._purging.done()):
            return
        self._last_purge = now
        self._purging = asyncio.create_task(self._purge())

    async def _purge(self) -> None:
        try:
            await asyncio.to_thread(self.purge_expired)
        except OSError:
            logger.warning("hub.attachments.purge_failed", exc_info=True)
