from datetime import date
from pathlib import Path
from typing import Any

import pytest

from actions.handoff import build_packet
from actions.orders.model import Order, OrderItem, OrderStatus
from handoff.quick_replies import (
    CATEGORIES,
    LANGUAGES,
    VARIABLES,
    Filled,
    QuickReplies,
    Template,
    TemplateError,
    context_from_conversation,
    fill,
    load_templates,
    main,
    template_variables,
)
from tests.unit.fakes import make_tracker

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "quick_replies"


@pytest.fixture(scope="module")
def shipped() -> QuickReplies:
    return load_templates(SHIPPED)


# --- the shipped templates -------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_ships_at_least_100_templates_with_unique_ids_and_shortcuts(
    shipped: QuickReplies, language: str
) -> None:
    templates = [t for t in shipped.templates if t.language == language]
    assert len(templates) >= 100
    assert len({t.id for t in templates}) == len(templates)
    assert len({t.shortcut for t in templates}) == len(templates)
    assert {t.category for t in templates} == set(CATEGORIES)


def test_shipped_templates_only_use_the_vocabulary_and_use_all_of_it(shipped: QuickReplies) -> None:
    used = {name for t in shipped.templates for name in t.variables}
    assert used <= set(VARIABLES)
    assert used == set(VARIABLES), f"documented but never used: {set(VARIABLES) - used}"
    for template in shipped.templates:
        assert template.variables == template_variables(template.text)


def test_chinese_templates_are_written_in_chinese(shipped: QuickReplies) -> None:
    for template in shipped.templates:
        if template.language == "zh":
            assert any("\u4e00" <= ch <= "\u9fff" for ch in template.text), template.id


def test_the_editors_doc_lists_every_variable_and_category() -> None:
    doc = (SHIPPED.parents[1] / "docs" / "quick-replies.md").read_text(encoding="utf-8")
    assert all(f"`{{{name}}}`" in doc for name in VARIABLES)
    assert all(f"`{category}`" in doc for category in CATEGORIES)


def test_check_command_reports_counts(capsys: pytest.CaptureFixture[str], shipped: QuickReplies) -> None:
    assert main(["check", str(SHIPPED)]) == 0
    counts = shipped.counts()
    assert capsys.readouterr().out.strip() == (
        f"{len(shipped)} templates OK (en: {counts['en']}, zh: {counts['zh']})"
    )


# --- validation ------------------------------------------------------------------------------

GOOD = """\
version: 1
language: en
templates:
  - id: greeting.welcome
    shortcut: hi
    title: Welcome
    category: greeting
    text: "Hi {customer_name}, I'm {agent_name}."
"""


def write(tmp_path: Path, text: str, name: str = "en.yml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path / name


def second(**fields: str) -> str:
    values = {
        "id": "orders.status",
        "shortcut": "status",
        "title": "Status",
        "category": "orders",
        "text": '"Order {order_id} is {order_status}."',
        **fields,
    }
    lines = [f"    {key}: {value}" for key, value in values.items() if value != "-"]
    return "\n".join(["  - " + lines[0].strip(), *lines[1:]]) + "\n"


def test_a_valid_file_loads(tmp_path: Path) -> None:
    write(tmp_path, GOOD + second())
    replies = load_templates(tmp_path)
    assert len(replies) == 2
    status = replies.get("en", "orders.status")
    assert status is not None
    assert status.variables == ("order_id", "order_status")
    assert replies.get("zh", "orders.status") is None


# The second template's lines: 9 "- id", 10 shortcut, 11 title, 12 category, 13 text, 14 any extra field.
@pytest.mark.parametrize(
    ("extra", "line", "message"),
    [
        (
            second(text='"Order {order_no} is late."'),
            13,
            "template 'orders.status': unknown variable {order_no}",
        ),
        (
            second(shortcut="hi"),
            9,
            "template 'orders.status': shortcut '/hi' is already used by 'greeting.welcome'",
        ),
        (second(id="greeting.welcome"), 9, "template 'greeting.welcome': duplicate id (first defined at "),
        (second(category="shipping_and_stuff"), 12, "unknown category 'shipping_and_stuff'"),
        (second(text='"Order {order_id is late."'), 13, "unbalanced brace"),
        (second(text='"Order {{order_id}} is late."'), 13, "unbalanced brace"),
        (second(text='"Order {Order Id}."'), 13, "malformed variable {Order Id}"),
        (second(language="zh"), 14, "language 'zh' differs from the file's 'en'"),
        (second(shortcut="'/status'"), 10, "'shortcut' may only contain"),
        (second(id="Orders.Status"), 9, "'id' must be dot-separated"),
        (second(shortcut="no"), 10, "'shortcut' must be a string"),  # YAML 1.1 reads a bare `no` as false
        (second(title='""'), 11, "'title' must not be empty"),
        (second(colour="red"), 14, "unknown field 'colour'"),
    ],
)
def test_field_errors_name_the_file_and_the_line_of_the_field(
    tmp_path: Path, extra: str, line: int, message: str
) -> None:
    write(tmp_path, GOOD + extra)
    with pytest.raises(TemplateError) as caught:
        load_templates(tmp_path)
    assert caught.value.path.endswith("en.yml")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{caught.value.path}:{line}: ")
    assert message in str(caught.value)


def test_a_missing_field_points_at_the_template(tmp_path: Path) -> None:
    write(tmp_path, GOOD + second(title="-"))
    with pytest.raises(TemplateError, match=r"en\.yml:9: template 'orders\.status': missing field 'title'"):
        load_templates(tmp_path)


def test_an_unknown_variable_names_its_line_and_suggests_the_right_one(tmp_path: Path) -> None:
    write(tmp_path, GOOD + second(text='"Your label for {retrun_number}."'))
    with pytest.raises(TemplateError) as caught:
        load_templates(tmp_path)
    assert caught.value.line == 13
    assert str(caught.value).endswith("unknown variable {retrun_number} (did you mean {return_number}?)")


def test_a_file_whose_language_does_not_match_its_name_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("language: en", "language: zh"))
    with pytest.raises(TemplateError, match=r"en\.yml:2: the file declares language 'zh'"):
        load_templates(tmp_path)


