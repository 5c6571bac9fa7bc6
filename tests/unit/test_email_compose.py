"""Agents' replies as emails: headers for threading and replying, the customer's language, Chinese text
that survives encoding, and header values that could add headers refused."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from handoff.channels.email.compose import (
    MAX_REFERENCES,
    MAX_SUBJECT_CHARS,
    Draft,
    HeaderInjection,
    compose,
)
from handoff.channels.email.tokens import ReplyTokens

SENDER = "Shop Support <support@shop.example>"
tokens = ReplyTokens("reply-token-secret-0123456789", "reply.shop.example")
NOW = 1_900_000_000.0


def draft(**overrides: object) -> Draft:
    fields: dict[str, object] = {
        "ticket_id": "T-000042",
        "to": "ana@example.com",
        "text": "Your parcel left our warehouse today.",
        "ticket_subject": "Where is my order 12345?",
        "customer_name": "Ana Silva",
    }
    return Draft(**{**fields, **overrides})  # type: ignore[arg-type]


def sent(d: Draft, **kwargs: object) -> EmailMessage:
    """The message as the relay receives it, parsed back."""
    composed = compose(d, SENDER, tokens, now=NOW, **kwargs)  # type: ignore[arg-type]
    raw = composed.message.as_bytes(policy=policy.SMTP)
    assert raw.isascii()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body_of(message: EmailMessage) -> str:
    return str(message.get_content()).replace("\r\n", "\n")


def test_headers_for_replying_and_threading() -> None:
    composed = compose(
        draft(in_reply_to="<CAF=abc@mail.gmail.com>", references=["<first@shop.example>"]),
        SENDER,
        tokens,
        message_id="0f1031da0b04455f88eecdca95ebffef",
        now=NOW,
    )
    message = composed.message
    assert composed.message_id == "0f1031da0b04455f88eecdca95ebffef"
    assert composed.recipient == "ana@example.com"
    assert composed.ticket_id == "T-000042"
    assert message["From"] == SENDER
    assert message["To"] == "Ana Silva <ana@example.com>"
    assert message["Reply-To"] == tokens.address("T-000042")
    assert message["Message-ID"] == "<0f1031da0b04455f88eecdca95ebffef@reply.shop.example>"
    assert message["In-Reply-To"] == "<CAF=abc@mail.gmail.com>"
    assert message["References"] == "<first@shop.example> <CAF=abc@mail.gmail.com>"
    assert message["Subject"] == "Re: Where is my order 12345? [Ticket T-000042]"
    assert message["Date"].datetime.timestamp() == NOW


def test_english_body() -> None:
    message = sent(draft())
    body = body_of(message)
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert body.startswith("Hello Ana Silva,\n\nYour parcel left our warehouse today.\n\n")
    assert "reply to this email" in body and "T-000042" in body


def test_chinese_subject_and_body_survive_encoding() -> None:
    message = sent(
        draft(
            language="zh-CN",
            ticket_subject="订单 12345 还没有收到",
            customer_name="李雷",
            text="您好，您的包裹今天已从仓库发出，预计三天内送达。\n\n如有问题请随时联系我们。",
        )
    )
    assert message["Subject"] == "回复：订单 12345 还没有收到 [工单 T-000042]"
    assert message["To"].addresses[0].display_name == "李雷"
    assert message["To"].addresses[0].addr_spec == "ana@example.com"
    body = body_of(message)
    assert body.startswith("李雷，您好：\n\n您好，您的包裹今天已从仓库发出")
    assert "如有问题请随时联系我们。" in body
    assert "请直接回复此邮件" in body and "T-000042" in body


def test_without_name_or_subject() -> None:
    message = sent(draft(customer_name="", ticket_subject=""))
    assert message["Subject"] == "Your request [Ticket T-000042]"
    assert message["To"] == "ana@example.com"
    assert body_of(message).startswith("Hello,\n\n")
    zh = sent(draft(customer_name="", ticket_subject="", language="zh"))
    assert zh["Subject"] == "您的咨询 [工单 T-000042]"
    assert body_of(zh).startswith("您好：\n\n")


def test_other_languages_get_english() -> None:
    assert body_of(sent(draft(language="pt-BR"))).startswith("Hello Ana Silva,")


def test_long_subject_is_shortened() -> None:
    subject = sent(draft(ticket_subject="x" * 500))["Subject"]
    assert subject.startswith("Re: " + "x" * (MAX_SUBJECT_CHARS - 1) + "… [Ticket")


def test_references_are_bounded_and_keep_the_newest() -> None:
    refs = [f"<m{i}@shop.example>" for i in range(40)]
    message = sent(draft(references=refs, in_reply_to="<last@mail.example>"))
    kept = message["References"].split()
    assert len(kept) == MAX_REFERENCES
    assert kept[-1] == "<last@mail.example>" and kept[-2] == "<m39@shop.example>"


def test_body_line_breaks_are_normalised() -> None:
    body = body_of(sent(draft(text="line one\r\nline two\rline three")))
    assert "line one\nline two\nline three" in body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_name", "Ana\r\nBcc: everyone@example.com"),
        ("customer_name", "Ana\nBcc: everyone@example.com"),
        ("ticket_subject", "Order\r\nBcc: everyone@example.com"),
        ("ticket_subject", "Order\rX-Injected: 1"),
        ("ticket_subject", "Order\u2028X-Injected: 1"),
        ("ticket_subject", "Order\x00"),
        ("to", "ana@example.com\r\nBcc: everyone@example.com"),
        ("in_reply_to", "<a@b>\r\nBcc: everyone@example.com"),
        ("ticket_id", "T-1\r\nBcc: x@y.example"),
    ],
)
def test_header_injection_is_refused(field: str, value: str) -> None:
    with pytest.raises(HeaderInjection, match=field):
        compose(draft(**{field: value}), SENDER, tokens)


def test_injection_in_references_or_sender_is_refused() -> None:
    with pytest.raises(HeaderInjection, match="references"):
        compose(draft(references=["<a@b>\nBcc: x@y.example"]), SENDER, tokens)
    with pytest.raises(HeaderInjection, match="from"):
        compose(draft(), "Shop <s@shop.example>\r\nBcc: x@y.example", tokens)


@pytest.mark.parametrize(
    "to",
    [
        "",
        "ana",
        "ana@",
        "@example.com",
        "Ana <ana@example.com>",
        "ana@example.com, bob@example.com",
        "ana@localhost",
        "anä@example.com",
    ],
)
def test_recipient_must_be_one_plain_address(to: str) -> None:
    with pytest.raises(ValueError, match="to must be one plain address"):
        compose(draft(to=to), SENDER, tokens)


@pytest.mark.parametrize("value", ["not-an-id", "<no-at-sign>", "<a@b> <c@d>"])
def test_in_reply_to_must_be_a_message_id(value: str) -> None:
    with pytest.raises(ValueError, match="in_reply_to"):
        compose(draft(in_reply_to=value), SENDER, tokens)


def test_empty_text_is_refused() -> None:
    with pytest.raises(ValueError, match="text"):
        compose(draft(text=" \n "), SENDER, tokens)


def test_each_message_gets_its_own_id() -> None:
    first, second = compose(draft(), SENDER, tokens), compose(draft(), SENDER, tokens)
    assert first.message_id != second.message_id
    assert first.message["Message-ID"] != second.message["Message-ID"]


def test_an_order_update_says_how_to_stop_them_and_carries_list_unsubscribe() -> None:
    from handoff.channels.email.compose import compose_notice

    common = {
        "to": "li@example.com", "text": "Your order SO-1 is late.", "order_id": "SO-1", "thread_id": "o:abc",
        "sender": "Shop <support@shop.example>", "tokens": tokens, "message_id": "m1",
    }  # fmt: skip
    by_mail = compose_notice(language="en", unsubscribe_id="u:0123456789abcdef", **common).message
    address = tokens.address("u:0123456789abcdef")
    assert by_mail["List-Unsubscribe"] == f"<mailto:{address}?subject=unsubscribe>"
    assert by_mail["List-Unsubscribe-Post"] is None
    assert f"Send any email to {address}" in by_mail.get_content()
    link = "https://help.shop.example/unsubscribe?token=abc.def"
    one_click = compose_notice(
        language="zh", unsubscribe_id="u:0123456789abcdef", unsubscribe_link=link, **common
    )
    message = one_click.message
    assert message["List-Unsubscribe"] == f"<{link}>, <mailto:{address}?subject=unsubscribe>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"点此退订：{link}" in message.get_content() and str(message["Subject"]) == "关于您的订单 SO-1"
    with pytest.raises(HeaderInjection):
        compose_notice(
            language="en", unsubscribe_id="u:1", unsubscribe_link=link + "\r\nBcc: x@y.z", **common
        )
    plain = compose_notice(language="en", **common).message  # no unsubscribe id: neither header nor line
    assert plain["List-Unsubscribe"] is None and "order updates" not in plain.get_content()
