"""Photos: which bytes are accepted (by their own signature and header, never by a claim), and the local
store (files 0600 in a 0700 directory named by random ids, metadata beside them, checked on every read,
removed after the retention). The store's Redis is a small in-memory stand-in here; the integration tests
use a real one. Also the pure packet updates a waiting customer's messages make."""

from __future__ import annotations

import base64
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from handoff.attachments import (
    ATTACHMENT_ID,
    MAX_PIXELS,
    AttachmentNotFound,
    EmptyUpload,
    ImageTooLarge,
    LocalAttachmentStore,
    UnsupportedImage,
    check_image,
    declared_type,
    metadata_key,
    sniff,
)
from handoff.notices import notice
from handoff.packet import UPDATES_CAP, apply_updates, customer_updates, excerpt, order_ids, validate_packet

# -- pictures ----------------------------------------------------------------------------------------

JPEG_1X1 = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////"
    "////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA="
)
WEBP_LOSSLESS_1X1 = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
WEBP_LOSSY_1X1 = base64.b64decode("UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="1" height="1"/></svg>'
HTML = b"<!doctype html><script>alert(document.cookie)</script>"


def png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real PNG (browsers decode it) of one colour."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def png_header(width: int, height: int) -> bytes:
    """Only a PNG's signature and header: what a decompression bomb shows before its pixels."""
    return png(1, 1)[:33].replace(struct.pack(">II", 1, 1), struct.pack(">II", width, height), 1)


def webp_extended(width: int, height: int) -> bytes:
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


@pytest.mark.parametrize(
    ("data", "content_type", "size"),
    [
        (JPEG_1X1, "image/jpeg", (1, 1)),
        (png(3, 2), "image/png", (3, 2)),
        (WEBP_LOSSLESS_1X1, "image/webp", (1, 1)),
        (WEBP_LOSSY_1X1, "image/webp", (1, 1)),
        (webp_extended(640, 480), "image/webp", (640, 480)),
    ],
)
def test_jpeg_png_and_webp_are_read_from_their_bytes(
    data: bytes, content_type: str, size: tuple[int, int]
) -> None:
    assert sniff(data) == content_type
    info = check_image(data, f"{content_type}; charset=binary")
    assert (info.content_type, info.width, info.height) == (content_type, *size)


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        (SVG, "image/png"),  # an SVG dressed up as a PNG
        (HTML, "image/png"),
        (SVG, "image/svg+xml"),  # an honest SVG: still no
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"),
        (png(), "image/svg+xml"),
        (png(), "text/html"),
        (png(), ""),
        (png(), "image/jpeg"),  # the bytes and the claim disagree
        (JPEG_1X1, "image/png"),
        (b"\x89PNG\r\n\x1a\n" + HTML, "image/png"),  # a PNG signature before a page is not a PNG
        (b"\xff\xd8\xff\xe0" + HTML, "image/jpeg"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + HTML, "image/webp"),
        (JPEG_1X1[:40], "image/jpeg"),  # cut off before its frame header
    ],
)
def test_anything_else_is_refused_as_unsupported(data: bytes, declared: str) -> None:
    with pytest.raises(UnsupportedImage) as refused:
        check_image(data, declared)
    assert refused.value.status == 415


def test_limits_on_bytes_and_pixels() -> None:
    with pytest.raises(EmptyUpload):
        check_image(b"", "image/png")
    photo = png(4, 4)
    assert check_image(photo, "image/png", max_bytes=len(photo))
    with pytest.raises(ImageTooLarge) as too_big:
        check_image(photo, "image/png", max_bytes=len(photo) - 1)
    assert too_big.value.status == 413
    with pytest.raises(ImageTooLarge):  # a small file that would decode to 400 million pixels
        check_image(png_header(20_000, 20_000), "image/png")
    with pytest.raises(ImageTooLarge):
        check_image(webp_extended(30_000, 10), "image/webp")
    side = int(MAX_PIXELS**0.5)
    assert check_image(webp_extended(side, side), "image/webp").width == side
    with pytest.raises(UnsupportedImage):  # no pixels at all is damage, not a picture
        check_image(png_header(0, 5), "image/png")


