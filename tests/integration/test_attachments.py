"""Photos over real HTTP against a real redis-server: the widget uploads with its session token and only
into its own conversation, only JPEG, PNG and WebP by their bytes, within the size limit; the photo is a
customer message in the transcript (the assistant reads a stand-in), comes back to the customer with
fixed headers, and reaches the team only through the conversation's access rules."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sanic import Sanic

from handoff.app import create_app
from handoff.attachments import UPLOADS_PER_CONVERSATION
from handoff.notices import notice
from handoff.settings import Settings
from handoff.widget_tokens import sign
from tests.integration.conftest import (
    ADMIN,
    RASA_API,
    REST_TOKEN,
    SERVICE,
    TOKEN,
    WIDGET_SECRET,
    rasa_stand_in,
    transcript,
)
from tests.integration.live_app import serving
from tests.unit.test_attachments import HTML, JPEG_1X1, SVG, png
from tests.widget_client import Widget, new_session

pytestmark = pytest.mark.integration

REDIS_DB = 9  # routing keys are global: this module flushes its own database before each test
MAX_BYTES = 65536  # the smallest HUB_ATTACHMENT_MAX_BYTES, so that "too large" stays small
SHOP = "https://shop.example"
PASSWORD = "correct horse battery"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
Served = tuple[str, list[dict[str, Any]]]  # the base URL, and what the assistant was sent
SERVICE_AUTH = {"Authorization": f"Bearer {SERVICE}"}


def flushed_database(redis_url: str, number: int) -> str:
    url = redis_url.rsplit("/", 1)[0] + f"/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def build_app(
    db_url: str, photo_dir: Path, routing: str, seen: list[dict[str, Any]], **overrides: str
) -> Sanic:  # type: ignore[type-arg]
    """The app with its photos in `photo_dir` (at most MAX_BYTES each) and a Rasa stand-in that records
    what the assistant was sent."""
    Sanic.test_mode = True
    env = {
        "RASA_CHANNEL_TOKEN": TOKEN,
        "HUB_SERVICE_TOKEN": SERVICE,
        "HUB_ADMIN_TOKEN": ADMIN,
        "RASA_AUTH_TOKEN": RASA_API,
        "HUB_WIDGET_SECRET": WIDGET_SECRET,
        "HUB_IDENTITY_SECRET": "storefront-identity-key-0123",
        "HUB_REST_TOKEN": REST_TOKEN,
        "REDIS_URL": db_url,
        "HUB_ROUTING_CONFIG": routing,
        "HUB_ATTACHMENTS_DIR": str(photo_dir),
        "HUB_ATTACHMENT_MAX_BYTES": str(MAX_BYTES),
        **overrides,
    }
    return create_app(Settings.from_env(env), http_transport=rasa_stand_in(seen))


@pytest.fixture
def db_url(redis_url: str) -> str:
    return flushed_database(redis_url, REDIS_DB)


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    return tmp_path / "attachments"


@pytest.fixture
async def hub(db_url: str, photo_dir: Path, no_overflow_routing: str) -> AsyncIterator[Served]:
    seen: list[dict[str, Any]] = []
    async with serving(
        build_app(db_url, photo_dir, no_overflow_routing, seen, HUB_ALLOWED_ORIGINS=SHOP)
    ) as base:
        yield base, seen


async def upload(
    client: httpx.AsyncClient,
    token: str | None,
    body: Any,
    content_type: str = "image/png",
    client_id: str | None = None,
    **headers: str,
) -> httpx.Response:
    sent = {"Content-Type": content_type, **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if client_id:
        sent["X-Client-Id"] = client_id
    return await client.post("/api/widget/attachments", content=body, headers=sent)


def stored_files(directory: Path) -> list[str]:
    return sorted(os.listdir(directory)) if directory.exists() else []


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the customer ----------------------------------------------------------------------------------


async def test_a_photo_is_a_customer_message_the_customer_sees_again(
    hub: Served, photo_dir: Path, db_url: str
) -> None:
    base, seen = hub
    photo = png(3, 2)
    async with httpx.AsyncClient(base_url=base) as client:
        session = await new_session(client)
        cid, token = session["conversation_id"], session["token"]
        widget = Widget(base, token)
        await widget.connect()

        sent = await upload(client, token, photo, client_id="photo-1")
        assert sent.status_code == 201, sent.text
        ref = sent.json()["attachment"]
        assert sent.json()["client_id"] == "photo-1"
        assert ref == {"id": ref["id"], "content_type": "image/png", "size": len(photo)}

        # live in the widget, matched to its thumbnail by client id; the hub says where it went, and the
        # assistant (which cannot look at it) is not asked
        frame = await widget.message("customer")
        assert (frame["client_id"], frame["text"], frame["attachments"]) == ("photo-1", "", [ref])
        assert (await widget.message("system"))["text"] == notice("photo_received", "en")
        assert seen == []
        stored = transcript(db_url, cid)
        assert [(m["author"], m["text"], m.get("attachments")) for m in stored][:1] == [
            ("customer", "", [ref])
        ]

        # kept privately under its random id
        assert stored_files(photo_dir) == [ref["id"]]
        assert mode(photo_dir) == 0o700 and mode(photo_dir / ref["id"]) == 0o600

        # the customer's own photo comes back with fixed headers
        auth = {"Authorization": f"Bearer {token}"}
        back = await client.get(f"/api/widget/attachments/{ref['id']}", headers=auth)
        assert back.status_code == 200 and back.content == photo
        assert back.headers["content-type"] == "image/png"
        assert back.headers["x-content-type-options"] == "nosniff"
        assert back.headers["content-disposition"] == f'inline; filename="photo-{ref["id"]}.png"'
        assert back.headers["cache-control"] == "private, no-cache"
        again = await client.get(
            f"/api/widget/attachments/{ref['id']}", headers={**auth, "If-None-Match": back.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""

        # a re-sent upload (same client id) is kept once
        resent = await upload(client, token, photo, client_id="photo-1")
        assert resent.status_code == 200 and resent.json()["duplicate"] is True
        assert [m["author"] for m in transcript(db_url, cid)].count("customer") == 1
        assert stored_files(photo_dir) == [ref["id"]]

        # a fresh page load shows it again
        reloaded = Widget(base, token)
        await reloaded.connect()
        replayed = await reloaded.message("customer")
        assert replayed["attachments"] == [ref]
        await widget.ws.close()
        await reloaded.ws.close()


async def test_only_the_sessions_own_conversation(hub: Served, photo_dir: Path, db_url: str) -> None:
    base, _ = hub
    async with httpx.AsyncClient(base_url=base) as client:
        mine, theirs = await new_session(client), await new_session(client)
        sent = await upload(client, theirs["token"], JPEG_1X1, "image/jpeg")
        assert sent.status_code == 201
        their_photo = sent.json()["attachment"]["id"]

        # another session's token cannot read it: as if it did not exist
        other = await client.get(
            f"/api/widget/attachments/{their_photo}", headers={"Authorization": f"Bearer {mine['token']}"}
        )
        assert other.status_code == 404
        # without a token, or with one that is not a valid session token: 401
        forged = sign("not-the-secret-0123456789", "session", {"cid": theirs["conversation_id"]}, 60)
        identity = sign(WIDGET_SECRET, "identity", {"sub": "cust-1"}, 60)
        expired = sign(WIDGET_SECRET, "session", {"cid": theirs["conversation_id"]}, -1)
        for token in (None, forged, identity, expired, theirs["token"][:-2] + "xx", "garbage"):
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
            read = await client.get(f"/api/widget/attachments/{their_photo}", headers=headers)
            assert read.status_code == 401, token
            assert (await upload(client, token, png())).status_code == 401, token
        # the token in the URL is no way in either
        query = await client.get(f"/api/widget/attachments/{their_photo}", params={"token": theirs["token"]})
        assert query.status_code == 401

        # an upload lands in the token's conversation, never in another
        assert (await upload(client, mine["token"], png())).status_code == 201
        assert len(transcript(db_url, theirs["conversation_id"])) == 2  # their photo and its receipt
        assert [m["author"] for m in transcript(db_url, mine["conversation_id"])] == ["customer", "system"]
        # ids that could name a path are simply unknown
        for bad in ("..%2F..%2Fsecrets.env", "%2E%2E", "a" * 31, their_photo + "x"):
            read = await client.get(
                f"/api/widget/attachments/{bad}", headers={"Authorization": f"Bearer {theirs['token']}"}
            )
            assert read.status_code == 404, bad


REFUSED = [
    (SVG, "image/png", 415),  # an SVG disguised as a PNG
    (HTML, "image/png", 415),  # a page disguised as a PNG
    (b"\x89PNG\r\n\x1a\n" + HTML, "image/png", 415),  # a PNG signature in front of a page
    (SVG, "image/svg+xml", 415),
    (HTML, "text/html", 415),
    (png(), "application/octet-stream", 415),
    (png(), "image/jpeg", 415),  # the bytes say otherwise
    (JPEG_1X1, "image/png", 415),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif", 415),
    (b"", "image/png", 400),
    (png() + b"\x00" * MAX_BYTES, "image/png", 413),
]


async def test_what_is_not_a_photo_or_too_large_is_refused(hub: Served, photo_dir: Path, db_url: str) -> None:
    base, seen = hub
    async with httpx.AsyncClient(base_url=base) as client:
        session = await new_session(client)
        for body, content_type, status in REFUSED:
            refused = await upload(client, session["token"], body, content_type)
            assert refused.status_code == status, (body[:20], content_type, refused.text)
            assert refused.json()["error"] in ("unsupported_media_type", "bad_request", "payload_too_large")
        assert stored_files(photo_dir) == []
        assert transcript(db_url, session["conversation_id"]) == [] and seen == []


async def test_a_streamed_body_is_cut_off_at_the_limit(hub: Served, photo_dir: Path) -> None:
    base, _ = hub

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the server counts as it reads
        yield png()
        for _ in range(100):
            yield b"\x00" * 4096

    async with httpx.AsyncClient(base_url=base) as client:
        session = await new_session(client)
        refused = await upload(client, session["token"], chunks())
        assert refused.status_code == 413 and refused.json()["limit_bytes"] == MAX_BYTES
        bad_id = await upload(client, session["token"], png(), client_id="no spaces allowed")
        assert bad_id.status_code == 400
    assert stored_files(photo_dir) == []


async def test_uploads_are_limited_per_conversation(hub: Served) -> None:
    base, _ = hub
    async with httpx.AsyncClient(base_url=base) as client:
        session = await new_session(client)
        for n in range(UPLOADS_PER_CONVERSATION):
            assert (await upload(client, session["token"], png(), client_id=f"p{n}")).status_code == 201
        limited = await upload(client, session["token"], png(), client_id="one-more")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


async def test_storefronts_in_the_allowed_origins_may_upload_others_not(hub: Served) -> None:
    base, _ = hub
    async with httpx.AsyncClient(base_url=base) as client:
        session = await new_session(client)
        preflight = await client.options(
            "/api/widget/attachments",
            headers={"Origin": SHOP, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, content-type, x-client-id"},
        )  # fmt: skip
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == SHOP
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert {"authorization", "content-type", "x-client-id"} <= {h.strip() for h in allowed.split(",")}

        sent = await upload(client, session["token"], png(), Origin=SHOP)
        assert sent.status_code == 201 and sent.headers["access-control-allow-origin"] == SHOP
        photo = sent.json()["attachment"]["id"]
        read = await client.get(
            f"/api/widget/attachments/{photo}",
            headers={"Origin": SHOP, "Authorization": f"Bearer {session['token']}"},
        )
        assert read.status_code == 200 and read.headers["access-control-allow-origin"] == SHOP
        # the storefront can read why an upload failed
        refused = await upload(client, session["token"], SVG, Origin=SHOP)
        assert refused.status_code == 415 and refused.headers["access-control-allow-origin"] == SHOP
        unauthorized = await upload(client, None, png(), Origin=SHOP)
        assert unauthorized.status_code == 401 and unauthorized.headers["access-control-allow-origin"] == SHOP

        evil = await upload(client, session["token"], png(), Origin="https://evil.example")
        assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers


# -- the team --------------------------------------------------------------------------------------


async def make_agent(client: httpx.AsyncClient, agent_id: str) -> None:
    body = {"id": agent_id, "name": agent_id.title(), "languages": ["en", "zh"], "capacity": 2,
            "skills": {"general": 0.8, "returns": 0.9}}  # fmt: skip
    assert (await client.post("/api/agents", json=body, headers=ADMIN_AUTH)).status_code == 201
    user = {"id": agent_id, "password": PASSWORD, "role": "agent", "agent_id": agent_id}
    assert (await client.post("/api/users", json=user, headers=ADMIN_AUTH)).status_code == 201


async def signed_in(base: str, user_id: str) -> httpx.AsyncClient:
    """A console: the session cookie (and the CSRF token for changes)."""
    console = httpx.AsyncClient(base_url=base, headers={"Origin": base})
    answer = await console.post("/api/session", json={"user_id": user_id, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    console.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return console


async def test_the_team_reads_a_photo_only_while_it_may_read_the_conversation(hub: Served) -> None:
    base, _ = hub
    async with httpx.AsyncClient(base_url=base) as client:
        await make_agent(client, "ana")
        await make_agent(client, "ben")
        staff = {"id": "sam", "password": PASSWORD, "role": "supervisor"}
        assert (await client.post("/api/users", json=staff, headers=ADMIN_AUTH)).status_code == 201
        editor = {"id": "eve", "password": PASSWORD, "role": "editor"}
        assert (await client.post("/api/users", json=editor, headers=ADMIN_AUTH)).status_code == 201

        session = await new_session(client)
        cid = session["conversation_id"]
        photo = png(2, 2, (10, 200, 10))
        ref = (await upload(client, session["token"], photo)).json()["attachment"]
        path = f"/api/attachments/{ref['id']}"

        ana, ben, sam, eve = [await signed_in(base, u) for u in ("ana", "ben", "sam", "eve")]
        try:
            assert (await client.get(path)).status_code == 401  # nobody
            assert (await client.get(path, headers=SERVICE_AUTH)).status_code == 403  # the action server
            assert (await eve.get(path)).status_code == 403  # an editor
            assert (await ana.get(path)).status_code == 403  # not yet offered to her
            supervisor = await sam.get(path)
            assert supervisor.status_code == 200 and supervisor.content == photo

            assert (await ana.put("/api/agents/ana/presence", json={"presence": "online"})).status_code == 200
            body = {"conversation_id": cid, "reason": "damaged_goods", "language": "en", "channel": "web"}
            assert (await client.post("/api/handoffs/", json=body, headers=SERVICE_AUTH)).status_code == 201
            offered = await ana.get(path)  # offered to her: she may look before accepting
            assert offered.status_code == 200 and offered.content == photo
            assert offered.headers["content-type"] == "image/png"
            assert offered.headers["x-content-type-options"] == "nosniff"
            assert offered.headers["content-disposition"] == f'inline; filename="photo-{ref["id"]}.png"'
            assert offered.headers["cross-origin-resource-policy"] == "same-origin"
            assert (await ben.get(path)).status_code == 403  # another agent

            # the card lists the photos sent before the handoff
            card = (await ana.get(f"/api/conversations/{cid}")).json()
            assert [p["id"] for p in card["packet"]["photos"]] == [ref["id"]]

            assert (await ana.post(f"/api/offers/{cid}/accept")).status_code == 200
            assert (await ana.get(path)).status_code == 200
            unknown = await ana.get("/api/attachments/" + "x" * 32)
            assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_attachment"
            assert (await ana.post(f"/api/assignments/{cid}/resolve")).status_code == 200
            assert (await ana.get(path)).status_code == 403  # no longer hers
            assert (await sam.get(path)).status_code == 200
        finally:
            for console in (ana, ben, sam, eve):
                await console.aclose()


async def test_the_upload_is_described_in_the_api_reference(hub: Served) -> None:
    base, _ = hub
    async with httpx.AsyncClient(base_url=base) as client:
        spec = (await client.get("/docs/openapi.json")).json()
    body = spec["paths"]["/api/widget/attachments"]["post"]["requestBody"]["content"]
    assert set(body) == {"image/jpeg", "image/png", "image/webp"}
    assert json.dumps(body["image/png"]["schema"]) == json.dumps({"type": "string", "format": "binary"})
