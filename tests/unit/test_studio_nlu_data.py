"""The studio's training-data store over YAML files: listing, versions, adding, editing, moving and deleting
examples with their comments and layout kept, refusals that name the field and leave the files as they were,
live warnings, search, the inbox's unversioned add, and writers in several processes.

Exact expectations use a small project written here; the shipped data (a temporary copy) shows that every
real file survives a change byte for byte outside the lines it touches."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from handoff.errors import BadRequest, Conflict, NotFoundError
from handoff.studio import nlu_data
from handoff.studio.nlu_data import (
    MAX_TEXT_CHARS,
    NluData,
    NluWriteError,
    Refused,
    accept_example,
    normalised,
    parse_markup,
)

ROOT = Path(__file__).resolve().parents[2]

DOMAIN = """\
version: "3.1"
intents:
  - greet
  - order_status  # where a parcel is
  - cancel_order:
      use_entities: true
  - ask_gift_wrap
  - nlu_fallback
entities:
  - item
  - order_id
  - return_reason:
      roles: [first, second]
responses: {}
"""

EN_ORDERS = """\
# Orders: where they are and how to cancel them.
version: "3.1"
nlu:
# Where is my parcel.
- intent: order_status
  examples: |
    - where is my order
    - track my [blue jacket](item)
    - has SO-12345678 shipped
# Cancelling.
- intent: cancel_order
  examples: |
    - cancel my order
    - please cancel the [lamp](item)

- intent: greet
  examples: |
    - hello
    - hi there
"""

EN_BOUNDARIES = """\
version: "3.1"
nlu:
# Impatient, but still order status.
- intent: order_status
  examples: |
    - where is it, it's been a week
# One cancellation on the boundary.
- intent: cancel_order
  examples: |
    - just cancel it, i'm done waiting
# Greetings that say what is wrong.
- intent: greet
  examples: |
    - hi, the [shoes](item) are [too small]{"entity": "return_reason", "value": "wrong_size"}
"""

ZH_ORDERS = """\
version: "3.1"
nlu:
- intent: order_status
  examples: |
    - 我的快递到哪了
    - 查一下[耳机](item)的物流
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    files = {
        "bot/domain/base.yml": DOMAIN,
        "data/nlu/en/orders.yml": EN_ORDERS,
        "data/nlu/en/boundaries.yml": EN_BOUNDARIES,
        "data/nlu/zh/orders.yml": ZH_ORDERS,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped training data and domain."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "data" / "nlu", root / "data" / "nlu")
    shutil.copytree(ROOT / "bot" / "domain", root / "bot" / "domain")
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted((root / "data").rglob("*"))
        if p.is_file()
    }


def version(nlu: NluData, intent: str, language: str = "en") -> str:
    return nlu.examples(intent, language).version


def texts(nlu: NluData, intent: str, language: str = "en") -> list[str]:
    return [e.text for e in nlu.examples(intent, language).examples]


# -- markup --------------------------------------------------------------------------------------------


def test_markup_is_read_as_rasa_reads_it() -> None:
    plain, entities = parse_markup(
        'the [blue jacket](item) is [too big]{"entity": "return_reason", "value": "x"}'
    )
    assert plain == "the blue jacket is too big"
    assert [(e.entity, e.value, plain[e.start : e.end]) for e in entities] == [
        ("item", "blue jacket", "blue jacket"),
        ("return_reason", "x", "too big"),
    ]
    plain, entities = parse_markup(
        '[LA](city:Los Angeles) and [NY][{"entity": "a"}, {"entity": "b", "role": "r"}]'
    )
    assert plain == "LA and NY"
    assert [(e.entity, e.value, e.role) for e in entities] == [
        ("city", "Los Angeles", None),
        ("a", "NY", None),
        ("b", "NY", "r"),
    ]
    assert parse_markup("我的[耳机](item)坏了")[1][0].start == 2


