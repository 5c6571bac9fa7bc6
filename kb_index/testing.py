"""Test helpers: a tiny knowledge base on disk and an encoder factory that records what it embeds.

Shipped with the package (like a fake store) so unit tests of kb_index and of code that uses it can build
real index versions in a temporary directory in milliseconds, without model weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kb_index.encoders import HashingEncoder, Matrix
from kb_index.settings import LanguageRetrieval

HASHING = "hashing:256"
ENCODERS = {"en": HASHING, "zh": HASHING}
RETRIEVAL = {
    "en": LanguageRetrieval("hybrid", 0.3, 0.2, HASHING),
    "zh": LanguageRetrieval("hybrid", 0.3, 0.2, HASHING),
}

SAMPLE = {
    "en-refunds-timeline": (
        "refunds",
        "How long does a refund take?",
        ["refund", "refund time"],
        ["en-returns-how-to"],
        "Refunds are issued within 2 business days after the warehouse receives your return. "
        "Card refunds take 3 to 7 business days to appear; PayPal refunds 1 to 3 days.",
    ),
    "en-returns-how-to": (
        "returns",
        "How do I return an item?",
        ["return", "send back"],
        [],
        "Start a return in Account > Orders, choose the items and print the label. "
        "Pack the item and drop the parcel at any post office.",
    ),
    "en-shipping-tracking": (
        "shipping",
        "How can I track my parcel?",
        ["tracking", "parcel", "where is my order"],
        [],
        "Open Account > Orders and press Track parcel to see where your parcel is "
        "and the courier's tracking number.",
    ),
    "en-shipping-fees": (
        "shipping",
        "How much does delivery cost?",
        ["shipping fee", "delivery cost"],
        ["en-shipping-tracking"],
        "Standard delivery costs 4.99 and is free for orders over 50. Express delivery costs 9.99.",
    ),
    "en-payment-methods": (
        "payment",
        "Which payment methods do you accept?",
        ["payment", "card", "paypal"],
        [],
        "We accept Visa, Mastercard, American Express, PayPal and Apple Pay.",
    ),
    "zh-refunds-timeline": (
        "refunds",
        "退款多久到账？",
        ["退款", "到账"],
        [],
        "仓库收到退货后2个工作日内退款，银行卡3到7个工作日到账，支付宝和微信1到3天到账。",
    ),
    "zh-shipping-tracking": (
        "shipping",
        "怎么查看物流？",
        ["物流", "快递单号"],
        [],
        "在「我的订单」里点击「查看物流」，可以看到快递公司和快递单号。",
    ),
    "zh-invoices-electronic": (
        "invoices",
        "怎么开发票？",
        ["发票", "电子发票"],
        [],
        "确认收货后，在订单详情点击「申请开票」，填写抬头和税号，电子发票会发送到您的邮箱。",
    ),
}


def article_text(
    article_id: str,
    category: str,
    title: str,
    tags: Sequence[str],
    related: Sequence[str],
    body: str,
    *,
    language: str | None = None,
) -> str:
    language = language or article_id.split("-", 1)[0]
    return (
        "---\n"
        f"id: {article_id}\n"
        f"language: {language}\n"
        f'title: "{title}"\n'
        f"category: {category}\n"
        "question_type: faq\n"
        "urgency: normal\n"
        f"tags: [{', '.join(tags)}]\n"
        f"related: [{', '.join(related)}]\n"
        "---\n"
        f"{body}\n"
    )


def write_article(kb_dir: Path, article_id: str, text: str) -> Path:
    path = kb_dir / article_id.split("-", 1)[0] / f"{article_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def sample_kb(kb_dir: Path) -> Path:
    for article_id, (category, title, tags, related, body) in SAMPLE.items():
        write_article(kb_dir, article_id, article_text(article_id, category, title, tags, related, body))
    return kb_dir


class RecordingEncoder(HashingEncoder):
    def __init__(self, dimension: int, texts: list[str]) -> None:
        super().__init__(dimension)
        self._texts = texts

    def encode(self, texts: Sequence[str], *, query: bool = False) -> Matrix:
        if not query:
            self._texts.extend(texts)
        return super().encode(texts, query=query)


class RecordingFactory:
    """Encoder factory for `build` and `Retriever`: hashing encoders, and a log of passages embedded."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.embedded: list[str] = []

    def __call__(self, spec: str) -> RecordingEncoder:
        self.created.append(spec)
        dimension = int(spec.partition(":")[2] or 256)
        return RecordingEncoder(dimension, self.embedded)
