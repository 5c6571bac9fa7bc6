"""Who is calling: API tokens for agents, supervisors, admins and editors; the service token; the admin token.

Tokens are random and stored only as SHA-256 digests, so a copy of Redis does not leak working credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from sanic.request import Request

from handoff.auth import bearer
from handoff.errors import BadRequest, Forbidden, Unauthorized

USER_ID = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}\Z")


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    EDITOR = "editor"  # content editors: intents and knowledge base
    SERVICE = "service"  # the action server


STAFF = (Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: Role
    agent_id: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, redis: Redis, service_token: str, admin_token: str) -> None:
        # decode_responses=True: replies are str, which redis-py's stubs (bytes | str) cannot express.
        self._redis: Any = redis
        self._service = service_token.encode()
        self._admin = admin_token.encode()

    async def authenticate(self, token: str) -> Principal:
        if not token:
            raise Unauthorized("a valid 'Authorization: Bearer <token>' header is required")
        if hmac.compare_digest(token.encode(), self._service):
            return Principal("service", Role.SERVICE)
        if hmac.compare_digest(token.encode(), self._admin):
            return Principal("admin", Role.ADMIN)
        raw = await self._redis.hgetall(f"hub:token:{_digest(token)}")
        if not raw:
            raise Unauthorized("the token is not valid (revoked or never issued)")
        return Principal(str(raw["user_id"]), Role(str(raw["role"])), raw.get("agent_id") or None)

    async def issue(self, user_id: str, role: Role, agent_id: str | None = None) -> str:
        if not USER_ID.match(user_id):
            raise BadRequest("'user_id' must be 1-64 of a-z, 0-9, _ . @ -", field="user_id")
        if role is Role.SERVICE:
            raise BadRequest("service tokens come from the configuration, not the API", field="role")
        if role is Role.AGENT and not agent_id:
            raise BadRequest("an agent token needs 'agent_id'", field="agent_id")
        token = secrets.token_urlsafe(32)
        digest = _digest(token)
        fields = {"user_id": user_id, "role": role.value, "created_at": f"{time.time():.0f}"}
        if agent_id:
            fields["agent_id"] = agent_id
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"hub:token:{digest}", mapping=fields)
            pipe.sadd(f"hub:user:{user_id}:tokens", digest)
            await pipe.execute()
        return token

    async def revoke_all(self, user_id: str) -> int:
        digests = await self._redis.smembers(f"hub:user:{user_id}:tokens")
        if digests:
            await self._redis.delete(*[f"hub:token:{d}" for d in digests], f"hub:user:{user_id}:tokens")
        return len(digests)


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def principal(request: Request) -> Principal:
    """The caller, cached on the request: a bearer token, or else a console session cookie (whose
    state-changing requests must carry the session's CSRF token)."""
    cached: Principal | None = getattr(request.ctx, "principal", None)
    if cached is None:
        token = bearer(request)
        cookie = request.cookies.get("hub_session")
        if token or not cookie:
            tokens: TokenStore = request.app.ctx.tokens
            cached = await tokens.authenticate(token)
        else:
            session = await request.app.ctx.accounts.session(cookie)
            if request.method in UNSAFE_METHODS:
                check_csrf(session.csrf_token, request.headers.get("x-csrf-token"))
            request.ctx.session = session
            cached = session.principal
        request.ctx.principal = cached
    return cached


def check_csrf(expected: str, header: str | None) -> None:
    if not header or not hmac.compare_digest(header.encode(), expected.encode()):
        raise Forbidden("missing or wrong X-CSRF-Token header for this session")


async def require(request: Request, *roles: Role) -> Principal:
    who = await principal(request)
    if who.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"this needs one of the roles: {allowed} (you are {who.role.value})")
    return who
