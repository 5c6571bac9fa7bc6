"""Who is calling: API tokens for agents, supervisors, admins and editors; the service token; the admin token.

Tokens are random and stored only as SHA-256 digests, so a copy of Redis does not leak working credentials.
Issued tokens expire (90 days by default; a request with an expired one is a 401 "token expired"), and a
rotation hands out a new token while the old one keeps working for a short grace period.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError
from sanic.request import Request

from handoff import keys
from handoff.auth import bearer
from handoff.errors import BadRequest, Conflict, Forbidden, Unauthorized

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


DEFAULT_TTL_SECONDS = 90 * 86400.0  # issued tokens live 90 days (TokenStore(ttl_seconds=...) to change)
ROTATION_GRACE_SECONDS = 600.0  # after a rotation the old token keeps working this long
EXPIRED_KEPT_SECONDS = 86400.0  # expired tokens answer "token expired" for a day, then are deleted
ROTATE_ATTEMPTS = 5
_SET_EXPIRY = """
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('HSETNX', KEYS[1], 'expires_at', ARGV[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
"""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token_key(digest: str) -> str:
    return keys.api_token(digest)


def _user_tokens_key(user_id: str) -> str:
    return keys.user_tokens(user_id)


@dataclass(frozen=True)
class IssuedToken:
    """A token as it is handed out (the only time it is seen in clear), with whom it names and its expiry."""

    token: str
    principal: Principal
    expires_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.principal.user_id,
            "role": self.principal.role.value,
            "agent_id": self.principal.agent_id,
            "token": self.token,
            "expires_at": self.expires_at,
        }


NOT_VALID_MESSAGE = "the token is not valid (revoked, expired long ago or never issued)"


def stored_principal(fields: dict[str, str]) -> Principal:
    """Whom a stored token names; a damaged record is an invalid token, never a server error."""
    try:
        return Principal(fields["user_id"], Role(fields["role"]), fields.get("agent_id") or None)
    except (KeyError, ValueError):
        raise Unauthorized(NOT_VALID_MESSAGE) from None


def stored_expiry(fields: dict[str, str], ttl_seconds: float) -> float:
    """When a stored token expires. Tokens issued before tokens expired count from their creation."""
    try:
        if fields.get("expires_at"):
            expires_at = float(fields["expires_at"])
        else:
            expires_at = float(fields["created_at"]) + ttl_seconds
    except (KeyError, ValueError):
        raise Unauthorized(NOT_VALID_MESSAGE) from None
    if not 0 <= expires_at < 1e11:  # NaN and absurd values too: a damaged record
        raise Unauthorized(NOT_VALID_MESSAGE)
    return expires_at


def check_not_expired(fields: dict[str, str], expires_at: float, now: float) -> None:
    if now < expires_at:
        return
    when = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if fields.get("rotated_at"):
        raise Unauthorized(
            f"token expired at {when}: it was rotated and the grace period is over; use the new one"
        )
    raise Unauthorized(f"token expired at {when}; ask an admin for a new one")


def key_lifetime(expires_at: float, now: float) -> int:
    """Seconds the Redis record outlives now: until a little after expiry, so dead tokens disappear."""
    return max(1, math.ceil(expires_at + EXPIRED_KEPT_SECONDS - now))


class TokenStore:
    """API tokens in Redis: `hub:token:<sha256>` {user_id, role, agent_id?, created_at, expires_at,
    rotated_at?}, expiring a little after `expires_at`, and `hub:user:<id>:tokens` (the digests of a user's
    tokens, for revoking them all)."""

    def __init__(
        self,
        redis: Redis,
        service_token: str,
        admin_token: str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        rotation_grace_seconds: float = ROTATION_GRACE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_seconds <= 0 or rotation_grace_seconds < 0:
            raise ValueError("a token lifetime must be positive and a rotation grace not negative")
        # decode_responses=True: replies are str, which redis-py's stubs (bytes | str) cannot express.
        self._redis: Any = redis
        self._service = service_token.encode()
        self._admin = admin_token.encode()
        self.ttl_seconds = ttl_seconds
        self.rotation_grace_seconds = rotation_grace_seconds
        self._clock = clock

    def _configured(self, token: str) -> Principal | None:
        if self._service and hmac.compare_digest(token.encode(), self._service):
            return Principal("service", Role.SERVICE)
        if self._admin and hmac.compare_digest(token.encode(), self._admin):
            return Principal("admin", Role.ADMIN)
        return None

    async def authenticate(self, token: str) -> Principal:
        if not token:
            raise Unauthorized("a valid 'Authorization: Bearer <token>' header is required")
        configured = self._configured(token)
        if configured is not None:
            return configured
        key = _token_key(_digest(token))
        raw = await self._redis.hgetall(key)
        if not raw:
            raise Unauthorized(NOT_VALID_MESSAGE)
        who = stored_principal(raw)
        expires_at = stored_expiry(raw, self.ttl_seconds)
        now = self._clock()
        if "expires_at" not in raw:  # issued before tokens expired: give the record its expiry once
            await self._set_expiry(key, expires_at, now)
        check_not_expired(raw, expires_at, now)
        return who

    async def issue(self, user_id: str, role: Role, agent_id: str | None = None) -> str:
        """A new token for the user (the clear text; see `grant` for its expiry)."""
        return (await self.grant(user_id, role, agent_id)).token

    async def grant(self, user_id: str, role: Role, agent_id: str | None = None) -> IssuedToken:
        if not USER_ID.match(user_id):
            raise BadRequest("'user_id' must be 1-64 of a-z, 0-9, _ . @ -", field="user_id")
        if role is Role.SERVICE:
            raise BadRequest("service tokens come from the configuration, not the API", field="role")
        if role is Role.AGENT and not agent_id:
            raise BadRequest("an agent token needs 'agent_id'", field="agent_id")
        await self._forget_dead(user_id)
        now = self._clock()
        issued = self._new(Principal(user_id, role, agent_id or None), now)
        async with self._redis.pipeline(transaction=True) as pipe:
            self._store(pipe, issued, now)
            await pipe.execute()
        return issued

    async def rotate(self, token: str, grace_seconds: float | None = None) -> IssuedToken:
        """A new token for the same user, role and agent; the old one keeps working for the grace period
        (default ROTATION_GRACE_SECONDS, never longer than it had left) so running clients can switch.

        Watched, so a token revoked or rotated meanwhile is read again: revoking during a rotation cannot
        leave a new token behind."""
        grace = self.rotation_grace_seconds if grace_seconds is None else grace_seconds
        if not 0 <= grace < math.inf:  # NaN fails this too
            raise BadRequest("the grace period must be zero or more seconds", field="grace")
        if not token:
            raise Unauthorized("a valid 'Authorization: Bearer <token>' header is required")
        if self._configured(token) is not None:
            raise BadRequest("the service and admin tokens come from the configuration: change them there")
        key = _token_key(_digest(token))
        for _ in range(ROTATE_ATTEMPTS):
            async with self._redis.pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                raw = await pipe.hgetall(key)
                if not raw:
                    raise Unauthorized(NOT_VALID_MESSAGE)
                now = self._clock()
                who = stored_principal(raw)
                expires_at = stored_expiry(raw, self.ttl_seconds)
                check_not_expired(raw, expires_at, now)
                issued = self._new(who, now)
                old_expires = min(expires_at, now + grace)
                pipe.multi()
                self._store(pipe, issued, now)
                pipe.hset(key, mapping={"expires_at": repr(old_expires), "rotated_at": repr(now)})
                pipe.expire(key, key_lifetime(old_expires, now))
                try:
                    await pipe.execute()
                except WatchError:
                    continue
                return issued
        raise Conflict("token_busy", "the token changed during the rotation several times; try again")

    async def revoke_all(self, user_id: str) -> int:
        digests = await self._redis.smembers(_user_tokens_key(user_id))
        if digests:
            await self._redis.delete(*[_token_key(d) for d in digests], _user_tokens_key(user_id))
        return len(digests)

    def _new(self, who: Principal, now: float) -> IssuedToken:
        return IssuedToken(secrets.token_urlsafe(32), who, now + self.ttl_seconds)

    def _store(self, pipe: Any, issued: IssuedToken, now: float) -> None:
        who = issued.principal
        key = _token_key(_digest(issued.token))
        fields = {
            "user_id": who.user_id,
            "role": who.role.value,
            "created_at": f"{now:.0f}",
            "expires_at": repr(issued.expires_at),  # repr: read back exactly
        }
        if who.agent_id:
            fields["agent_id"] = who.agent_id
        pipe.hset(key, mapping=fields)
        pipe.expire(key, key_lifetime(issued.expires_at, now))
        pipe.sadd(_user_tokens_key(who.user_id), _digest(issued.token))

    async def _set_expiry(self, key: str, expires_at: float, now: float) -> None:
        # Atomic and only if still missing: a rotation or revocation in between must win.
        await self._redis.eval(_SET_EXPIRY, 1, key, repr(expires_at), key_lifetime(expires_at, now))

    async def _forget_dead(self, user_id: str) -> None:
        """Drop digests of tokens Redis has expired from the user's set, so it does not grow forever."""
        digests = sorted(await self._redis.smembers(_user_tokens_key(user_id)))
        if not digests:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.exists(_token_key(digest))
            alive = await pipe.execute()
        dead = [digest for digest, exists in zip(digests, alive, strict=True) if not exists]
        if dead:
            await self._redis.srem(_user_tokens_key(user_id), *dead)


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