@pytest.mark.parametrize(
    "text",
    [
        "the [blue jacket](item",
        "the [blue jacket]item)",
        "a stray ] bracket",
        "[x]{not json}",
        '[x]{"value": "no entity"}',
        '[x]{"entity": "item", "colour": "red"}',
        '[x]{"entity": "item", "value": true}',
        "[ x](item)",
        "[x ](item)",
        "[x](it em)",
        "[x][]",
    ],
)
def test_malformed_markup_is_refused(text: str) -> None:
    with pytest.raises(nlu_data.MarkupError):
        parse_markup(text)


def test_normalised_text_ignores_case_width_spacing_and_punctuation() -> None:
    assert normalised("Where's my ORDER?!") == normalised("wheres my order")
    assert normalised("我的 订单，到哪了？") == normalised("我的订单到哪了")
    assert normalised("ＡＢＣ１２３") == normalised("abc123")
    assert normalised("where is my order") != normalised("where is my parcel")


# -- reading -------------------------------------------------------------------------------------------


def test_intents_come_from_the_domain_with_counts_versions_and_files(tiny: Path) -> None:
    intents = {i["name"]: i for i in NluData(tiny).intents()}
    assert sorted(intents) == ["ask_gift_wrap", "cancel_order", "greet", "nlu_fallback", "order_status"]
    status = intents["order_status"]["languages"]
    assert status["en"]["count"] == 4 and status["zh"]["count"] == 2
    assert status["en"]["files"] == ["data/nlu/en/boundaries.yml", "data/nlu/en/orders.yml"]
    gift_wrap = intents["ask_gift_wrap"]["languages"]["en"]
    assert (gift_wrap["count"], gift_wrap["files"]) == (0, [])
    assert intents["nlu_fallback"]["editable"] is False and intents["greet"]["editable"] is True
    # a content hash: another store (another process) computes the same, another intent differs
    again = {i["name"]: i for i in NluData(tiny).intents()}
    assert again["order_status"]["languages"]["en"]["version"] == status["en"]["version"]
    assert status["en"]["version"] != status["zh"]["version"]


def test_examples_carry_plain_text_entities_and_their_file(tiny: Path) -> None:
    view = NluData(tiny).examples("greet", "en").as_dict()
    assert view["count"] == 3 and view["adds_to"] == "data/nlu/en/orders.yml"
    marked = view["examples"][0]
    assert marked["file"] == "data/nlu/en/boundaries.yml"
    assert marked["plain"] == "hi, the shoes are too small"
    assert [(e["entity"], e["value"]) for e in marked["entities"]] == [
        ("item", "shoes"),
        ("return_reason", "wrong_size"),
    ]
    assert [e["text"] for e in view["examples"][1:]] == ["hello", "hi there"]


def test_unknown_intents_and_languages_are_named(tiny: Path) -> None:
    nlu = NluData(tiny)
    with pytest.raises(NotFoundError) as missing:
        nlu.examples("order_statuss", "en")
    assert missing.value.code == "unknown_intent"
    with pytest.raises(BadRequest) as language:
        nlu.examples("greet", "fr")
    assert language.value.field == "language"


def test_a_broken_data_file_is_named_not_a_crash(tiny: Path) -> None:
    (tiny / "data/nlu/en/orders.yml").write_text("nlu: [unclosed\n", encoding="utf-8")
    with pytest.raises(Conflict) as broken:
        NluData(tiny).examples("greet", "en")
    assert broken.value.code == "invalid_data_file" and "data/nlu/en/orders.yml" in str(broken.value)


# -- adding --------------------------------------------------------------------------------------------


def test_new_examples_go_to_the_end_of_the_largest_block_and_nothing_else_changes(tiny: Path) -> None:
    nlu = NluData(tiny)
    before = snapshot(tiny)
    saved = nlu.add(
        "order_status",
        "en",
        ["  where is my [red scarf](item)\n now ", "tracking please"],
        version(nlu, "order_status"),
    )
    assert saved.texts == ("where is my [red scarf](item) now", "tracking please")
    expected = EN_ORDERS.replace(
        "    - has SO-12345678 shipped\n",
        "    - has SO-12345678 shipped\n    - where is my [red scarf](item) now\n    - tracking please\n",
    )
    after = snapshot(tiny)
    assert after.pop("data/nlu/en/orders.yml").decode() == expected
    before.pop("data/nlu/en/orders.yml")
    assert after == before
    assert saved.examples.version == version(nlu, "order_status") != version(NluData(tiny), "cancel_order")
    assert texts(nlu, "order_status")[-2:] == ["where is my [red scarf](item) now", "tracking please"]


