"""Formatting of dates, money and a few stored codes in the customer's language.

Sentences live in the domain's responses; these are the values that fill them.
"""

from __future__ import annotations

from datetime import date

PAYMENT_METHODS = {
    "card": {"en": "card", "zh": "银行卡"},
    "paypal": {"en": "PayPal account", "zh": "PayPal 账户"},
    "alipay": {"en": "Alipay account", "zh": "支付宝"},
    "wechat_pay": {"en": "WeChat Pay account", "zh": "微信支付"},
    "store_credit": {"en": "store credit", "zh": "账户余额"},
}
CONDITIONS = {
    "new": {"en": "new", "zh": "全新"},
    "unopened": {"en": "unopened", "zh": "未拆封"},
    "opened": {"en": "opened", "zh": "已拆封"},
    "used": {"en": "used", "zh": "已使用"},
    "damaged": {"en": "damaged", "zh": "已损坏"},
}
RETURN_REASONS = {
    "damaged": {"en": "damaged or defective", "zh": "商品破损/质量问题"},
    "wrong_size": {"en": "wrong size", "zh": "尺码不合适"},
    "wrong_item": {"en": "wrong item sent", "zh": "发错货"},
    "not_as_described": {"en": "not as described", "zh": "与描述不符"},
    "changed_mind": {"en": "changed your mind", "zh": "不想要了"},
    "other": {"en": "your reason", "zh": "您说明的原因"},
}
STATUSES = {
    "pending": {"en": "awaiting payment", "zh": "待付款"},
    "paid": {"en": "paid", "zh": "已付款"},
    "shipped": {"en": "shipped", "zh": "已发货"},
    "delivered": {"en": "delivered", "zh": "已签收"},
    "returned": {"en": "returned", "zh": "已退货"},
    "cancelled": {"en": "cancelled", "zh": "已取消"},
}


def label(table: dict[str, dict[str, str]], code: str, language: str) -> str:
    names = table.get(code)
    return names.get(language, names["en"]) if names else code


def format_date(value: date | None, language: str) -> str:
    if value is None:
        return ""
    if language == "zh":
        return f"{value.month}月{value.day}日"
    return value.strftime("%b %d").replace(" 0", " ")


def format_money(amount: float, currency: str) -> str:
    symbol = {"USD": "$", "CNY": "¥"}.get(currency, f"{currency} ")
    return f"{symbol}{amount:,.2f}"
