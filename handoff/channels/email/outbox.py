"""The email outbox in Redis, and the worker that delivers it over SMTP.

`enqueue` stores the whole message (headers and body as they will be sent) and schedules it in one script,
before it returns: a hub restart, a relay outage or a worker crash never loses an agent's reply. The
delivery worker (`deliver_due`) sends what is due with smtplib in a thread, one message at a time per
worker. Before sending, a worker takes the message's claim (SET NX with an expiry longer than an SMTP
exchange can take), so two workers never send it together; a worker that dies mid-send frees it when the
claim expires, which can send that one message twice (SMTP has no way to ask the relay whether it got it).

A temporary failure (a 4xx reply, a refused connection, a timeout, a dropped connection, rejected
credentials) is retried with exponential back-off and jitter up to `max_attempts`; a 5xx reply fails the
message at once. A failed message keeps its reason and stays listed for its ticket (`failed_for`) until
an agent retries it (`retry`): a reply is never dropped without someone seeing it.

Keys (all under "hub:email:"): the record hash per message, the due set (score: next attempt time), the
per-ticket index (score: created), the claim per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from handoff.channels.email.compose import Composed
from handoff.channels.email.settings import EmailSettings, SmtpSecurity

logger = logging.getLogger(__name__)

PREFIX = "hub:email"
SENT_RETENTION_SECONDS = 30 * 86400  # a sent message's status (not its body) stays this long
MAX_BACKOFF_SECONDS = 6 * 3600
MAX_REASON_CHARS = 500
BATCH = 50


def record_key(message_id: str) -> str:
    """Hash: the message as sent (`raw`), its recipient, ticket, status, attempts and last error."""
    return f"{PREFIX}:msg:{message_id}"


def due_key() -> str:
    """Sorted set of message ids waiting to be sent, scored by when the next attempt is due."""
    return f"{PREFIX}:due"


def ticket_key(ticket_id: str) -> str:
    """Sorted set of a ticket's message ids, scored by when each was queued."""
    return f"{PREFIX}:ticket:{ticket_id}"


def claim_key(message_id: str) -> str:
    """The worker sending this message now (SET NX EX): no other worker sends it meanwhile."""
    return f"{PREFIX}:claim:{message_id}"


class Status(StrEnum):
    QUEUED = "queued"  # waiting for its first attempt
    RETRYING = "retrying"  # a temporary failure; another attempt is due at `next_at`
    SENT = "sent"  # the relay accepted it (250)
    FAILED = "failed"  # refused (5xx) or out of attempts; `reason` says why


PENDING = (Status.QUEUED, Status.RETRYING)


@dataclass(frozen=True)
class EmailStatus:
    id: str
    ticket_id: str
    recipient: str
    subject: str
    status: Status
    attempts: int
    created_at: float
    updated_at: float
    next_at: float | None  # pending messages: when the next attempt is due
    sent_at: float | None
    reason: str  # the last failure, permanent or temporary ("" if none)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "status": self.status.value}


@dataclass(frozen=True)
class Failure:
    temporary: bool
    reason: str


class NotRetryable(ValueError):
    """Only a failed message can be queued again."""


# KEYS: record, due, ticket index; ARGV: id, now, field/value pairs. Nothing is written if the id exists,
# so a caller that derives the id from its own event can enqueue again safely.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
"""

# KEYS: record, due, claim; ARGV: claim token, id, next due ('' = leave the queue), ttl (0 = keep),
# fields to delete (space-separated, may be ''), field/value pairs. The claim is released only if it is
# still this worker's: after an expiry it belongs to whoever took it since.
_FINISH = """
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
if ARGV[5] ~= '' then
  for field in string.gmatch(ARGV[5], '%S+') do redis.call('HDEL', KEYS[1], field) end
