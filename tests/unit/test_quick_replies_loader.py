from pathlib import Path

import pytest

from handoff.quick_replies.loader import TemplateError, load_templates
from handoff.quick_replies.model import CATEGORIES, LANGUAGES, VARIABLES, template_variables
from handoff.quick_replies.search import QuickReplies
from tests.unit.quick_reply_files import GOOD, SHIPPED, second, write


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


# --- validation ------------------------------------------------------------------------------


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
