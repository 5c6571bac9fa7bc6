"""Photos in conversations: the widget uploads them, the customer and the team read them back.

- `POST /api/widget/attachments`: the customer's photo, the raw bytes as the body with its Content-Type
  (image/jpeg, image/png or image/webp), authenticated with the widget session token
  (`Authorization: Bearer <token>`), optionally `X-Client-Id` (the widget's id for the message, so a
  re-sent upload is kept once). Checked by its bytes (handoff.attachments.check_image), at most
  HUB_ATTACHMENT_MAX_BYTES, stored, then posted into the conversation as a customer message with
  `attachments` (handoff.hub.Hub.customer_message). 201 `{attachment, client_id}`; 200 with `duplicate`
  for a re-send; 400, 401, 403 (origin), 413, 415, 429.
- `GET /api/widget/attachments/<id>`: a photo of the token's own conversation (404 for any other).
- `GET /api/attachments/<id>`: for the team, with the console's session cookie or an API token: agents
  only while the conversation is offered to or held by them, supervisors and admins always (the rules of
  `GET /api/conversations/<id>`).

Photos are sent back with their checked Content-Type, `X-Content-Type-Options: nosniff`, `Content-Disposition:
inline` with a name made of the random id, `Cache-Control: private, no-cache` and their sha256 as ETag (a
browser revalidates, and access is checked, every time). The session token never goes into a URL.

At server start the blueprint creates the attachment store (`app.ctx.attachment_store`, unless one was
set) and lets the hub keep handoff packets current (handoff.packet.RedisPacketUpdates).
"""

from __future__ import annotations

import logging
from typing import Any

from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, raw
from sanic.response import json as json_response
from sanic_ext.extensions.openapi import openapi

from handoff.attachments import (
    ACCEPTED,
    UPLOAD_WINDOW_SECONDS,
    UPLOADS_PER_ADDRESS,
    UPLOADS_PER_CONVERSATION,
    Attachment,
    AttachmentNotFound,
    AttachmentStore,
    LocalAttachmentStore,
    UnsupportedImage,
    UploadRefused,
    declared_type,
)
from handoff.auth import bearer
from handoff.blueprints.conversations import conversation_for
from handoff.channels.widget.frames import CHANNEL, CLIENT_ID
from handoff.channels.widget.origins import check_origin, cors
from handoff.channels.widget.sessions import session_metadata
from handoff.errors import BadRequest, Unauthorized, read_body
from handoff.hub import AlreadyStored, Hub
from handoff.identity import STAFF, Role, require
from handoff.openapi_docs import TEAM_READ, WIDGET, WIDGET_SESSION, documented
from handoff.packet import RedisPacketUpdates
from handoff.ratelimit import RateLimiter, client_address
from handoff.widget_tokens import verify

logger = logging.getLogger(__name__)

bp = Blueprint("attachments")

WIDGET_PATH = "/api/widget/attachments"
CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, X-Client-Id"
_ERROR = {"application/json": {"error": str, "message": str}}


def _store(request: Request) -> AttachmentStore:
    store: AttachmentStore = request.app.ctx.attachment_store
    return store


@bp.after_server_start
async def install(app: Sanic) -> None:  # type: ignore[type-arg]
    if getattr(app.ctx, "attachment_store", None) is None:
        app.ctx.attachment_store = LocalAttachmentStore.from_settings(app.ctx.settings, app.ctx.redis)
    hub: Hub = app.ctx.hub
    if not hub.packet_updates_enabled:
        hub.use_packet_updates(RedisPacketUpdates(app.ctx.redis))


@bp.on_response  # type: ignore[untyped-decorator]
async def widget_cors(request: Request, response: HTTPResponse) -> None:
    """Every answer of the widget routes, errors included, is readable by a configured storefront."""
    if request.path == WIDGET_PATH or request.path.startswith(WIDGET_PATH + "/"):
        cors(request, response, CORS_METHODS, CORS_HEADERS)


def _widget_claims(request: Request) -> dict[str, Any]:
    check_origin(request)
    token = bearer(request)
    if not token:
        raise Unauthorized("send the widget session token: 'Authorization: Bearer <token>'")
    return verify(request.app.ctx.settings.widget_secret, "session", token)


def _image(
    attachment: Attachment, data: bytes | None, status: int = 200, same_origin: bool = False
) -> HTTPResponse:
    headers = {
        "Content-Disposition": f'inline; filename="{attachment.filename}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
        "ETag": f'"{attachment.sha256}"',
    }
    if same_origin:  # only the console's own pages may embed it
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return raw(data or b"", status=status, headers=headers, content_type=attachment.content_type)


def _not_modified(request: Request, attachment: Attachment) -> bool:
    given = request.headers.get("if-none-match", "")
    return f'"{attachment.sha256}"' in {tag.strip().removeprefix("W/") for tag in given.split(",")}


