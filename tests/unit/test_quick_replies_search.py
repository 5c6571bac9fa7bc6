import pytest

from handoff.quick_replies.loader import load_templates
from handoff.quick_replies.model import Template, template_variables
from handoff.quick_replies.search import QuickReplies
from tests.unit.quick_reply_files import SHIPPED


@pytest.fixture(scope="module")
def shipped() -> QuickReplies:
    return load_templates(SHIPPED)


def template(id: str, shortcut: str, title: str, text: str, language: str = "en") -> Template:
    return Template(id, language, shortcut, title, "general", text, template_variables(text))


@pytest.fixture
def replies() -> QuickReplies:
    return QuickReplies(
        [
            template("refunds.timeline", "refund-time", "Refund timeline", "Refunds take 3-7 days."),
            template("general.ref_text", "zz", "Other", "We mention a refund here."),
            template("refunds.issued", "refunded", "Refund issued", "Your refund was sent."),
            template("general.money_back", "money", "Money back", "See our refunds policy."),
            template("refunds.exact", "ref", "Something", "Nothing relevant."),
            template("returns.label", "label", "Return label", "Print the label."),
            template("refunds.issued", "tuikuan", "退款已原路退回", "退款已经原路退回。", "zh"),
            template("shipping.refuse", "jushou", "拒收", "派送时拒收，我们会办理退款。", "zh"),
        ]
    )


def ids(found: list[Template]) -> list[str]:
    return [f"{t.language}:{t.id}" for t in found]


def test_exact_shortcut_first_then_shortcut_prefix_then_words_then_text(replies: QuickReplies) -> None:
    found = replies.search("ref", language="en")
    assert ids(found) == [
        "en:refunds.exact",  # shortcut == ref
        "en:refunds.timeline",  # shortcut starts with ref (in file order)
        "en:refunds.issued",
        "en:general.ref_text",  # a word of the id starts with ref
        "en:general.money_back",  # only the text contains it
    ]


def test_a_leading_slash_and_case_are_ignored(replies: QuickReplies) -> None:
    assert ids(replies.search("/REF", language="en")) == ids(replies.search("ref", language="en"))
    assert ids(replies.search("  /Label ", language="en"))[0] == "en:returns.label"


def test_title_words_match_before_text(replies: QuickReplies) -> None:
    assert ids(replies.search("money"))[0] == "en:general.money_back"
    assert ids(replies.search("print")) == ["en:returns.label"]
    assert ids(replies.search("issued")) == ["en:refunds.issued", "zh:refunds.issued"]


def test_chinese_matches_by_substring_title_before_text(replies: QuickReplies) -> None:
    assert ids(replies.search("退款", language="zh")) == ["zh:refunds.issued", "zh:shipping.refuse"]
    assert ids(replies.search("原路")) == ["zh:refunds.issued"]


def test_the_language_filter(replies: QuickReplies) -> None:
    assert {t.language for t in replies.search("refund", language="en")} == {"en"}
    assert ids(replies.search("refunds", language="zh")) == ["zh:refunds.issued"]
    assert replies.search("refund", language="fr") == []
    assert {t.language for t in replies.search("refunds")} == {"en", "zh"}


def test_an_empty_query_lists_the_language_in_file_order(replies: QuickReplies) -> None:
    assert ids(replies.search("", language="zh")) == ["zh:refunds.issued", "zh:shipping.refuse"]
    assert ids(replies.search("/", language="en"))[:2] == ["en:refunds.timeline", "en:general.ref_text"]
    assert len(replies.search("", limit=3)) == 3
    assert replies.search("ref", limit=0) == []


def test_several_words_match_when_each_appears_somewhere(replies: QuickReplies) -> None:
    assert ids(replies.search("label print")) == ["en:returns.label"]
    assert replies.search("label refund") == []


def test_shipped_shortcuts_come_first(shipped: QuickReplies) -> None:
    assert shipped.search("/hi", language="en")[0].id == "greeting.welcome"
    assert shipped.search("/tuikuan", language="zh")[0].id == "refunds.issued"
    assert shipped.search("发票", language="zh")[0].category == "invoice"
    assert all(t.language == "zh" for t in shipped.search("", language="zh", limit=500))