def test_an_intent_without_examples_in_a_language_gets_them_in_studio_yml(tiny: Path) -> None:
    nlu = NluData(tiny)
    nlu.add("greet", "zh", ["你好"], version(nlu, "greet", "zh"))
    nlu.add("ask_gift_wrap", "zh", ["可以包装成礼物吗"], version(nlu, "ask_gift_wrap", "zh"))
    nlu.add("greet", "zh", ["在吗"], version(nlu, "greet", "zh"))
    studio = (tiny / "data/nlu/zh/studio.yml").read_text(encoding="utf-8")
    assert studio == (
        "# Examples added in the studio for intents that had none in this language.\n"
        'version: "3.1"\n'
        "nlu:\n"
        "- intent: greet\n"
        "  examples: |\n"
        "    - 你好\n"
        "    - 在吗\n"
        "- intent: ask_gift_wrap\n"
        "  examples: |\n"
        "    - 可以包装成礼物吗\n"
    )
    assert nlu.examples("greet", "zh").files == ("data/nlu/zh/studio.yml",)
    assert oct((tiny / "data/nlu/zh/studio.yml").stat().st_mode & 0o777) == "0o644"


def test_a_stale_version_is_a_conflict_carrying_the_current_examples(tiny: Path) -> None:
    nlu = NluData(tiny)
    seen = version(nlu, "greet")
    nlu.add("greet", "en", ["good morning"], seen)  # another editor was first
    before = snapshot(tiny)
    with pytest.raises(Conflict) as stale:
        nlu.add("greet", "en", ["good evening"], seen)
    assert stale.value.code == "edit_conflict"
    current = stale.value.current
    assert current["version"] == version(nlu, "greet") and "good morning" in [
        e["text"] for e in current["examples"]
    ]
    assert snapshot(tiny) == before


LONGEST = "a" * MAX_TEXT_CHARS


@pytest.mark.parametrize(
    ("texts_sent", "kind", "field"),
    [
        ([""], "empty", "texts[0]"),
        (["   \n\t "], "empty", "texts[0]"),
        (["fine", LONGEST + "a"], "too_long", "texts[1]"),
        (["[a][" * 1000], "too_long", "texts[0]"),  # refused before its markup is parsed
        ([7], "not_text", "texts[0]"),
        (["bad \x00 byte"], "control_characters", "texts[0]"),
        (["the [blue jacket](item"], "invalid_markup", "texts[0]"),
        (['[x]{"entity": "colour"}'], "unknown_entity", "texts[0]"),
        (["my [lamp](furniture) broke"], "unknown_entity", "texts[0]"),
        (["WHERE is  my order"], "duplicate_in_intent", "texts[0]"),
        (["track my [blue jacket](item)"], "duplicate_in_intent", "texts[0]"),
        (["new one", "New one"], "duplicate_in_intent", "texts[1]"),
        (["cancel my order"], "duplicate_elsewhere", "texts[0]"),  # exactly another intent's example
    ],
)
def test_refused_texts_name_the_field_and_change_no_file(
    tiny: Path, texts_sent: list[Any], kind: str, field: str
) -> None:
    nlu = NluData(tiny)
    before = snapshot(tiny)
    with pytest.raises(Refused) as refused:
        nlu.add("order_status", "en", texts_sent, version(nlu, "order_status"))
    assert (refused.value.kind, refused.value.field) == (kind, field)
    assert field in str(refused.value)
    assert snapshot(tiny) == before


