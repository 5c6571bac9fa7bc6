"""API tokens expire, rotate with a grace period and are revoked, against a real redis-server: the stored
expiry and the Redis TTL, the 401 "token expired" through the HTTP API, rotation from the command line,
tokens issued before expiry existed, and damaged records."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from redis.asyncio import Redis

from handoff import cli
from handoff.errors import BadRequest, Unauthorized
from handoff.identity import EXPIRED_KEPT_SECONDS, IssuedToken, Principal, Role, TokenStore
from tests.integration.api_helpers import flushed_database
from tests.integration.conftest import ADMIN, SERVICE, rasa_stand_in

pytestmark = pytest.mark.integration

REDIS_DB = 13  # this module flushes its own database before each test
DAY = 86400.0


class Clock:
    """Real time that a test can move forward."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def record_key(token: str) -> str:
    return f"hub:token:{hashlib.sha256(token.encode()).hexdigest()}"


@pytest.fixture
def db_url(redis_url: str) -> str:
    return flushed_database(redis_url, REDIS_DB)


@pytest.fixture
def sync_redis(db_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(db_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[Redis]:
    connection = Redis.from_url(db_url, decode_responses=True)
    yield connection
    await connection.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(client: Redis, clock: Clock) -> TokenStore:
    return TokenStore(client, SERVICE, ADMIN, ttl_seconds=30 * DAY, rotation_grace_seconds=600, clock=clock)


async def test_an_issued_token_expires_after_its_lifetime(
    store: TokenStore, clock: Clock, sync_redis
) -> None:
    issued = await store.grant("ana", Role.AGENT, "ana")
    assert issued.expires_at == pytest.approx(clock.now + 30 * DAY)
    assert float(sync_redis.hget(record_key(issued.token), "expires_at")) == pytest.approx(issued.expires_at)
    # Redis forgets the record a day after expiry, so dead tokens disappear by themselves
    assert 30 * DAY + EXPIRED_KEPT_SECONDS - 5 <= sync_redis.ttl(record_key(issued.token)) <= 31 * DAY

    clock.now += 30 * DAY - 1
    assert await store.authenticate(issued.token) == Principal("ana", Role.AGENT, "ana")
    clock.now += 1
    with pytest.raises(Unauthorized, match=r"token expired at .*ask an admin"):
        await store.authenticate(issued.token)


async def test_issue_keeps_its_shape_and_uses_the_store_lifetime(client: Redis, clock: Clock) -> None:
    short = TokenStore(client, SERVICE, ADMIN, ttl_seconds=60, clock=clock)
    token = await short.issue("sam", Role.SUPERVISOR)
    assert isinstance(token, str)
    clock.now += 61
    with pytest.raises(Unauthorized, match="token expired"):
        await short.authenticate(token)
    with pytest.raises(ValueError):
        TokenStore(client, SERVICE, ADMIN, ttl_seconds=0)


async def test_rotation_gives_the_same_identity_and_the_old_token_a_grace_period(
    store: TokenStore, clock: Clock, sync_redis
) -> None:
    old = await store.grant("ana", Role.AGENT, "ana")
    clock.now += 5 * DAY
    new = await store.rotate(old.token)
    assert new.token != old.token
    assert new.principal == old.principal == Principal("ana", Role.AGENT, "ana")
    assert new.expires_at == pytest.approx(clock.now + 30 * DAY)  # a full lifetime from the rotation
    assert sync_redis.ttl(record_key(old.token)) <= 600 + EXPIRED_KEPT_SECONDS

    clock.now += 599
    assert await store.authenticate(old.token) == old.principal  # running clients can still switch
    clock.now += 1
    with pytest.raises(Unauthorized, match=r"token expired at .*rotated"):
        await store.authenticate(old.token)
    assert await store.authenticate(new.token) == old.principal


async def test_the_grace_period_never_lengthens_a_tokens_life(store: TokenStore, clock: Clock) -> None:
    old = await store.grant("sam", Role.SUPERVISOR)
    clock.now += 30 * DAY - 60  # a minute left
    await store.rotate(old.token, grace_seconds=3600)
    clock.now += 60
    with pytest.raises(Unauthorized, match="token expired"):
        await store.authenticate(old.token)


async def test_what_cannot_be_rotated(store: TokenStore, clock: Clock) -> None:
    issued = await store.grant("sam", Role.SUPERVISOR)
    for configured in (SERVICE, ADMIN):
        with pytest.raises(BadRequest, match="configuration"):
            await store.rotate(configured)
    with pytest.raises(BadRequest, match="grace"):
        await store.rotate(issued.token, grace_seconds=-1)
    with pytest.raises(BadRequest, match="grace"):
        await store.rotate(issued.token, grace_seconds=float("nan"))
    with pytest.raises(Unauthorized, match="not valid"):
        await store.rotate("never-issued")
    clock.now += 30 * DAY
    with pytest.raises(Unauthorized, match="token expired"):
        await store.rotate(issued.token)


async def test_revoking_ends_old_and_rotated_tokens_alike(store: TokenStore, sync_redis) -> None:
    old = await store.grant("ben", Role.AGENT, "ben")
    new = await store.rotate(old.token)
    other = await store.grant("sam", Role.SUPERVISOR)
    assert await store.revoke_all("ben") == 2
    for token in (old.token, new.token):
        with pytest.raises(Unauthorized, match="not valid"):
            await store.authenticate(token)
    assert await store.authenticate(other.token) == Principal("sam", Role.SUPERVISOR)
    assert not sync_redis.exists("hub:user:ben:tokens")


async def test_a_revocation_during_a_rotation_leaves_no_new_token(
    client: Redis, clock: Clock, sync_redis
) -> None:
    class RevokedMidway(TokenStore):
        """Revokes the user's tokens from another connection after the rotation has read the old one."""

        def _new(self, who: Principal, now: float) -> IssuedToken:
            for digest in sync_redis.smembers("hub:user:ana:tokens"):
                sync_redis.delete(f"hub:token:{digest}")
            return super()._new(who, now)

    store = RevokedMidway(client, SERVICE, ADMIN, clock=clock)
    old = await store.grant("ana", Role.AGENT, "ana")
    with pytest.raises(Unauthorized, match="not valid"):
        await store.rotate(old.token)
    assert sync_redis.keys("hub:token:*") == []


async def test_tokens_from_before_expiry_count_from_their_creation(
    store: TokenStore, clock: Clock, sync_redis
) -> None:
    fresh, stale = "legacy-token-fresh", "legacy-token-stale"
    sync_redis.hset(record_key(fresh), mapping={"user_id": "sam", "role": "supervisor",
                                                "created_at": f"{clock.now - DAY:.0f}"})  # fmt: skip
    sync_redis.hset(record_key(stale), mapping={"user_id": "sam", "role": "supervisor",
                                                "created_at": f"{clock.now - 31 * DAY:.0f}"})  # fmt: skip
    assert sync_redis.ttl(record_key(fresh)) == -1  # no expiry yet
    assert await store.authenticate(fresh) == Principal("sam", Role.SUPERVISOR)
    assert float(sync_redis.hget(record_key(fresh), "expires_at")) == pytest.approx(
        clock.now + 29 * DAY, abs=1
    )
    assert 29 * DAY <= sync_redis.ttl(record_key(fresh)) <= 29 * DAY + EXPIRED_KEPT_SECONDS + 1
    with pytest.raises(Unauthorized, match="token expired"):
        await store.authenticate(stale)
    assert 0 < sync_redis.ttl(record_key(stale)) <= EXPIRED_KEPT_SECONDS  # and it goes away


@pytest.mark.parametrize(
    "fields",
    [
        {"user_id": "sam", "role": "emperor", "created_at": "1"},
        {"user_id": "sam", "role": "supervisor", "expires_at": "nan"},
        {"user_id": "sam", "role": "supervisor", "expires_at": "soon"},
        {"user_id": "sam", "role": "supervisor", "expires_at": "1e300"},
        {"role": "supervisor", "expires_at": "9999999999"},
    ],
)
async def test_a_damaged_record_is_an_invalid_token_not_a_crash(
    store: TokenStore, sync_redis, fields: dict[str, str]
) -> None:
    sync_redis.hset(record_key("damaged"), mapping=fields)
    with pytest.raises(Unauthorized, match="not valid"):
        await store.authenticate("damaged")


async def test_issuing_forgets_tokens_redis_has_dropped(store: TokenStore, sync_redis) -> None:
    first = await store.grant("sam", Role.SUPERVISOR)
    sync_redis.delete(record_key(first.token))  # as Redis does a day after expiry
    second = await store.grant("sam", Role.SUPERVISOR)
    digest = hashlib.sha256(second.token.encode()).hexdigest()
    assert sync_redis.smembers("hub:user:sam:tokens") == {digest}


def test_an_expired_token_is_a_401_saying_so(make_app, sync_redis, db_url: str) -> None:
    app = make_app(rasa_stand_in([]), REDIS_URL=db_url)
    _, issued = app.test_client.post(
        "/api/tokens",
        json={"role": "supervisor", "user_id": "sam"},
        headers={"authorization": f"Bearer {ADMIN}"},
    )
    assert issued.status == 201
    auth = {"authorization": f"Bearer {issued.json['token']}"}
    _, before = app.test_client.get("/api/routing/weights", headers=auth)
    assert before.status == 200
    sync_redis.hset(record_key(issued.json["token"]), "expires_at", f"{time.time() - 1:.3f}")
    _, after = app.test_client.get("/api/routing/weights", headers=auth)
    assert after.status == 401
    assert after.json["error"] == "unauthorized" and "token expired" in after.json["message"]


def test_the_command_line_rotates_a_token(
    db_url: str, sync_redis, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = "cli-old-token"
    expires = time.time() + 10 * DAY
    sync_redis.hset(record_key(old), mapping={"user_id": "ana", "role": "agent", "agent_id": "ana",
                                              "created_at": "1", "expires_at": f"{expires:.3f}"})  # fmt: skip
    monkeypatch.setenv("REDIS_URL", db_url)
    monkeypatch.setenv("HUB_TOKEN", old)
    assert cli.main(["token", "rotate", "--grace-minutes", "5"]) == 0
    out = capsys.readouterr()
    new = out.out.strip()
    assert "agent token for 'ana'" in out.err and "5 more minutes" in out.err
    record = sync_redis.hgetall(record_key(new))
    assert (record["user_id"], record["role"], record["agent_id"]) == ("ana", "agent", "ana")
    assert float(sync_redis.hget(record_key(old), "expires_at")) == pytest.approx(time.time() + 300, abs=5)

    monkeypatch.setenv("HUB_TOKEN", "not-a-token")
    assert cli.main(["token", "rotate"]) == 2
    assert "not valid" in capsys.readouterr().err
    assert cli.main(["token", "revoke", "ana"]) == 0
    assert "revoked 1 token(s) of 'ana'" in capsys.readouterr().out  # the new one; the old was never listed
    assert not sync_redis.exists(record_key(new))