async def _serve(request: Request, attachment: Attachment, same_origin: bool) -> HTTPResponse:
    if _not_modified(request, attachment):
        return _image(attachment, None, status=304, same_origin=same_origin)
    return _image(attachment, await _store(request).read(attachment), same_origin=same_origin)


# -- the customer ----------------------------------------------------------------------------------


@bp.options(WIDGET_PATH)
async def upload_preflight(request: Request) -> HTTPResponse:
    check_origin(request)
    return HTTPResponse(status=204)


@bp.options(WIDGET_PATH + "/<attachment_id>")
async def read_preflight(request: Request, attachment_id: str) -> HTTPResponse:
    check_origin(request)
    return HTTPResponse(status=204)


@bp.post(WIDGET_PATH, stream=True)  # streamed: a body over the limit is never read whole
@openapi.definition(
    body=openapi.definitions.RequestBody(
        {content_type: bytearray for content_type in ACCEPTED},  # bytearray: a binary string
        description="The photo's bytes (at most HUB_ATTACHMENT_MAX_BYTES, 5 MB by default). "
        "`Authorization: Bearer <widget session token>`; optional `X-Client-Id`.",
        required=True,
    ),
    response=[
        openapi.definitions.Response(
            {
                "application/json": {
                    "attachment": {"id": str, "content_type": str, "size": int},
                    "client_id": str,
                }
            },
            status=201,
        ),
        *(openapi.definitions.Response(_ERROR, status=s) for s in (400, 401, 403, 413, 415, 429)),
    ],
    secured={WIDGET_SESSION: []},
)
async def upload(request: Request) -> HTTPResponse:
    """A customer's photo, posted into their conversation as a message."""
    claims = _widget_claims(request)
    conversation_id = str(claims["cid"])
    client_id = request.headers.get("x-client-id") or None
    if client_id is not None and not CLIENT_ID.match(client_id):
        raise BadRequest("X-Client-Id: 1-64 of A-Z a-z 0-9 _ -", field="client_id")
    content_type = declared_type(request.content_type)
    if content_type not in ACCEPTED:
        return _refused(UnsupportedImage("send a JPEG, PNG or WebP photo as the body, with its Content-Type"))
    hub: Hub = request.app.ctx.hub
    if client_id and await hub.already_stored(conversation_id, client_id):
        return json_response({"duplicate": True, "client_id": client_id})
    settings = request.app.ctx.settings
    limiter: RateLimiter = request.app.ctx.limiter
    address = client_address(request)
    await limiter.check("uploads_address", address, UPLOADS_PER_ADDRESS, UPLOAD_WINDOW_SECONDS)
    await limiter.check("uploads", conversation_id, UPLOADS_PER_CONVERSATION, UPLOAD_WINDOW_SECONDS)
    await limiter.check("messages", conversation_id, settings.messages_per_minute, 60)  # a photo is a message
    store = _store(request)
    data = await read_body(request, store.max_bytes)
    try:
        attachment = await store.put(data, content_type, conversation_id)
    except UploadRefused as exc:
        return _refused(exc)
    try:
        await hub.customer_message(
            conversation_id,
            "",
            CHANNEL,
            session_metadata(request, claims),
            address=conversation_id,
            client_id=client_id,
            attachments=[attachment.ref()],
        )
    except AlreadyStored:  # the same upload twice at once: the first one's message stands
        return json_response({"duplicate": True, "client_id": client_id})
    logger.info(
        "hub.attachments.uploaded", extra={"conversation_id": conversation_id, "size": attachment.size}
    )
    return json_response({"attachment": attachment.ref(), "client_id": client_id}, status=201)


def _refused(exc: UploadRefused) -> HTTPResponse:
    return json_response({"error": exc.code, "message": str(exc)}, status=exc.status)


@bp.get(WIDGET_PATH + "/<attachment_id>")
@documented(security=WIDGET, errors=(401, 403, 404), also=(304,), ok_description="The photo's bytes")
async def widget_photo(request: Request, attachment_id: str) -> HTTPResponse:
    """A photo of the session's own conversation."""
    claims = _widget_claims(request)
    attachment = await _store(request).info(attachment_id)
    if attachment.conversation_id != str(claims["cid"]):
        raise AttachmentNotFound  # another conversation's photo does not exist for this customer
    return await _serve(request, attachment, same_origin=False)


# -- the team --------------------------------------------------------------------------------------


@bp.get("/api/attachments/<attachment_id>")
@documented(security=TEAM_READ, errors=(400, 401, 403, 404), also=(304,), ok_description="The photo's bytes")
async def team_photo(request: Request, attachment_id: str) -> HTTPResponse:
    """A photo for an agent who may see its conversation, or for staff."""
    await require(request, Role.AGENT, *STAFF)  # who is asking, before anything says whether it exists
    attachment = await _store(request).info(attachment_id)
    await conversation_for(request, attachment.conversation_id)  # 401/403 as for the conversation itself
    return await _serve(request, attachment, same_origin=True)