end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
end
if tonumber(ARGV[4]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
"""

# KEYS: claim; ARGV: claim token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def classify(error: BaseException) -> Failure:
    """Whether an SMTP attempt's failure is worth another attempt, and its reason for the agent."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()), (0, b"recipient refused"))
        return Failure(temporary=code < 500, reason=_reason(code, text))
    if isinstance(error, smtplib.SMTPAuthenticationError | smtplib.SMTPConnectError):
        # Credentials and a relay refusing connections are the deployment's problems, not this message's:
        # retried, so that fixing them lets the queue drain.
        return Failure(temporary=True, reason=_reason(error.smtp_code, error.smtp_error))
    if isinstance(error, smtplib.SMTPResponseException):
        return Failure(temporary=error.smtp_code < 500, reason=_reason(error.smtp_code, error.smtp_error))
    if isinstance(error, TimeoutError):
        return Failure(temporary=True, reason="timed out")
    # Refused or dropped connections, TLS errors, a relay without STARTTLS: retried, as they may clear.
    return Failure(temporary=True, reason=_clip(f"{type(error).__name__}: {error}"))


def _reason(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return _clip(f"{code} {' '.join(message.split())}")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def backoff(attempts: int, base: float, rng: random.Random) -> float:
    """Seconds before the next attempt after `attempts` failed ones: base·2^(attempts-1), capped, then
    scaled by a random 50-100% so messages that failed together (a relay outage) do not retry together."""
    delay = min(MAX_BACKOFF_SECONDS, base * 2.0 ** min(attempts - 1, 30))
    return delay * rng.uniform(0.5, 1.0)


def send_over_smtp(settings: EmailSettings, sender: str, recipient: str, raw: bytes) -> None:
    """One SMTP exchange (blocking: run it in a thread); smtplib's exceptions and OSError reach the caller."""
    context = ssl.create_default_context()
    # The EHLO name: the reply domain is ours, and it spares socket.getfqdn()'s DNS lookups.
    helo = settings.reply_domain
    timeout = settings.timeout_seconds
    client: smtplib.SMTP
    if settings.security is SmtpSecurity.TLS:
        client = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, local_hostname=helo, timeout=timeout, context=context
        )
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, local_hostname=helo, timeout=timeout)
    try:
        client.ehlo()
        if settings.security is SmtpSecurity.STARTTLS:
            client.starttls(context=context)
            client.ehlo()
        if settings.username is not None and settings.password is not None:
            client.login(settings.username, settings.password)
        client.sendmail(sender, [recipient], raw)
    finally:
        # The message is accepted once DATA is answered with 250; a failed QUIT must not make it a failure
        # (and a second copy).
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        client.close()


Sender = Callable[[EmailSettings, str, str, bytes], None]


