"""Which SMTP failures are retried, and the back-off between attempts (delivery itself is tested against a
real SMTP server in tests/integration/test_email_delivery.py)."""

from __future__ import annotations

import random
import smtplib

import pytest

from handoff.channels.email.outbox import MAX_BACKOFF_SECONDS, MAX_REASON_CHARS, backoff, classify


@pytest.mark.parametrize(
    ("error", "temporary", "reason"),
    [
        (smtplib.SMTPDataError(451, b"4.3.0 Try again later"), True, "451 4.3.0 Try again later"),
        (smtplib.SMTPDataError(554, b"5.7.1 Message rejected as spam"), False, "554 5.7.1 Message rejected"),
        (smtplib.SMTPSenderRefused(550, b"5.7.1 Sender not allowed", "s@shop.example"), False, "550 5.7.1"),
        (smtplib.SMTPRecipientsRefused({"a@x.example": (550, b"5.1.1 No such user")}), False, "550 5.1.1"),
        (smtplib.SMTPRecipientsRefused({"a@x.example": (452, b"4.2.2 Mailbox full")}), True, "452 4.2.2"),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 Bad credentials"), True, "535 5.7.8"),
        (smtplib.SMTPConnectError(554, b"No SMTP service here"), True, "554 No SMTP service"),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True, "SMTPServerDisconnected"),
        (smtplib.SMTPNotSupportedError("STARTTLS extension not supported"), True, "STARTTLS"),
        (ConnectionRefusedError(111, "Connection refused"), True, "Connection refused"),
        (TimeoutError("timed out"), True, "timed out"),
    ],
)
def test_classify(error: BaseException, temporary: bool, reason: str) -> None:
    failure = classify(error)
    assert failure.temporary is temporary
    assert reason in failure.reason


def test_reason_is_one_bounded_line() -> None:
    failure = classify(smtplib.SMTPDataError(550, b"5.7.1 first line\r\n550-5.7.1 " + b"x" * 2000))
    assert "\n" not in failure.reason and len(failure.reason) == MAX_REASON_CHARS


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    for attempts in range(1, 8):
        delays = [backoff(attempts, 30.0, rng) for _ in range(200)]
        full = 30.0 * 2 ** (attempts - 1)
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 4  # spread, not one value
    assert backoff(40, 30.0, rng) <= MAX_BACKOFF_SECONDS