def test_an_unsupported_language_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("language: en", "language: fr"), name="fr.yml")
    with pytest.raises(TemplateError, match=r"fr\.yml:2: 'language' must be one of en, zh"):
        load_templates(tmp_path)


def test_duplicates_are_found_across_files_of_the_same_language(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, GOOD.replace("greeting.welcome", "greeting.other"), name="en-extra.yml")
    # en-extra.yml sorts first, so en.yml's template is the one reported, pointing back at the other file
    with pytest.raises(TemplateError) as caught:
        load_templates(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{caught.value.path}:4: template 'greeting.welcome': shortcut '/hi'")
    assert caught.value.path.endswith("en.yml")
    assert message.endswith("already used by 'greeting.other' at " + str(tmp_path / "en-extra.yml") + ":4")


def test_the_same_id_and_shortcut_may_exist_in_each_language(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, GOOD.replace("language: en", "language: zh"), name="zh.yml")
    replies = load_templates(tmp_path)
    assert replies.counts() == {"en": 1, "zh": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("version: 1", "version: 2"), "en.yml:1: 'version' must be 1"),
        (GOOD.replace("version: 1\n", ""), "en.yml:1: missing field 'version'"),
        (GOOD + "  - [not, a, mapping]\n", "en.yml:9: a template must be a mapping"),
        (GOOD.replace("title: Welcome", "title: [Welcome"), "en.yml:7: invalid YAML"),
        ("", "en.yml:1: the file is empty"),
    ],
)
def test_file_level_errors_name_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, text)
    with pytest.raises(TemplateError) as caught:
        load_templates(tmp_path)
    assert message in str(caught.value)


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"no \*\.yml template files"):
        load_templates(tmp_path)


def test_check_command_prints_the_error_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, GOOD + second(text='"{order_no}"'))
    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "en.yml:13: template 'orders.status': unknown variable {order_no}" in err


# --- search ----------------------------------------------------------------------------------


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


# --- fill ------------------------------------------------------------------------------------

TEXT = "Hi {customer_name}, order {order_id} ships with {carrier}; {customer_name}, track {tracking_number}."


def test_fill_with_every_variable() -> None:
    context = {
        "customer_name": "Alice",
        "order_id": "SO-1",
        "carrier": "UPS",
        "tracking_number": "1Z9",
    }
    assert fill(TEXT, context) == Filled("Hi Alice, order SO-1 ships with UPS; Alice, track 1Z9.", ())
    assert fill(TEXT, context).ready


def test_fill_with_some_variables_lists_the_missing_in_order_of_first_use() -> None:
    filled = fill(TEXT, {"order_id": "SO-1", "customer_name": "", "carrier": None, "tracking_number": " "})
    assert filled.text == (
        "Hi {customer_name}, order SO-1 ships with {carrier}; {customer_name}, track {tracking_number}."
    )
    assert filled.missing == ("customer_name", "carrier", "tracking_number")
    assert not filled.ready