class Outbox:
    """Queue, deliver and report on outgoing email. RedisError reaches the caller."""

    def __init__(
        self,
        redis: Redis,
        settings: EmailSettings,
        send: Sender = send_over_smtp,
        rng: random.Random | None = None,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 200,
    ) -> None:
        # decode_responses=True: replies are str, which redis-py's stubs (bytes | str) cannot express.
        self._redis: Any = redis
        self.settings = settings
        self._send = send
        self._rng = rng or random.Random()  # noqa: S311 - spreading retries, not secrecy
        self._wait_replicas = wait_replicas
        self._wait_timeout_ms = wait_timeout_ms
        self._finish = redis.register_script(_FINISH)
        self._release = redis.register_script(_RELEASE)
        # Longer than any one exchange: connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA and QUIT each
        # have `timeout_seconds`, and a claim that expired mid-send would let a second worker send too.
        self.claim_seconds = int(settings.timeout_seconds * 10) + 30

    # -- queueing ------------------------------------------------------------------------------------

    async def enqueue(self, composed: Composed, now: float | None = None) -> bool:
        """Store the message and schedule it now; False if a message with this id is already queued."""
        raw = composed.message.as_bytes(policy=policy.SMTP)
        if not raw.isascii():
            raise ValueError("the message must be 7-bit (addresses in ASCII; the body is encoded)")
        now = time.time() if now is None else now
        fields = {
            "id": composed.message_id,
            "ticket_id": composed.ticket_id,
            "recipient": composed.recipient,
            "sender": self.settings.from_address,
            "subject": str(composed.message["Subject"]),
            "header_id": str(composed.message["Message-ID"]),
            "raw": raw.decode("ascii"),
            "status": Status.QUEUED.value,
            "attempts": "0",
            "created_at": repr(now),
            "updated_at": repr(now),
            "next_at": repr(now),
            "reason": "",
        }
        keys_ = [record_key(composed.message_id), due_key(), ticket_key(composed.ticket_id)]
        args = [composed.message_id, repr(now), *(x for pair in fields.items() for x in pair)]
        # One pipeline, EVAL then WAIT on the same connection: WAIT counts this connection's writes.
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.eval(_ENQUEUE, len(keys_), *keys_, *args)
            if self._wait_replicas:
                pipe.wait(self._wait_replicas, self._wait_timeout_ms)
            results = await pipe.execute()
        if self._wait_replicas and int(results[1]) < self._wait_replicas:
            logger.warning(
                "hub.email.unreplicated_enqueue",
                extra={"message_id": composed.message_id, "replicas": int(results[1])},
            )
        return bool(results[0])

    async def retry(self, message_id: str, now: float | None = None) -> None:
        """Queue a failed message again with a fresh count of attempts (an agent's "send again")."""
        now = time.time() if now is None else now
        status = await self._redis.hget(record_key(message_id), "status")
        if status is None:
            raise KeyError(message_id)
        if status != Status.FAILED:
            raise NotRetryable(f"message {message_id} is {status}, not failed")
        fields = {
            "status": Status.QUEUED.value,
            "attempts": "0",
            "next_at": repr(now),
            "updated_at": repr(now),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(record_key(message_id), mapping=fields)
            pipe.zadd(due_key(), {message_id: now})
            await pipe.execute()

    # -- delivering ----------------------------------------------------------------------------------

    async def deliver_due(self, now: float | None = None, limit: int = BATCH) -> dict[str, Status]:
        """Attempt every message due by `now` (up to `limit`) that no other worker holds; each one's new
        status. Back-off is counted from `now`."""
        now = time.time() if now is None else now
        due = await self._redis.zrange(due_key(), "-inf", now, byscore=True, offset=0, num=limit)
        outcomes: dict[str, Status] = {}
        for message_id in due:
            outcome = await self._deliver_one(message_id, now)
            if outcome is not None:
                outcomes[message_id] = outcome
        return outcomes

    async def _deliver_one(self, message_id: str, now: float) -> Status | None:
        claim = uuid.uuid4().hex
        if not await self._redis.set(claim_key(message_id), claim, nx=True, ex=self.claim_seconds):
            return None
        # Re-read under the claim: another worker may have sent it between our ZRANGE and our claim.
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(record_key(message_id), "status", "attempts", "sender", "recipient", "raw")
            pipe.zscore(due_key(), message_id)
            (status, attempts, sender, recipient, raw), score = await pipe.execute()
        if status not in PENDING or score is None or float(score) > now or raw is None:
            if status is None:  # a due entry whose record is gone: nothing to send
                await self._redis.zrem(due_key(), message_id)
            await self._release(keys=[claim_key(message_id)], args=[claim])
            return None
        # From here on an unexpected error (Redis away, cancellation while the thread still sends) leaves
        # the claim to expire: a second copy later rather than a second copy now.
        attempt = int(attempts) + 1
        try:
            await asyncio.to_thread(self._send, self.settings, sender, recipient, raw.encode("ascii"))
        except Exception as error:
            return await self._failed(message_id, claim, attempt, classify(error), now)
        sent = {"status": Status.SENT.value, "attempts": str(attempt), "sent_at": repr(now), "reason": ""}
        await self._record(message_id, claim, now, sent, ttl=SENT_RETENTION_SECONDS, drop=("raw",))
        logger.info("hub.email.sent", extra={"message_id": message_id, "attempts": attempt})
        return Status.SENT

    async def _failed(
        self, message_id: str, claim: str, attempt: int, failure: Failure, now: float
    ) -> Status:
        if failure.temporary and attempt < self.settings.max_attempts:
            next_at = now + backoff(attempt, self.settings.retry_base_seconds, self._rng)
            retrying = {
                "status": Status.RETRYING.value,
                "attempts": str(attempt),
                "next_at": repr(next_at),
                "reason": failure.reason,
            }
            await self._record(message_id, claim, now, retrying, due_at=next_at)
            logger.warning(
                "hub.email.retrying",
                extra={"message_id": message_id, "attempts": attempt, "reason": failure.reason},
            )
            return Status.RETRYING
        reason = failure.reason
        if failure.temporary:
            reason = f"gave up after {attempt} attempts: {reason}"
        failed = {"status": Status.FAILED.value, "attempts": str(attempt), "reason": reason}
        await self._record(message_id, claim, now, failed)
        logger.error(
            "hub.email.failed", extra={"message_id": message_id, "attempts": attempt, "reason": reason}
        )
        return Status.FAILED

    async def _record(
        self,
        message_id: str,
        claim: str,
        now: float,
        fields: dict[str, str],
        due_at: float | None = None,
        ttl: int = 0,
        drop: tuple[str, ...] = (),
    ) -> None:
        """The attempt's outcome: `fields` set, the message due again at `due_at` (None: out of the queue),
        the record kept `ttl` seconds (0: for good), the `drop` fields removed, the claim released."""
        args: list[str | int] = [
            claim,
            message_id,
            "" if due_at is None else repr(due_at),
            ttl,
            " ".join(drop),
        ]
        args += [x for pair in {**fields, "updated_at": repr(now)}.items() for x in pair]
        await self._finish(keys=[record_key(message_id), due_key(), claim_key(message_id)], args=args)

    # -- reporting -----------------------------------------------------------------------------------

    async def status(self, message_id: str) -> EmailStatus | None:
        fields = await self._redis.hgetall(record_key(message_id))
        return _status(fields) if fields else None

    async def messages_for(self, ticket_id: str, limit: int = 200) -> list[EmailStatus]:
        """The ticket's emails still on record, oldest first."""
        ids = await self._redis.zrange(ticket_key(ticket_id), -limit, -1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for message_id in ids:
                pipe.hgetall(record_key(message_id))
            records = await pipe.execute()
        return [_status(fields) for fields in records if fields]

    async def failed_for(self, ticket_id: str) -> list[EmailStatus]:
        """The ticket's emails that could not be delivered, for the agent to see and act on."""
        return [s for s in await self.messages_for(ticket_id) if s.status is Status.FAILED]


def _status(fields: dict[str, str]) -> EmailStatus:
    status = Status(fields["status"])
    return EmailStatus(
        id=fields["id"],
        ticket_id=fields["ticket_id"],
        recipient=fields["recipient"],
        subject=fields.get("subject", ""),
        status=status,
        attempts=int(fields.get("attempts", "0")),
        created_at=float(fields["created_at"]),
        updated_at=float(fields["updated_at"]),
        next_at=float(fields["next_at"]) if status in PENDING and fields.get("next_at") else None,
        sent_at=float(fields["sent_at"]) if fields.get("sent_at") else None,
        reason=fields.get("reason", ""),
    )


async def deliver_forever(outbox: Outbox, interval: float, stopping: asyncio.Event) -> None:
    """The delivery worker of one hub process: `deliver_due` every `interval` seconds until `stopping`; a
    failed round (Redis away) is logged and the next one runs on time."""
    while not stopping.is_set():
        try:
            await outbox.deliver_due()
        except Exception:
            if not stopping.is_set():
                logger.exception("hub.email.delivery_round_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)
