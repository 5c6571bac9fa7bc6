"""Signed reply addresses: they round-trip in any case, and an altered or foreign token is refused."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff.channels.email.tokens import LOCAL_PREFIX, MAX_TICKET_ID_BYTES, ReplyTokens, TokenError

SECRET = "reply-token-secret-0123456789"
tokens = ReplyTokens(SECRET, "Reply.Shop.Example")


def test_address_shape() -> None:
    address = tokens.address("T-000042")
    local, _, domain = address.partition("@")
    assert domain == "reply.shop.example"
    assert local.startswith(LOCAL_PREFIX)
    assert local == local.lower() and len(local) <= 64
    assert set(local[len(LOCAL_PREFIX) :]) <= set("abcdefghijklmnopqrstuvwxyz234567-")


def test_round_trip_in_any_case() -> None:
    token = tokens.token("T-000042")
    assert tokens.verify(token) == "T-000042"
    assert tokens.verify(token.upper()) == "T-000042"
    assert tokens.verify(f"  {token.swapcase()} ") == "T-000042"


def test_token_is_stable_and_differs_per_ticket() -> None:
    assert tokens.token("T-000042") == tokens.token("T-000042")
    assert tokens.token("T-000042") != tokens.token("T-000043")


def test_the_longest_ticket_id_fits_in_a_local_part() -> None:
    local = tokens.address("T-" + "9" * (MAX_TICKET_ID_BYTES - 2)).partition("@")[0]
    assert len(local) <= 64
    with pytest.raises(ValueError, match="ticket_id"):
        tokens.token("T-" + "9" * MAX_TICKET_ID_BYTES)
    with pytest.raises(ValueError, match="ticket_id"):
        tokens.token("")


def test_another_secret_does_not_verify() -> None:
    other = ReplyTokens("another-secret-0123456789", "reply.shop.example")
    with pytest.raises(TokenError, match="signature"):
        other.verify(tokens.token("T-000042"))


def test_swapping_the_ticket_keeps_no_signature_valid() -> None:
    """Someone who got a reply address for their own ticket cannot write into another one."""
    mine = tokens.token("T-000042")
    other_id = base64.b32encode(b"T-000041").decode().rstrip("=").lower()
    forged = other_id + mine[mine.index("-") :]
    with pytest.raises(TokenError):
        tokens.verify(forged)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "-",
        "abc",
        "kqwtambqga2de-",
        "-6jtalhtdng3f2xt6",
        "kqwtambqga2de-6jtalhtdng3f2xt",
        "!!!-6jtalhtdng3f2xt6",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        tokens.verify(token)


@given(st.integers(min_value=0, max_value=200), st.sampled_from("abcdefghijklmnopqrstuvwxyz234567"))
def test_any_one_character_changed_is_refused(position: int, replacement: str) -> None:
    token = tokens.token("T-000042")
    i = position % len(token)
    if token[i] == "-" or token[i] == replacement:
        return
    with pytest.raises(TokenError):
        tokens.verify(token[:i] + replacement + token[i + 1 :])


@pytest.mark.parametrize(
    ("address", "found"),
    [
        ("reply+abc@reply.shop.example", "abc"),
        ("REPLY+ABC@REPLY.SHOP.EXAMPLE", "abc"),
        ("reply+abc@reply.shop.example.", "abc"),
        ("reply+@reply.shop.example", None),
        ("replies+abc@reply.shop.example", None),
        ("reply+abc@shop.example", None),
        ("reply+abc@evil.example", None),
        ("support@shop.example", None),
        ("no-at-sign", None),
    ],
)
def test_token_in_address(address: str, found: str | None) -> None:
    assert tokens.token_in(address) == found


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        ReplyTokens("short", "reply.shop.example")