def test_the_longest_text_counts_without_markup(tiny: Path) -> None:
    nlu = NluData(tiny)
    nlu.add("order_status", "en", [f"[{LONGEST}](item)"], version(nlu, "order_status"))


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda nlu, v: nlu.add("order_status", "en", [], v), "texts"),
        (lambda nlu, v: nlu.add("order_status", "en", "hello", v), "texts"),
        (lambda nlu, v: nlu.add("order_status", "en", ["x"] * 101, v), "texts"),
        (lambda nlu, v: nlu.add("order_status", "en", ["x"], None), "base_version"),
        (lambda nlu, v: nlu.add("order_status", "en", ["x"], ""), "base_version"),
        (lambda nlu, v: nlu.add("order_status", "de", ["x"], v), "language"),
        (lambda nlu, v: nlu.add("nlu_fallback", "en", ["x"], v), "intent"),
    ],
)
def test_bad_requests_name_the_field(tiny: Path, call: Callable[[NluData, str], Any], field: str) -> None:
    nlu = NluData(tiny)
    before = snapshot(tiny)
    with pytest.raises(BadRequest) as bad:
        call(nlu, version(nlu, "order_status"))
    assert bad.value.field == field
    assert snapshot(tiny) == before


def test_an_intent_outside_the_domain_is_refused(tiny: Path) -> None:
    nlu = NluData(tiny)
    with pytest.raises(NotFoundError):
        nlu.add("ask_weather", "en", ["is it sunny"], "whatever")


def test_awkward_characters_keep_the_literal_block(tiny: Path) -> None:
    nlu = NluData(tiny)
    awkward = [
        "# not a comment: \"quoted\" and 'single' {braces} & *star",
        "- starts with a dash",
        "emoji 😡 and a backslash \\ here",
        "trailing colon:",
        "全角，标点！和 ｆｕｌｌ ｗｉｄｔｈ",
    ]
    nlu.add("greet", "en", awkward, version(nlu, "greet"))
    text = (tiny / "data/nlu/en/orders.yml").read_text(encoding="utf-8")
    assert text.count("examples: |") == 3
    assert texts(NluData(tiny), "greet")[-5:] == awkward


# -- editing, deleting, moving ----------------------------------------------------------------------------


def test_an_edit_changes_the_line_where_it_stands(tiny: Path) -> None:
    nlu = NluData(tiny)
    saved = nlu.edit(
        "order_status",
        "en",
        "track my [blue jacket](item)",
        "track my [green coat](item)",
        version(nlu, "order_status"),
    )
    assert saved.texts == ("track my [green coat](item)",)
    assert (tiny / "data/nlu/en/orders.yml").read_text() == EN_ORDERS.replace("[blue jacket]", "[green coat]")
    assert texts(nlu, "order_status")[2] == "track my [green coat](item)"


def test_an_edit_in_a_second_file_and_its_refusals(tiny: Path) -> None:
    nlu = NluData(tiny)
    v = version(nlu, "cancel_order")
    nlu.edit("cancel_order", "en", "just cancel it, i'm done waiting", "just cancel it", v)
    assert "    - just cancel it\n" in (tiny / "data/nlu/en/boundaries.yml").read_text()
    v = version(nlu, "cancel_order")
    before = snapshot(tiny)
    with pytest.raises(BadRequest) as unknown:
        nlu.edit("cancel_order", "en", "not there", "x", v)
    assert unknown.value.field == "old"
    with pytest.raises(Refused) as duplicate:
        nlu.edit("cancel_order", "en", "just cancel it", "Cancel my order", v)
    assert (duplicate.value.kind, duplicate.value.field) == ("duplicate_in_intent", "new")
    with pytest.raises(Refused) as markup:
        nlu.edit("cancel_order", "en", "just cancel it", "cancel [it", v)
    assert markup.value.field == "new"
    with pytest.raises(Conflict):
        nlu.edit("cancel_order", "en", "just cancel it", "cancel it now", "stale")
    assert snapshot(tiny) == before
    # a change of case only is the same example, written better
    nlu.edit("cancel_order", "en", "just cancel it", "Just cancel it", v)
    # an unchanged text writes nothing
    unchanged = snapshot(tiny)
    nlu.edit("cancel_order", "en", "Just cancel it", "Just cancel it", version(nlu, "cancel_order"))
    assert snapshot(tiny) == unchanged


