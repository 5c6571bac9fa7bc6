"""Order webhook signatures: HMAC-SHA256 over "<t>.<body>", a five-minute window, clear reasons."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from common.webhook_signature import SignatureError, sign, verify

SECRET = "order-webhook-secret-0123"
BODY = b'{"event_id": "evt_1"}'
T = 1_900_000_000


def test_a_signed_body_verifies_and_returns_its_timestamp() -> None:
    assert verify(SECRET, sign(SECRET, BODY, T), BODY, now=T + 10) == T


def test_the_signature_is_the_documented_hmac() -> None:
    digest = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, T) == f"t={T},v1={digest}"


def reason(header: str | None, body: bytes = BODY, now: float = T, secret: str = SECRET) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(secret, header, body, now)
    return caught.value.reason


def test_a_changed_body_or_another_secret_does_not_verify() -> None:
    header = sign(SECRET, BODY, T)
    assert reason(header, body=BODY + b" ") == "mismatch"
    assert reason(header, secret="another-secret") == "mismatch"


def test_a_changed_timestamp_does_not_verify() -> None:
    # the timestamp is signed: moving it forward to pass the window breaks the signature
    digest = sign(SECRET, BODY, T).split("v1=")[1]
    assert reason(f"t={T + 1000},v1={digest}", now=T + 1000) == "mismatch"


def test_only_five_minutes_either_way_are_accepted() -> None:
    header = sign(SECRET, BODY, T)
    assert verify(SECRET, header, BODY, now=T + 300) == T
    assert verify(SECRET, header, BODY, now=T - 300) == T
    assert reason(header, now=T + 301) == "stale"
    assert reason(header, now=T - 301) == "stale"


def test_a_missing_header_is_refused() -> None:
    assert reason(None) == "missing"
    assert reason("") == "missing"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"v1={'0' * 64}",  # no timestamp
        f"t=abc,v1={'0' * 64}",
        f"t=-5,v1={'0' * 64}",
        f"t={T},t={T},v1={'0' * 64}",
        f"t={T}",  # no signature
        f"t={T},v1=xyz",
        f"t={T},v1={'0' * 63}",
        f"t=١٢٣,v1={'0' * 64}",  # non-ASCII digits
        f"t={T}," + ",".join(f"v1={'0' * 64}" for _ in range(20)),  # longer than the header limit
    ],
)
def test_a_malformed_header_is_refused(header: str) -> None:
    assert reason(header) == "malformed"


def test_any_of_several_signatures_may_match_while_the_secret_rotates() -> None:
    old = sign("old-secret-0123456", BODY, T).split("v1=")[1]
    new = sign(SECRET, BODY, T).split("v1=")[1]
    assert verify(SECRET, f"t={T},v1={old},v1={new}", BODY, now=T) == T
    assert verify(SECRET, f"t={T}, v0=ignored, v1={new.upper()}", BODY, now=T) == T


def test_an_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        sign("", BODY, T)
    with pytest.raises(ValueError, match="secret"):
        verify(b"", f"t={T},v1={'0' * 64}", BODY, now=T)
