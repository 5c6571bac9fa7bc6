"""People who sign in to the console: users with argon2id password hashes, cookie sessions, CSRF tokens.

API clients keep using bearer tokens (handoff.identity). A browser session is a random cookie value whose
SHA-256 digest keys the session in Redis, so a copy of Redis holds no working session; each session has
its own CSRF token that the page sends back in a header on every state-changing request.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from redis.asyncio import Redis

from handoff import keys
from handoff.errors import BadRequest, NotFoundError, TooManyRequests, Unauthorized
from handoff.identity import USER_ID, Principal, Role

SESSION_COOKIE = "hub_session"
SESSION_IDLE_SECONDS = 12 * 3600
MIN_PASSWORD = 10
MAX_PASSWORD = 256  # argon2 accepts more, but nobody types it and it bounds the hashing work
LOGIN_FAILURES = 5
LOGIN_WINDOW = 300
LANGUAGES = ("en", "zh")
HUMAN_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN, Role.EDITOR)
_BAD_LOGIN = "unknown user id or wrong password"

_hasher = PasswordHasher()  # argon2id with the library's current defaults (RFC 9106 low-memory profile)
# Verified when the user does not exist, so a wrong user id costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    role: Role
    agent_id: str | None
    language: str

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "role": self.role.value}


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str

    @property
    def principal(self) -> Principal:
        return Principal(self.user.user_id, self.user.role, self.user.agent_id)

    def as_dict(self) -> dict[str, Any]:
        return {**self.user.as_dict(), "csrf_token": self.csrf_token}


def check_password(password: Any) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadRequest(f"'password' must be {MIN_PASSWORD}-{MAX_PASSWORD} characters", field="password")
    return password


class Accounts:
    def __init__(self, redis: Redis, clock: Any = time.time) -> None:
        # decode_responses=True: replies are str, which redis-py's stubs (bytes | str) cannot express.
        self._redis: Any = redis
        self._clock = clock
        # Each hash takes ~64 MiB and tens of milliseconds of a core: at most two at a time per worker, so
        # a burst of sign-ins queues instead of starving the worker's other requests.
        self._hashing = asyncio.Semaphore(2)

    # -- users ---------------------------------------------------------------------------------------

    async def create_user(
        self,
        user_id: str,
        password: str,
        role: Role,
        name: str | None = None,
        agent_id: str | None = None,
        language: str = "en",
    ) -> User:
        if not isinstance(user_id, str) or not USER_ID.match(user_id):
            raise BadRequest("'id' must be 1-64 of a-z, 0-9, _ . @ -", field="id")
        if role not in HUMAN_ROLES:
            raise BadRequest("'role' must be agent, supervisor, admin or editor", field="role")
        if role is Role.AGENT:
            if not agent_id:
                raise BadRequest("an agent user needs 'agent_id'", field="agent_id")
            if not await self._redis.exists(keys.agent(agent_id)):
                raise BadRequest(f"no routing agent '{agent_id}'; create it first", field="agent_id")
        if language not in LANGUAGES:
            raise BadRequest("'language' must be en or zh", field="language")
        display = (name or user_id).strip()[:80] or user_id
        hashed = await self._hash(check_password(password))
        fields = {
            "name": display,
            "role": role.value,
            "agent_id": agent_id or "",
            "language": language,
            "password_hash": hashed,
            "created_at": f"{self._clock():.0f}",
        }
        # HSETNX on the hash decides creation, so two admins cannot both create the same user.
        if not await self._redis.hsetnx(keys.user(user_id), "role", role.value):
            raise BadRequest(f"user '{user_id}' already exists", field="id")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.user(user_id), mapping=fields)
            pipe.sadd(keys.users(), user_id)
            await pipe.execute()
        return User(user_id, display, role, agent_id or None, language)

    async def get_user(self, user_id: str) -> User:
        raw = await self._redis.hgetall(keys.user(user_id)) if USER_ID.match(user_id) else {}
        if not raw or "password_hash" not in raw:
            raise NotFoundError("unknown_user", f"no user '{user_id}'")
        return _user(user_id, raw)

    async def users(self) -> list[User]:
        ids = sorted(await self._redis.smembers(keys.users()))
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in ids:
                pipe.hgetall(keys.user(user_id))
            rows = await pipe.execute()
        return [_user(uid, raw) for uid, raw in zip(ids, rows, strict=True) if raw]

    async def set_password(self, user_id: str, password: str) -> None:
        """New password; every session of the user ends."""
        await self.get_user(user_id)
        hashed = await self._hash(check_password(password))
        await self._redis.hset(keys.user(user_id), "password_hash", hashed)
        await self.end_sessions(user_id)

    async def verify_password(self, user_id: str, password: str) -> bool:
        """Throttled per user id like sign-in, so a stolen session cannot guess the current password."""
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            return False
        await self._count_attempt(user_id)
        stored = await self._redis.hget(keys.user(user_id), "password_hash")
        async with self._hashing:
            ok = await asyncio.to_thread(_verify, stored or _DUMMY_HASH, password) and stored is not None
        if ok:
            await self._redis.delete(_throttle_key(user_id))
        return ok

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(_hasher.hash, password)

    async def _count_attempt(self, user_id: str) -> None:
        """Counted before the hash is checked, so parallel guesses cannot all slip in under the limit."""
        key = _throttle_key(user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=LOGIN_WINDOW, nx=True)  # the window opens at the first attempt
            pipe.incr(key)
            pipe.ttl(key)
            _, attempts, ttl = await pipe.execute()
        if int(attempts) > LOGIN_FAILURES:
            raise TooManyRequests("too many failed sign-ins for this user; try again later", max(1, int(ttl)))

    # -- sessions ------------------------------------------------------------------------------------

    async def login(self, user_id: Any, password: Any) -> tuple[str, Session]:
        """A new session for correct credentials; throttled per user id against password guessing."""
        if not isinstance(user_id, str) or not isinstance(password, str):
            raise BadRequest("'user_id' and 'password' are required strings")
        user_id = user_id.strip().lower()
        valid = len(password) <= MAX_PASSWORD and USER_ID.match(user_id) is not None
        if not (valid and await self.verify_password(user_id, password)):
            raise Unauthorized(_BAD_LOGIN)
        user = await self.get_user(user_id)
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        key = keys.session(_digest(token))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"user_id": user_id, "csrf": csrf, "created_at": f"{self._clock():.0f}"})
            pipe.expire(key, SESSION_IDLE_SECONDS)
            pipe.sadd(keys.user_sessions(user_id), _digest(token))
            await pipe.execute()
        await self._forget_expired_sessions(user_id)
        return token, Session(user, csrf)

    async def _forget_expired_sessions(self, user_id: str) -> None:
        """Sessions that idled out leave their digest in the user's set: drop those, so the set holds only
        live sessions however often the user signs in."""
        index = keys.user_sessions(user_id)
        digests = list(await self._redis.smembers(index))
        async with self._redis.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.exists(keys.session(digest))
            alive = await pipe.execute()
        expired = [d for d, live in zip(digests, alive, strict=True) if not live]
        if expired:
            await self._redis.srem(index, *expired)

    async def session(self, token: str) -> Session:
        """The live session for a cookie value; each use extends it (sliding idle timeout)."""
        key = keys.session(_digest(token))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(key)
            pipe.expire(key, SESSION_IDLE_SECONDS)  # a no-op on a missing key
            raw, _ = await pipe.execute()
        if not raw:
            raise Unauthorized("your session has ended; sign in again")
        try:
            user = await self.get_user(raw["user_id"])
        except NotFoundError:
            raise Unauthorized("your session has ended; sign in again") from None
        return Session(user, raw["csrf"])

    async def alive(self, token: str) -> bool:
        return bool(await self._redis.exists(keys.session(_digest(token))))

    async def logout(self, token: str) -> None:
        key = keys.session(_digest(token))
        user_id = await self._redis.hget(key, "user_id")
        await self._redis.delete(key)
        if user_id:
            await self._redis.srem(keys.user_sessions(user_id), _digest(token))

    async def end_sessions(self, user_id: str) -> int:
        digests = await self._redis.smembers(keys.user_sessions(user_id))
        if digests:
            await self._redis.delete(*[keys.session(d) for d in digests], keys.user_sessions(user_id))
        return len(digests)


def _throttle_key(user_id: str) -> str:
    return keys.login_failures(_digest(user_id))


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _user(user_id: str, raw: dict[str, str]) -> User:
    return User(
        user_id,
        raw.get("name") or user_id,
        Role(raw["role"]),
        raw.get("agent_id") or None,
        raw.get("language") or "en",
    )