def test_deleting_the_last_example_of_a_block_removes_the_block_and_its_comment(tiny: Path) -> None:
    nlu = NluData(tiny)
    nlu.delete("cancel_order", "en", "just cancel it, i'm done waiting", version(nlu, "cancel_order"))
    assert (tiny / "data/nlu/en/boundaries.yml").read_text() == EN_BOUNDARIES.replace(
        "# One cancellation on the boundary.\n- intent: cancel_order\n  examples: |\n"
        "    - just cancel it, i'm done waiting\n",
        "",
    )
    nlu.delete("order_status", "en", "where is it, it's been a week", version(nlu, "order_status"))
    assert (tiny / "data/nlu/en/boundaries.yml").read_text() == (
        'version: "3.1"\nnlu:\n# Greetings that say what is wrong.\n- intent: greet\n  examples: |\n'
        '    - hi, the [shoes](item) are [too small]{"entity": "return_reason", "value": "wrong_size"}\n'
    )
    nlu.delete("greet", "en", texts(nlu, "greet")[0], version(nlu, "greet"))
    assert (tiny / "data/nlu/en/boundaries.yml").read_text() == 'version: "3.1"\nnlu: []\n'
    assert NluData(tiny).examples("greet", "en").files == ("data/nlu/en/orders.yml",)


def test_deleting_removes_every_copy_and_names_an_unknown_text(tiny: Path) -> None:
    nlu = NluData(tiny)
    path = tiny / "data/nlu/en/orders.yml"
    path.write_text(EN_ORDERS.replace("    - hi there\n", "    - hi there\n    - hello\n"), encoding="utf-8")
    nlu.delete("greet", "en", "hello", version(nlu, "greet"))
    assert texts(nlu, "greet") == [
        'hi, the [shoes](item) are [too small]{"entity": "return_reason", "value": "wrong_size"}',
        "hi there",
    ]
    with pytest.raises(BadRequest) as unknown:
        nlu.delete("greet", "en", "hello", version(nlu, "greet"))
    assert unknown.value.field == "text"


def test_moving_checks_both_versions_and_keeps_the_text_once(tiny: Path) -> None:
    nlu = NluData(tiny)
    source, target = version(nlu, "order_status"), version(nlu, "cancel_order")
    before = snapshot(tiny)
    with pytest.raises(Conflict) as stale:
        nlu.move("order_status", "en", "where is my order", "cancel_order", (source, "stale"))
    assert stale.value.current["intent"] == "cancel_order"
    for to_intent, field in (("order_status", "to_intent"), ("ask_weather", "to_intent"), ("", "to_intent")):
        with pytest.raises(BadRequest) as bad:
            nlu.move("order_status", "en", "where is my order", to_intent, (source, target))
        assert bad.value.field == field
    assert snapshot(tiny) == before

    saved = nlu.move("order_status", "en", "where is it, it's been a week", "cancel_order", (source, target))
    assert saved.target is not None
    assert "where is it, it's been a week" not in texts(nlu, "order_status")
    assert texts(nlu, "cancel_order")[-1] == "where is it, it's been a week"
    assert saved.target.version == version(nlu, "cancel_order")
    assert saved.examples.version == version(nlu, "order_status")
    # it went to cancel_order's largest block, in the other file; its old block is gone
    assert "it's been a week" in (tiny / "data/nlu/en/orders.yml").read_text()
    assert "it's been a week" not in (tiny / "data/nlu/en/boundaries.yml").read_text()


def test_the_same_text_in_another_intent_of_another_language_is_refused(tiny: Path) -> None:
    nlu = NluData(tiny)
    with pytest.raises(Refused) as duplicate:
        nlu.add("cancel_order", "en", ["我的快递到哪了"], version(nlu, "cancel_order"))
    assert duplicate.value.kind == "duplicate_elsewhere" and "'order_status' (zh)" in str(duplicate.value)