def test_declared_type_is_the_media_type_alone() -> None:
    assert declared_type("Image/PNG ; foo=bar") == "image/png"
    assert declared_type(None) == ""


# -- the store ---------------------------------------------------------------------------------------


class FakeRedis:
    """The few Redis calls the store makes, in memory (expiry recorded, not enforced)."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str]] = {}
        self.ttl: dict[str, int] = {}

    def pipeline(self, transaction: bool = True) -> FakeRedis:
        return self

    async def __aenter__(self) -> FakeRedis:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def hset(self, key: str, mapping: dict[str, str]) -> None:
        self.hashes.setdefault(key, {}).update(mapping)

    def expire(self, key: str, seconds: int) -> None:
        self.ttl[key] = seconds

    async def execute(self) -> list[Any]:
        return []

    async def hgetall(self, key: str) -> dict[str, str]:
        return dict(self.hashes.get(key, {}))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def make_store(tmp_path: Path, **options: Any) -> tuple[LocalAttachmentStore, FakeRedis, Path]:
    redis = FakeRedis()
    directory = tmp_path / "var" / "attachments"
    store = LocalAttachmentStore(directory, redis, **options)  # type: ignore[arg-type]
    return store, redis, directory


async def test_a_photo_is_kept_privately_under_a_random_id(tmp_path: Path) -> None:
    store, redis, directory = make_store(tmp_path, retention_seconds=7 * 86400)
    photo = png()
    attachment = await store.put(photo, "image/png", "web-abc")
    assert ATTACHMENT_ID.match(attachment.id)
    assert (attachment.content_type, attachment.size, attachment.conversation_id) == (
        "image/png",
        len(photo),
        "web-abc",
    )
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / attachment.id).stat().st_mode) == 0o600
    assert sorted(os.listdir(directory)) == [attachment.id]  # no extension, no temporary file left
    assert redis.ttl[metadata_key(attachment.id)] == 7 * 86400
    assert metadata_key(attachment.id) == f"hub:attachment:{attachment.id}"

    again, data = await store.get(attachment.id)
    assert again == attachment and data == photo
    assert attachment.filename == f"photo-{attachment.id}.png"
    assert attachment.ref() == {"id": attachment.id, "content_type": "image/png", "size": len(photo)}

    second = await store.put(photo, "image/png", "web-abc")
    assert second.id != attachment.id and second.sha256 == attachment.sha256


async def test_a_looser_existing_directory_is_tightened(tmp_path: Path) -> None:
    store, _, directory = make_store(tmp_path)
    directory.mkdir(parents=True, mode=0o755)
    directory.chmod(0o755)
    await store.put(JPEG_1X1, "image/jpeg", "web-abc")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


async def test_the_store_refuses_what_validation_refuses(tmp_path: Path) -> None:
    store, _, directory = make_store(tmp_path, max_bytes=1024)
    with pytest.raises(UnsupportedImage):
        await store.put(SVG, "image/png", "web-abc")
    with pytest.raises(ImageTooLarge):
        await store.put(png(200, 200, (1, 2, 3))[:900] + b"\x00" * 2000, "image/png", "web-abc")
    assert not directory.exists() or os.listdir(directory) == []


@pytest.mark.parametrize(
    "attachment_id",
    [
        "../../secrets.env",
        "..",
        "",
        "a" * 31,
        "a" * 33,
        "a/" + "b" * 30,
        "%2e%2e" + "a" * 26,
        "a" * 31 + "\n",
    ],
)
async def test_ids_that_could_name_a_path_are_unknown(tmp_path: Path, attachment_id: str) -> None:
    store, _, _ = make_store(tmp_path)
    with pytest.raises(AttachmentNotFound):
        await store.get(attachment_id)


async def test_a_missing_changed_or_swapped_file_is_not_served(tmp_path: Path) -> None:
    store, redis, directory = make_store(tmp_path)
    attachment = await store.put(png(), "image/png", "web-abc")
    (directory / attachment.id).write_bytes(png(2, 2, (0, 0, 0)))  # same size, other pixels
    with pytest.raises(AttachmentNotFound):
        await store.get(attachment.id)

    other = await store.put(JPEG_1X1, "image/jpeg", "web-abc")
    (directory / other.id).unlink()
    (directory / other.id).symlink_to(tmp_path / "elsewhere")  # a link is never followed
    (tmp_path / "elsewhere").write_bytes(JPEG_1X1)
    with pytest.raises(AttachmentNotFound):
        await store.get(other.id)

    third = await store.put(JPEG_1X1, "image/jpeg", "web-abc")
    (directory / third.id).unlink()
    with pytest.raises(AttachmentNotFound):
        await store.get(third.id)

    fourth = await store.put(JPEG_1X1, "image/jpeg", "web-abc")
    redis.hashes[metadata_key(fourth.id)]["content_type"] = "text/html"  # never served as anything else
    with pytest.raises(AttachmentNotFound):
        await store.get(fourth.id)
    del redis.hashes[metadata_key(fourth.id)]  # the metadata expired: the file is as good as gone
    with pytest.raises(AttachmentNotFound):
        await store.get(fourth.id)


def test_files_past_the_retention_are_purged(tmp_path: Path) -> None:
    clock = Clock()
    store, _, directory = make_store(tmp_path, retention_seconds=86400, clock=clock)
    directory.mkdir(parents=True)

    def file(name: str, age: float) -> Path:
        path = directory / name
        path.write_bytes(b"x")
        os.utime(path, (clock.now - age, clock.now - age))
        return path

    file("a" * 32, 2 * 86400)  # past the retention
    fresh = file("b" * 32, 3600)
    file(f".{'c' * 32}.tmp", 7200)  # an interrupted write, long ago
    writing = file(f".{'d' * 32}.tmp", 5)  # one being written now
    stranger = file("README", 10 * 86400)  # not ours: never touched
    assert store.purge_expired() == 2
    assert sorted(os.listdir(directory)) == sorted(p.name for p in (fresh, writing, stranger))


async def test_storing_purges_at_most_once_an_hour(tmp_path: Path) -> None:
    clock = Clock()
    store, _, directory = make_store(tmp_path, retention_seconds=86400, clock=clock)
    first = await store.put(png(), "image/png", "web-abc")
    assert store._purging is not None
    await store._purging
    os.utime(directory / first.id, (clock.now - 2 * 86400, clock.now - 2 * 86400))
    clock.now += 60
    await store.put(png(), "image/png", "web-abc")
    await store._purging
    assert (directory / first.id).exists()  # within the hour: no second sweep
    clock.now += 3600
    await store.put(png(), "image/png", "web-abc")
    await store._purging
    assert not (directory / first.id).exists()


def test_store_settings_fall_back_to_defaults() -> None:
    class Bare:
        pass

    class Configured:
        attachments_dir = "/srv/photos"
        attachment_max_bytes = 1234
        attachment_retention_days = 7

    default = LocalAttachmentStore.from_settings(Bare(), FakeRedis())  # type: ignore[arg-type]
    assert (str(default.directory), default.max_bytes, default.retention_seconds) == (
        "var/attachments",
        5 * 1024 * 1024,
        90 * 86400,
    )
    configured = LocalAttachmentStore.from_settings(Configured(), FakeRedis())  # type: ignore[arg-type]
    assert (str(configured.directory), configured.max_bytes, configured.retention_seconds) == (
        "/srv/photos",
        1234,
        7 * 86400,
    )


# -- what a waiting customer adds to the handoff packet ------------------------------------------------


def test_a_message_yields_its_text_order_numbers_and_photos() -> None:
    entries = customer_updates("It's so-10001021, not #10001022 (or SO-10001021)", ["p1"], 5.0)
    assert entries == [
        {"ts": 5.0, "kind": "text", "value": "It's so-10001021, not #10001022 (or SO-10001021)"},
        {"ts": 5.0, "kind": "order_id", "value": "SO-10001021"},
        {"ts": 5.0, "kind": "order_id", "value": "SO-10001022"},
        {"ts": 5.0, "kind": "photo", "value": "p1"},
    ]
    assert customer_updates("", ["p1", "p2"], 1.0) == [
        {"ts": 1.0, "kind": "photo", "value": "p1"},
        {"ts": 1.0, "kind": "photo", "value": "p2"},
    ]
    assert order_ids("订单号10001021，电话 13812345678") == ["SO-10001021"]
    assert len(order_ids(" ".join(f"SO-1000102{n}" for n in range(9)))) == 3
    assert excerpt("line one\n  line two", 100) == "line one line two"
    assert excerpt("x" * 500, 10) == "x" * 9 + "…"


def test_updates_apply_by_owner_and_stay_bounded() -> None:
    packet = {"conversation_id": "c", "reason": "damaged_goods", "order": {}}
    entries = customer_updates("my order is SO-10001021", ["p1"], 1.0)
    waiting = apply_updates(packet, "queued", entries)
    assert waiting is not None
    assert [e["kind"] for e in waiting["updates"]] == ["text", "order_id", "photo"]
    assert waiting["order_hint"] == "SO-10001021"
    assert "updates" not in packet  # the stored packet is not changed in place

    with_agent = apply_updates(waiting, "agent", customer_updates("and SO-10001022", [], 2.0))
    assert with_agent is not None  # an agent reads the chat: only the order number is added
    assert [e["kind"] for e in with_agent["updates"]] == ["text", "order_id", "photo", "order_id"]
    assert with_agent["order_hint"] == "SO-10001022"
    assert apply_updates(waiting, "agent", customer_updates("thanks", [], 3.0)) is None
    assert apply_updates(waiting, "bot", entries) is None
    assert apply_updates(waiting, None, entries) is None
    assert apply_updates(None, "queued", entries) is None

    known_order = {**packet, "order": {"id": "SO-10001021"}}
    assert "order_hint" not in (apply_updates(known_order, "offered", entries) or {})

    many = waiting
    for n in range(UPDATES_CAP + 10):
        many = apply_updates(many, "queued", [{"ts": float(n), "kind": "text", "value": str(n)}]) or many
    assert len(many["updates"]) == UPDATES_CAP and many["updates"][-1]["value"] == str(UPDATES_CAP + 9)


@pytest.mark.parametrize("field", ["updates", "order_hint", "photos"])
def test_a_posted_packet_may_not_carry_the_hubs_fields(field: str) -> None:
    from handoff.errors import BadRequest

    body = {"conversation_id": "c", "reason": "damaged_goods", "language": "en", field: []}
    with pytest.raises(BadRequest) as refused:
        validate_packet(body)
    assert refused.value.field == field


# -- the hub: a photo is a message -----------------------------------------------------------------------


class RecordingUpdates:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[dict[str, Any]]]] = []

    async def add(self, conversation_id: str, entries: Any) -> bool:
        self.calls.append((conversation_id, [dict(e) for e in entries]))
        return True


PHOTO = {"id": "p" * 32, "content_type": "image/jpeg", "size": 1234}


async def test_a_photo_alone_is_stored_and_acknowledged_without_the_assistant() -> None:
    from handoff.bot_client import BotReply
    from handoff.transcript import InMemoryTranscriptStore
    from tests.unit.test_hub import RecordingBot, make_hub

    store = InMemoryTranscriptStore()
    bot = RecordingBot(store, [BotReply(text="What's the reason for the return?")])
    hub = make_hub(store, bot)
    replies = await hub.customer_message("c1", "", "web", client_id="k1", attachments=[PHOTO])
    assert bot.texts == []  # a form's pending question stays pending
    assert [r.text for r in replies] == [notice("photo_received", "en")]
    customer, acknowledgement = await store.read("c1")
    assert (customer.author, customer.text, customer.attachments, customer.client_id) == (
        "customer",
        "",
        [PHOTO],
        "k1",
    )
    assert (acknowledgement.author, acknowledgement.text) == ("system", notice("photo_received", "en"))


async def test_a_photo_with_a_caption_sends_the_caption_and_says_where_the_photo_went() -> None:
    from handoff.bot_client import BotReply
    from handoff.transcript import InMemoryTranscriptStore
    from tests.unit.test_hub import RecordingBot, make_hub

    store = InMemoryTranscriptStore()
    bot = RecordingBot(store, [BotReply(text="Sorry to hear that. Which order?")])
    hub = make_hub(store, bot)
    replies = await hub.customer_message("c1", "the box was crushed", "web", attachments=[PHOTO])
    assert bot.texts == ["the box was crushed"]
    assert bot.seen_before_send == ["the box was crushed"]  # stored before the assistant was asked
    assert [r.text for r in replies] == ["Sorry to hear that. Which order?", notice("photo_saved", "en")]
    assert [m.author for m in await store.read("c1")] == ["customer", "bot", "system"]


async def test_a_handoff_packet_lists_the_photos_sent_before_it() -> None:
    from handoff.bot_client import BotReply
    from handoff.transcript import InMemoryTranscriptStore, Message
    from tests.unit.fakes import Conversations
    from tests.unit.test_hub import RecordingBot, make_hub

    store = InMemoryTranscriptStore()
    conversations = Conversations()
    seen: list[dict[str, Any]] = []
    enqueue = conversations.enqueue

    async def recording_enqueue(conversation_id: str, packet: Any) -> Any:
        seen.append(dict(packet))
        return await enqueue(conversation_id, packet)

    conversations.enqueue = recording_enqueue  # type: ignore[method-assign]
    hub = make_hub(store, RecordingBot(store, [BotReply(text="ok")]), conversations)
    for n in range(12):
        await hub.customer_message("c2", "", "web", attachments=[{**PHOTO, "id": f"{n:032d}"}])
    await hub.customer_message("c2", "it arrived broken", "web")
    packet = {"conversation_id": "c2", "reason": "damaged_goods", "language": "en", "channel": "web"}
    await hub.handoff("c2", packet)
    photos = seen[0]["photos"]
    assert [p["id"] for p in photos] == [f"{n:032d}" for n in range(2, 12)]  # the latest ten
    assert all(p["content_type"] == "image/jpeg" and p["ts"] for p in photos)
    assert "photos" not in packet

    await hub.handoff("c3", {**packet, "conversation_id": "c3"})
    assert "photos" not in seen[1]  # none sent: no empty list either

    # one conversation spans a customer's visits: last month's photos are not this handoff's
    now = 1_700_000_000.0  # the hub's clock in make_hub
    for age, photo_id in ((40 * 86400, "o" * 32), (3600, "n" * 32)):
        old = Message(
            author="customer", text="", channel="web", ts=now - age, attachments=[{**PHOTO, "id": photo_id}]
        )
        await store.append("c4", old)
    await hub.handoff("c4", {**packet, "conversation_id": "c4"})
    assert [p["id"] for p in seen[2]["photos"]] == ["n" * 32]


async def test_while_the_team_has_it_messages_update_the_packet_and_rest_is_told() -> None:
    from handoff.bot_client import BotReply
    from handoff.conversations import Owner
    from handoff.notices import notice
    from handoff.transcript import InMemoryTranscriptStore
    from tests.unit.fakes import Conversations
    from tests.unit.test_hub import RecordingBot, make_hub

    store = InMemoryTranscriptStore()
    conversations = Conversations()
    bot = RecordingBot(store, [BotReply(text="bot")])
    updates = RecordingUpdates()
    hub = make_hub(store, bot, conversations)
    hub.use_packet_updates(updates)
    assert hub.packet_updates_enabled
    conversations.owners["c4"] = Owner.QUEUED

    replies = await hub.customer_message("c4", "my order is SO-10001021", "rest")
    assert [r.text for r in replies] == [notice("passed_to_team", "en")]
    assert [m.text for m in await store.read("c4")] == ["my order is SO-10001021"]  # the notice is not kept
    assert updates.calls[-1][0] == "c4"
    assert [(e["kind"], e["value"]) for e in updates.calls[-1][1]] == [
        ("text", "my order is SO-10001021"),
        ("order_id", "SO-10001021"),
    ]

    conversations.owners["c4"] = Owner.AGENT
    replies = await hub.customer_message("c4", "我的订单", "rest")
    assert [r.text for r in replies] == ["已转达给客服。"]
    assert await hub.customer_message("c4", "", "web", attachments=[PHOTO]) == []  # the widget shows it live
    assert updates.calls[-1][1] == [
        {"ts": updates.calls[-1][1][0]["ts"], "kind": "photo", "value": PHOTO["id"]}
    ]
    assert bot.texts == []  # the assistant saw none of it