def test_fill_with_no_variables() -> None:
    assert fill(TEXT, {}).missing == ("customer_name", "order_id", "carrier", "tracking_number")
    assert fill("Thanks for waiting.", {}) == Filled("Thanks for waiting.", ())


def test_fill_inserts_values_verbatim_and_only_once() -> None:
    filled = fill("Hi {customer_name}", {"customer_name": "<b>{order_id}</b> & co"})
    assert filled == Filled("Hi <b>{order_id}</b> & co", ())


# --- context from the handoff packet ---------------------------------------------------------


def realistic_packet() -> dict[str, Any]:
    """A packet as the action server builds it (actions/handoff.py), for a returned order."""
    order = Order(
        id="SO-12345678",
        customer_id="cust-1001",
        status=OrderStatus.RETURNED,
        currency="USD",
        placed_on=date(2026, 5, 2),
        items=(OrderItem("SKU-1", "Trail Runner 2", "越野跑鞋 2", "shoes", 89.5, 1, "new"),),
        delivered_on=date(2026, 5, 6),
        carrier="UPS",
        tracking_number="1Z999",
        return_number="RA-123456",
    )
    tracker = make_tracker(
        {"order_id": "SO-12345678", "item": "running shoes", "new_address": None},
        {"channel": "widget", "customer_id": "cust-1001"},
        intent="request_human",
        events=[
            {"event": "user", "text": "return my shoes", "timestamp": 1.0},
            {
                "event": "bot",
                "text": "Your return is approved. Return authorisation: RA-123456.",
                "timestamp": 2.0,
            },
            {"event": "user", "text": "where is my refund? a.carter@example.com", "timestamp": 3.0},
        ],
    )
    tracker.latest_message["entities"] = [{"entity": "email", "value": "a.carter@example.com"}]
    return build_packet(tracker, "customer_request", order)


def test_context_from_a_realistic_packet() -> None:
    context = context_from_conversation(realistic_packet(), "Sam")
    # carrier and tracking_number are not in the packet's order summary yet; they fill in once they are
    assert (
        context.items()
        >= {
            "agent_name": "Sam",
            "customer_email": "a.carter@example.com",
            "order_id": "SO-12345678",
            "order_status": "returned",
            "order_total": "$89.50",
            "refund_amount": "$89.50",
            "item_name": "Trail Runner 2",
            "delivery_date": "May 6",
            "return_number": "RA-123456",
            "ticket_id": "conv-1",
        }.items()
    )
    assert "customer_name" not in context
    filled = fill("Hi {customer_name}, refund {refund_amount} for {order_id} is on its way.", context)
    assert filled.missing == ("customer_name",)


def test_context_in_chinese_uses_chinese_wording_and_optional_fields() -> None:
    packet = {
        "conversation_id": "web:42",
        "language": "zh",
        "slots": {
            "order_id": "SO-87654321",
            "new_address": "上海市浦东新区世纪大道100号",
            "customer_name": "王芳",
        },
        "order": {
            "id": "SO-87654321",
            "status": "shipped",
            "total": 299,
            "currency": "CNY",
            "items": [{"sku": "A", "name": "Kettle", "name_zh": "电热水壶"}],
            "carrier": "顺丰速运",
            "tracking_number": "SF1234567890",
            "eta": "2026-07-03",
        },
        "entities": "not a list",
        "transcript": None,
    }
    context = context_from_conversation(packet, None)
    assert context == {
        "customer_name": "王芳",
        "order_id": "SO-87654321",
        "order_status": "已发货",
        "order_total": "¥299.00",
        "item_name": "电热水壶",
        "eta": "7月3日",
        "carrier": "顺丰速运",
        "tracking_number": "SF1234567890",
        "new_address": "上海市浦东新区世纪大道100号",
        "ticket_id": "web:42",
    }


def test_with_several_items_the_customers_own_words_name_the_item() -> None:
    packet = {
        "language": "en",
        "slots": {"item": "blue jacket"},
        "order": {"items": [{"name": "Blue Jacket"}, {"name": "Scarf"}], "delivered_on": "bad date"},
    }
    assert context_from_conversation(packet, "Sam") == {"agent_name": "Sam", "item_name": "blue jacket"}


def test_context_without_a_packet() -> None:
    assert context_from_conversation(None, "Sam") == {"agent_name": "Sam"}
    assert context_from_conversation(None, None) == {}
    assert context_from_conversation({}, "  ") == {}
