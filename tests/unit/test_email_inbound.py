"""Customers' emailed replies as Gmail, Outlook, QQ Mail and Apple Mail send them: the ticket from the
signed address, the text decoded from its encoding and charset, the quoted message and signatures gone."""

from __future__ import annotations

import base64
import quopri

import pytest

from handoff.channels.email.inbound import (
    MAX_RAW_BYTES,
    AutoReply,
    InvalidToken,
    NoReplyAddress,
    NoText,
    TooLarge,
    html_to_text,
    parse_reply,
    strip_quoted,
)
from handoff.channels.email.tokens import ReplyTokens

tokens = ReplyTokens("reply-token-secret-0123456789", "reply.shop.example")
REPLY_TO = tokens.address("T-000042")


def b64(text: str, charset: str) -> str:
    return base64.encodebytes(text.encode(charset)).decode("ascii")


def qp(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("ascii")


def gmail_reply(to: str = REPLY_TO) -> bytes:
    plain = (
        "Thanks! It arrived this morning, but the box was damaged. Can I get a replacement?\n"
        "\n"
        "On Mon, 3 Mar 2025 at 10:00, Shop Support <\n"
        f"{REPLY_TO}> wrote:\n"
        "\n"
        "> Hello Ana Silva,\n"
        ">\n"
        "> Your parcel left our warehouse today.\n"
        ">\n"
        "> To continue, simply reply to this email. Your reply goes straight to ticket T-000042.\n"
        ">\n"
    )
    html = (
        '<div dir="ltr">Thanks! It arrived this morning, but the box was damaged. Can I get a replacement?'
        '</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, 3 Mar 2025 at 10:00, '
        "Shop Support &lt;" + REPLY_TO + '&gt; wrote:<br></div><blockquote class="gmail_quote" '
        'style="margin:0px 0px 0px 0.8ex">Hello Ana Silva,<br><br>Your parcel left our warehouse today.'
        "</blockquote></div>\n"
    )
    return crlf(
        "Delivered-To: " + to + "\n"
        "Received: by 2002:a05:6520:1234 with SMTP id x; Mon, 3 Mar 2025 02:13:07 -0800 (PST)\n"
        "MIME-Version: 1.0\n"
        "References: <0f1031da0b04455f88eecdca95ebffef@reply.shop.example>\n"
        "In-Reply-To: <0f1031da0b04455f88eecdca95ebffef@reply.shop.example>\n"
        "From: Ana Silva <Ana.Silva@Gmail.com>\n"
        "Date: Mon, 3 Mar 2025 11:13:04 +0100\n"
        "Message-ID: <CAF7+abc123XyZ=q@mail.gmail.com>\n"
        "Subject: Re: Where is my order 12345? [Ticket T-000042]\n"
        "To: Shop Support <" + to + ">\n"
        'Content-Type: multipart/alternative; boundary="000000000000a1b2c3d4e5f6"\n'
        "\n"
        "--000000000000a1b2c3d4e5f6\n"
        'Content-Type: text/plain; charset="UTF-8"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n" + qp(plain) + "\n"
        "--000000000000a1b2c3d4e5f6\n"
        'Content-Type: text/html; charset="UTF-8"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n" + qp(html) + "\n"
        "--000000000000a1b2c3d4e5f6--\n"
    )


def outlook_reply() -> bytes:
    plain = (
        "Hi,\n"
        "\n"
        "I'd rather have a refund than a replacement.\n"
        "\n"
        "Regards,\n"
        "Ana\n"
        "\n"
        "Get Outlook for iOS<https://aka.ms/o0ukef>\n"
        "________________________________\n"
        "From: Shop Support <" + REPLY_TO + ">\n"
        "Sent: Monday, March 3, 2025 10:00 AM\n"
        "To: ana.silva@outlook.com <ana.silva@outlook.com>\n"
        "Subject: Re: Where is my order 12345? [Ticket T-000042]\n"
        "\n"
        "Hello Ana Silva,\n"
        "\n"
        "Your parcel left our warehouse today.\n"
    )
    return crlf(
        "From: Ana Silva <ana.silva@outlook.com>\n"
        "To: Shop Support <" + REPLY_TO.upper() + ">\n"
        "Subject: RE: Where is my order 12345? [Ticket T-000042]\n"
        "Thread-Topic: Where is my order 12345? [Ticket T-000042]\n"
        "Date: Mon, 3 Mar 2025 10:20:00 +0000\n"
        "Message-ID:\n <AM9PR01MB1234ABCD5678@AM9PR01MB1234.eurprd01.prod.outlook.com>\n"
        "Content-Language: en-GB\n"
        'Content-Type: multipart/alternative;\n\tboundary="_000_AM9PR01MB1234_"\n'
        "MIME-Version: 1.0\n"
        "\n"
        "--_000_AM9PR01MB1234_\n"
        'Content-Type: text/plain; charset="Windows-1252"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n" + b64(plain.replace("I'd", "I\u2019d"), "cp1252") + "\n"
        "--_000_AM9PR01MB1234_\n"
        'Content-Type: text/html; charset="Windows-1252"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "<html><body><div>I'd rather have a refund.</div></body></html>\n"
        "--_000_AM9PR01MB1234_--\n"
    )


QQ_TEXT = (
    "收到了，谢谢！不过颜色发错了，我要的是蓝色的，能换吗？张喆\n"
    "\n"
    "\n"
    "------------------ 原始邮件 ------------------\n"
    '发件人: "Shop Support" <support@shop.example>;\n'
    "发送时间: 2025年3月3日(星期一) 上午10:00\n"
    '收件人: "李雷"<lilei@qq.com>;\n'
    "主题: 回复：订单 12345 还没有收到 [工单 T-000042]\n"
    "\n"
    "李雷，您好：\n"
    "\n"
    "您的包裹今天已从仓库发出。\n"
)


def qq_reply(charset: str = "GB2312") -> bytes:
    html = (
        "<div>收到了，谢谢！不过颜色发错了，我要的是蓝色的，能换吗？张喆</div><div><br></div>"
        '<div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
        "------------------&nbsp;原始邮件&nbsp;------------------</div>"
        '<div style="font-size: 12px;background:#efefef;padding:8px;"><b>发件人:</b> "Shop Support"</div>'
        "<div>李雷，您好：</div>"
    )
    return crlf(
        "X-QQ-mid: bizesmtp12t1741000000t1a2b3c4\n"
        'From: "=?'
        + charset
        + "?B?"
        + base64.b64encode("李雷".encode("gb18030")).decode()
        + '?=" <lilei@qq.com>\n'
        'To: "=?gb18030?B?U2hvcCBTdXBwb3J0?=" <' + REPLY_TO + ">\n"
        "Subject: =?gb18030?B?" + base64.b64encode("回复：订单".encode("gb18030")).decode() + "?=\n"
        "Mime-Version: 1.0\n"
        'Content-Type: multipart/alternative;\n\tboundary="----=_NextPart_67C5A1B2_0A1B2C3D_4E5F6071"\n'
        "Content-Transfer-Encoding: 8Bit\n"
        "Date: Mon, 3 Mar 2025 18:20:34 +0800\n"
        "Message-ID: <tencent_0123456789ABCDEF0123456789ABCDEF0809@qq.com>\n"
        "\n"
        "This is a multi-part message in MIME format.\n"
        "\n"
        "------=_NextPart_67C5A1B2_0A1B2C3D_4E5F6071\n"
        'Content-Type: text/plain;\n\tcharset="' + charset + '"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n" + b64(QQ_TEXT, "gbk") + "\n"
        "------=_NextPart_67C5A1B2_0A1B2C3D_4E5F6071\n"
        'Content-Type: text/html;\n\tcharset="' + charset + '"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n" + b64(html, "gbk") + "\n"
        "------=_NextPart_67C5A1B2_0A1B2C3D_4E5F6071--\n"
    )


def simple(body: str, headers: str = "", to: str = REPLY_TO, content_type: str = "text/plain") -> bytes:
    return crlf(
        "From: Ana Silva <ana@example.com>\n"
        f"To: {to}\n"
        "Subject: Re: [Ticket T-000042]\n"
        "Message-ID: <m1@example.com>\n"
        f"{headers}"
        "MIME-Version: 1.0\n"
        f'Content-Type: {content_type}; charset="utf-8"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n" + b64(body, "utf-8")
    )


# -- whole messages ----------------------------------------------------------------------------------------


def test_gmail_reply() -> None:
    reply = parse_reply(gmail_reply(), tokens)
    assert reply.ticket_id == "T-000042"
    assert reply.from_address == "ana.silva@gmail.com"
    assert reply.text == "Thanks! It arrived this morning, but the box was damaged. Can I get a replacement?"
    assert reply.message_id == "<CAF7+abc123XyZ=q@mail.gmail.com>"
    assert not reply.truncated


def test_outlook_reply_in_windows_1252_with_an_upper_case_address() -> None:
    reply = parse_reply(outlook_reply(), tokens)
    assert reply.ticket_id == "T-000042"
    assert reply.text == "Hi,\n\nI\u2019d rather have a refund than a replacement.\n\nRegards,\nAna"
    assert reply.message_id == "<AM9PR01MB1234ABCD5678@AM9PR01MB1234.eurprd01.prod.outlook.com>"


@pytest.mark.parametrize("charset", ["GB2312", "GBK", "gb18030"])
def test_qq_mail_reply_labelled_gb2312_but_in_gbk(charset: str) -> None:
    """喆 is not in GB2312; QQ Mail labels such text GB2312 all the same."""
    reply = parse_reply(qq_reply(charset), tokens)
    assert reply.ticket_id == "T-000042"
    assert reply.from_address == "lilei@qq.com"
    assert reply.text == "收到了，谢谢！不过颜色发错了，我要的是蓝色的，能换吗？张喆"


def test_html_only_reply_is_read_as_text() -> None:
    html = (
        "<html><head><style>p{color:red}</style></head><body>"
        "<p>Please send it to my office instead:</p><p>12 Rua Augusta<br>Lisbon</p>"
        '<hr><div id="divRplyFwdMsg"><b>From:</b> Shop Support</div><div>Hello Ana Silva,</div>'
        "</body></html>"
    )
    reply = parse_reply(simple(html, content_type="text/html"), tokens)
    assert reply.text == "Please send it to my office instead:\n\n12 Rua Augusta\nLisbon"


def test_token_from_delivered_to_or_the_envelope() -> None:
    """A reply sent to a forwarding alias: the reply address is only in Delivered-To, or in the envelope."""
    raw = gmail_reply(to="help@shop.example").replace(
        b"Delivered-To: help@shop.example", b"Delivered-To: " + REPLY_TO.encode()
    )
    assert parse_reply(raw, tokens).ticket_id == "T-000042"
    alias_only = simple("Hello", to="help@shop.example")
    with pytest.raises(NoReplyAddress):
        parse_reply(alias_only, tokens)
    assert parse_reply(alias_only, tokens, envelope_recipients=[REPLY_TO]).ticket_id == "T-000042"


def test_token_in_cc() -> None:
    raw = simple(
        "Adding my partner.",
        headers=f"Cc: Bob <bob@example.com>, Support <{REPLY_TO}>\n",
        to="bob@example.com",
    )
    assert parse_reply(raw, tokens).ticket_id == "T-000042"


def test_altered_token_is_refused() -> None:
    token = tokens.token("T-000042")
    altered = REPLY_TO.replace(token, token[:-1] + ("a" if token[-1] != "a" else "b"))
    with pytest.raises(InvalidToken):
        parse_reply(simple("Hello", to=altered), tokens)


def test_valid_token_wins_over_an_invalid_one() -> None:
    raw = simple("Hello", headers="Cc: reply+zzzz-aaaaaaaaaaaaaaaa@reply.shop.example\n")
    assert parse_reply(raw, tokens).ticket_id == "T-000042"


def test_no_reply_address() -> None:
    with pytest.raises(NoReplyAddress, match=r"reply\.shop\.example"):
        parse_reply(simple("Hello", to="support@shop.example"), tokens)


def test_only_the_quote_is_no_text() -> None:
    with pytest.raises(NoText):
        parse_reply(simple("On Mon, 3 Mar 2025, Shop wrote:\n> Hello\n"), tokens)


def test_attachment_without_text_is_no_text() -> None:
    raw = crlf(
        "From: ana@example.com\n"
        f"To: {REPLY_TO}\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n'
        "\n"
        "--b\n"
        "Content-Type: image/jpeg\n"
        'Content-Disposition: attachment; filename="box.jpg"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "/9j/4AAQSkZJRgABAQAAAQABAAD/\n"
        "--b--\n"
    )
    with pytest.raises(NoText):
        parse_reply(raw, tokens)


@pytest.mark.parametrize(
    "header",
    ["Auto-Submitted: auto-replied\n", "X-Autoreply: yes\n", "Precedence: auto_reply\n"],
)
def test_automatic_replies_are_refused(header: str) -> None:
    with pytest.raises(AutoReply):
        parse_reply(simple("I am out of the office until Monday.", headers=header), tokens)


def test_auto_submitted_no_is_a_person() -> None:
    assert parse_reply(simple("Hello", headers="Auto-Submitted: no\n"), tokens).text == "Hello"


def test_missing_from_is_refused() -> None:
    raw = simple("Hello").replace(b"From: Ana Silva <ana@example.com>\r\n", b"")
    with pytest.raises(ValueError, match="From"):
        parse_reply(raw, tokens)


def test_size_is_bounded() -> None:
    with pytest.raises(TooLarge):
        parse_reply(b"x" * (MAX_RAW_BYTES + 1), tokens)
    reply = parse_reply(simple("long " * 2000), tokens, max_chars=100)
    assert reply.truncated and len(reply.text) == 100 and reply.text.endswith("…")


def test_unknown_charset_is_read_as_utf8() -> None:
    raw = simple("Olá, obrigada!").replace(b'charset="utf-8"', b'charset="x-unknown-8"')
    assert parse_reply(raw, tokens).text == "Olá, obrigada!"


def test_malformed_headers_do_not_break_parsing() -> None:
    raw = simple("Hello", headers="Date: not a date at all\nReply-To: <<<broken\n")
    assert parse_reply(raw, tokens).text == "Hello"


# -- quoted text and signatures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "new"),
    [
        (
            "Yes please.\n\nOn Mon, Mar 3, 2025 at 10:00 AM Shop <s@shop.example> wrote:\n> Hello",
            "Yes please.",
        ),
        (
            "好的，谢谢。\n\n在 2025年3月3日周一 10:00，Shop Support <s@shop.example> 写道：\n> 您好",
            "好的，谢谢。",
        ),
        ("好的\n\n于 2025年3月3日 10:00，Shop Support 写道:\n> 您好", "好的"),
        ("OK\n\n-----Original Message-----\nFrom: Shop\nSent: Monday", "OK"),
        ("OK\n\nFrom: Shop Support <s@shop.example>\nSent: Monday, March 3, 2025 10:00 AM\nTo: Ana", "OK"),
        ("OK\n\n*From:* Shop Support\n*Date:* Monday\n*To:* Ana", "OK"),
        ("好的\n\n发件人: Shop Support\n发送时间: 2025年3月3日\n收件人: 李雷", "好的"),
        (
            "Great, thanks.\n\nSent from my iPhone\n\nOn Mar 3, 2025, at 10:00, Shop wrote:\n\n> Hello",
            "Great, thanks.",
        ),
        ("好的\n\n发自我的iPhone\n\n------------------ 原始邮件 ------------------\n发件人: Shop", "好的"),
        ("Thanks\n\n-- \nAna Silva\nHead of Purchasing", "Thanks"),
        ("Thanks\n> quoted in the middle\nBye", "Thanks\nBye"),
        ("No quote at all,\njust two lines.", "No quote at all,\njust two lines."),
        ("A\n\n\n\n\nB", "A\n\nB"),
    ],
)
def test_strip_quoted(text: str, new: str) -> None:
    assert strip_quoted(text) == new