def test_a_move_into_an_intent_that_has_the_text_is_refused(tiny: Path) -> None:
    nlu = NluData(tiny)
    nlu.add("cancel_order", "en", ["Where is my order"], version(nlu, "cancel_order"))
    with pytest.raises(Refused) as duplicate:
        nlu.move(
            "order_status",
            "en",
            "where is my order",
            "cancel_order",
            (version(nlu, "order_status"), version(nlu, "cancel_order")),
        )
    assert (duplicate.value.kind, duplicate.value.field) == ("duplicate_in_intent", "text")


# -- warnings and search ----------------------------------------------------------------------------------


def test_warnings_say_what_is_doubtful_without_writing(tiny: Path) -> None:
    nlu = NluData(tiny)
    before = snapshot(tiny)
    found = nlu.warnings(
        "greet",
        "en",
        ["Cancel my order!", "hello", "my [SO-12345678](order_id)", "[x](colour)", "good day"],
    )
    assert snapshot(tiny) == before
    by_kind = {(w["kind"], w["index"]): w for w in found}
    other = by_kind[("same_text_in_other_intent", 0)]
    assert (other["intent"], other["language"], other["example"], other["blocking"]) == (
        "cancel_order",
        "en",
        "cancel my order",
        False,
    )
    assert by_kind[("duplicate_in_intent", 1)]["blocking"] is True
    assert by_kind[("pattern_entity", 2)]["entity"] == "order_id"
    assert by_kind[("unknown_entity", 3)]["blocking"] is True
    few = {w["language"]: w for w in found if w["kind"] == "few_examples"}
    assert few["en"]["count"] == 3 + 3  # three of the five would be saved
    assert few["zh"]["count"] == 0 and few["zh"]["minimum"] == 10
    assert [w for w in found if w["index"] == 4] == []


def test_warnings_name_bad_fields(tiny: Path) -> None:
    nlu = NluData(tiny)
    for args, field in (
        (("", "en", []), "intent"),
        (("ask_weather", "en", []), "intent"),
        (("greet", "xx", []), "language"),
        (("greet", "en", "hello"), "texts"),
    ):
        with pytest.raises(BadRequest) as bad:
            nlu.warnings(*args)
        assert bad.value.field == field


def test_search_across_intents_and_languages(tiny: Path) -> None:
    nlu = NluData(tiny)
    found = nlu.search("CANCEL")
    assert [(e["intent"], e["text"]) for e in found["examples"]] == [
        ("cancel_order", "just cancel it, i'm done waiting"),
        ("cancel_order", "cancel my order"),
        ("cancel_order", "please cancel the [lamp](item)"),
    ]
    assert nlu.search("blue jacket")["examples"][0]["intent"] == "order_status"
    assert nlu.search("(item)")["total"] == 4  # the markup as written
    assert [e["text"] for e in nlu.search("快递")["examples"]] == ["我的快递到哪了"]
    assert nlu.search("ｃａｎｃｅｌ", language="en", intent="cancel_order")["total"] == 3
    assert nlu.search("order", intent="greet")["total"] == 0
    limited = nlu.search("", limit=2)
    assert (limited["total"], len(limited["examples"]), limited["truncated"]) == (12, 2, True)
    with pytest.raises(BadRequest) as long_query:
        nlu.search("x" * 201)
    assert long_query.value.field == "q"
    with pytest.raises(BadRequest) as intent:
        nlu.search("x", intent="nope")
    assert intent.value.field == "intent"


# -- the inbox's add ---------------------------------------------------------------------------------------


def test_accepting_a_customer_message_masks_it_and_needs_no_version(tiny: Path) -> None:
    nlu = NluData(tiny)
    accepted = accept_example(nlu, "order_status", "zh", "订单SO-28471930到哪了？电话13812345678 [急]")
    assert accepted.example.text == "订单SO-12345678到哪了？电话13000000000 (急)"
    assert accepted.example.entities == ()  # a customer's brackets are not markup
    assert accepted.masked == ("order_id", "phone")
    assert texts(nlu, "order_status", "zh")[-1] == accepted.example.text
    with pytest.raises(BadRequest) as duplicate:
        accept_example(nlu, "order_status", "zh", "订单SO-99999999到哪了？电话13912345678 [急]")
    assert duplicate.value.field == "text" and "already an example" in str(duplicate.value)
    with pytest.raises(BadRequest) as unknown:
        accept_example(nlu, "no_such_intent", "en", "hi")
    assert unknown.value.field == "intent" and "no_such_intent" in str(unknown.value)
    with pytest.raises(BadRequest) as empty:
        accept_example(nlu, "greet", "en", "   ")
    assert empty.value.field == "text"


# -- files -------------------------------------------------------------------------------------------------


def test_a_write_whose_result_does_not_check_out_replaces_nothing(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nlu = NluData(tiny)
    before = snapshot(tiny)

    real_check = NluData._check_written
    calls: list[Path] = []

    def broken_on_disk(self: NluData, path: Path, original: str, content: str, wanted: Any) -> None:
        calls.append(path)
        if len(calls) == 2:  # the temporary file, read back
            raise NluWriteError("does not hold the intended examples")
        real_check(self, path, original, content, wanted)

    monkeypatch.setattr(NluData, "_check_written", broken_on_disk)
    with pytest.raises(NluWriteError):
        nlu.add("greet", "en", ["good day"], version(nlu, "greet"))
    assert len(calls) == 2
    assert snapshot(tiny) == before  # no temporary file left beside the data either


def test_a_move_replaces_the_receiving_file_first(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure between the two renames leaves a copy of the example, never a loss."""
    nlu = NluData(tiny)
    replaced: list[str] = []
    real_replace = os.replace

    def recording(source: Any, target: Any) -> None:
        replaced.append(Path(target).name)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", recording)
    nlu.move("greet", "en", "hello", "order_status", (version(nlu, "greet"), version(nlu, "order_status")))
    assert replaced == ["orders.yml"]  # one file holds both blocks: one write
    replaced.clear()
    versions = (version(nlu, "cancel_order"), version(nlu, "order_status"))
    nlu.move("cancel_order", "en", "just cancel it, i'm done waiting", "order_status", versions)
    assert replaced == ["orders.yml", "boundaries.yml"]


def test_every_shipped_file_is_kept_byte_for_byte_outside_the_changed_lines(project: Path) -> None:
    nlu = NluData(project)
    before = snapshot(project)
    homes: dict[str, tuple[str, str]] = {}
    for listed in nlu.intents():
        for language in ("en", "zh"):
            if listed["editable"] and listed["languages"][language]["count"]:
                homes.setdefault(nlu.examples(listed["name"], language).adds_to, (listed["name"], language))
    assert len(homes) >= 20
    for file, (intent, language) in sorted(homes.items()):
        probe = f"studio probe for {intent} {language}"
        nlu.add(intent, language, [probe], nlu.examples(intent, language).version)
        changed = (project / file).read_text(encoding="utf-8")
        assert changed.count(f"    - {probe}\n") == 1, file
        assert changed.replace(f"    - {probe}\n", "", 1).encode() == before[file], file
        nlu.delete(intent, language, probe, nlu.examples(intent, language).version)
    assert snapshot(project) == before


def test_shipped_data_reads_without_problems(project: Path) -> None:
    nlu = NluData(project)
    for intent in nlu.intents():
        for language in ("en", "zh"):
            found = nlu.examples(intent["name"], language)
            assert [e.text for e in found.examples if e.problem] == []


def _accept_many(root: str, worker: int) -> list[str]:
    nlu = NluData(Path(root))
    added = []
    for n in range(5):
        accepted = accept_example(nlu, "greet", "en", f"greeting {worker}-{n} from a parallel worker")
        added.append(accepted.example.text)
    return added


def test_writers_in_several_processes_do_not_lose_each_others_examples(tiny: Path) -> None:
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=3, mp_context=context) as pool:
        results = list(pool.map(_accept_many, [str(tiny)] * 3, range(3)))
    written = texts(NluData(tiny), "greet")
    assert sorted(t for r in results for t in r) == sorted(t for t in written if "parallel" in t)
    assert len([t for t in written if "parallel" in t]) == 15