def test_answer_written_below_the_quote_is_kept() -> None:
    text = (
        "On Mon, 3 Mar 2025 at 10:00, Shop Support <\n"
        f"{REPLY_TO}> wrote:\n"
        "> Which colour would you like?\n"
        "\n"
        "Blue, please.\n"
        "> And which size?\n"
        "Medium.\n"
    )
    assert strip_quoted(text) == "Blue, please.\nMedium."


def test_a_sentence_starting_with_on_is_not_an_attribution() -> None:
    text = "On Monday the parcel came.\nIt was wet.\nThe courier wrote: sorry."
    assert strip_quoted(text) == text


def test_html_to_text_leaves_out_quotes_and_hidden_parts() -> None:
    html = (
        "<html><head><title>t</title><script>var x = 1;</script></head><body>"
        "<div>First&nbsp;line &amp; more</div><ul><li>one</li><li>two</li></ul>"
        "<blockquote>quoted</blockquote><div class='yahoo_quoted'>also quoted</div><p>last</p></body></html>"
    )
    assert html_to_text(html) == "First\xa0line & more\n\none\n\ntwo\n\nlast"


def test_qq_mail_html_only_reply() -> None:
    html = (
        "<div>好的，我等您的消息。</div><div><br></div>"
        '<div style="font-size: 12px;">------------------&nbsp;原始邮件&nbsp;------------------</div>'
        "<div><b>发件人:</b> Shop Support</div><div>李雷，您好：</div>"
    )
    assert parse_reply(simple(html, content_type="text/html"), tokens).text == "好的，我等您的消息。"


def test_mail_to_an_unsubscribe_address_needs_no_text() -> None:
    from handoff.channels.email.inbound import NoText, parse_reply

    def empty(to: str) -> bytes:
        return crlf(
            f"From: Li <li@example.com>\nTo: {to}\nSubject: unsubscribe\nMessage-ID: <u1@example.com>\n\n"
        )

    taken = parse_reply(empty(tokens.address("u:0123456789abcdef")), tokens)
    assert (taken.ticket_id, taken.text) == ("u:0123456789abcdef", "")
    with pytest.raises(NoText):  # a reply to a ticket still needs something to show the agent
        parse_reply(empty(REPLY_TO), tokens)
