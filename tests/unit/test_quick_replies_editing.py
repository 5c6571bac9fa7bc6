"""Editing quick-reply templates (handoff/quick_replies/editing.py) and serving them without a restart
(live.py): the files keep their layout, every change is checked like the CLI checks the files, an edit
based on an old version is refused, a failed write leaves the files as they were, and a second worker
sharing Redis and the files serves a change as soon as it is announced."""

from __future__ import annotations

import asyncio
import difflib
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from handoff.quick_replies.editing import (
    LOCK_NAME,
    SAMPLES,
    DraftInvalid,
    EditorBusy,
    FilesUnusable,
    FilesUnwritable,
    TemplateEditor,
    TemplateNotFound,
    VersionConflict,
    directory_lock,
    preview,
)
from handoff.quick_replies.live import STATE_KEY, LiveQuickReplies, announce
from handoff.quick_replies.loader import TemplateError, check_sources, field_problems, load_templates
from handoff.quick_replies.model import LANGUAGES, VARIABLES
from tests.unit.quick_reply_files import GOOD, SHIPPED, second, write

REDIS_DB = 15  # only the quick-reply keys, deleted before each test that uses them


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    copy = tmp_path / "quick_replies"
    shutil.copytree(SHIPPED, copy)
    return copy


@pytest.fixture
def editor(directory: Path) -> TemplateEditor:
    return TemplateEditor(directory, lock_timeout=2.0)


def snapshot(directory: Path) -> dict[str, str]:
    """Every file but the lock file, temporary ones included."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.iterdir()) if p.name != LOCK_NAME}


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def variant(text: str, **fields: Any) -> dict[str, Any]:
    return {"shortcut": "newone", "title": "A new one", "category": "shipping", "text": text, **fields}


# --- listing --------------------------------------------------------------------------------------


async def test_templates_are_listed_by_id_with_both_languages_files_variables_and_versions(
    editor: TemplateEditor,
) -> None:
    templates = {t.id: t for t in await editor.templates()}
    shipped = load_templates(SHIPPED)
    assert len(templates) == len({t.id for t in shipped.templates})
    both = templates["greeting.order_context"].as_json()
    assert both["languages"]["en"]["file"] == "en.yml" and both["languages"]["zh"]["file"] == "zh.yml"
    assert both["languages"]["en"]["variables"] == ["customer_name", "agent_name", "order_id"]
    english_only = templates["greeting.after_hours"].as_json()
    assert english_only["languages"]["zh"] is None
    assert len({t.version for t in templates.values()}) == len(templates)
    again = {t.id: t.version for t in await editor.templates()}
    assert again == {t.id: t.version for t in templates.values()}


async def test_an_unknown_template_is_not_found(editor: TemplateEditor) -> None:
    with pytest.raises(TemplateNotFound):
        await editor.template("greeting.nobody")


# --- saving keeps the files' layout -----------------------------------------------------------------


async def test_an_update_changes_only_the_fields_that_changed(
    editor: TemplateEditor, directory: Path
) -> None:
    before = snapshot(directory)
    current = await editor.template("greeting.order_context")
    english = {**current.as_json()["languages"]["en"], "title": "Welcome, with the order"}
    saved = await editor.save(
        "greeting.order_context", {"version": current.version, "languages": {"en": english}}
    )
    assert saved.changed and not saved.created and saved.previous == current
    after = snapshot(directory)
    assert after["zh.yml"] == before["zh.yml"]
    assert changed_lines(before["en.yml"], after["en.yml"]) == [
        "-    title: Welcome with order",
        "+    title: Welcome, with the order",
    ]
    assert saved.template.version != current.version
    assert (await editor.template("greeting.order_context")).version == saved.template.version


async def test_a_new_template_goes_after_its_category_and_before_the_next_sections_header(
    editor: TemplateEditor, directory: Path
) -> None:
    before = snapshot(directory)
    draft = {
        "version": None,
        "languages": {
            "en": variant("Your parcel {tracking_number} is with {carrier}."),
            "zh": variant("您的包裹{tracking_number}由{carrier}配送。", shortcut="baoguo", title="包裹"),
        },
    }
    saved = await editor.save("shipping.parcel_carrier", draft)
    assert saved.created and saved.warnings == []
    lines = (directory / "en.yml").read_text(encoding="utf-8").splitlines()
    at = lines.index("  - id: shipping.parcel_carrier")
    assert lines[at : at + 5] == [
        "  - id: shipping.parcel_carrier",
        "    shortcut: newone",
        "    title: A new one",
        "    category: shipping",
        '    text: "Your parcel {tracking_number} is with {carrier}."',
    ]
    assert lines[at - 1].startswith("    text: ")  # right after the last shipping template
    assert lines[at + 5] == "" and lines[at + 6].startswith("  # --- returns")
    assert len(changed_lines(before["en.yml"], "\n".join(lines))) == 5
    assert load_templates(directory).get("zh", "shipping.parcel_carrier") is not None


@pytest.mark.parametrize("template_id", ["greeting.welcome", "greeting.after_hours", "general.checking"])
async def test_a_deletion_leaves_every_section_header_in_place(
    editor: TemplateEditor, directory: Path, template_id: str
) -> None:
    """The first template of the file, the last of a section (the next header hangs on it) and the first
    of a section: only the template's own five lines go."""
    before = snapshot(directory)
    current = await editor.template(template_id)
    deleted = await editor.delete(template_id, current.version)
    assert deleted == current
    after = snapshot(directory)
    removed = changed_lines(before["en.yml"], after["en.yml"])
    assert len(removed) == 5 and all(line.startswith("-") for line in removed)
    assert removed[0] == f"-  - id: {template_id}"
    with pytest.raises(TemplateNotFound):
        await editor.template(template_id)


async def test_one_language_can_be_removed_and_the_other_stays(
    editor: TemplateEditor, directory: Path
) -> None:
    before = snapshot(directory)
    current = await editor.template("greeting.order_context")
    saved = await editor.save(
        "greeting.order_context", {"version": current.version, "languages": {"zh": None}}
    )
    assert set(saved.template.languages) == {"en"}
    assert [w.field for w in saved.warnings] == ["languages.zh"]
    assert snapshot(directory)["en.yml"] == before["en.yml"]
    assert load_templates(directory).get("zh", "greeting.order_context") is None


async def test_a_template_can_move_to_another_file_of_its_language(
    editor: TemplateEditor, directory: Path
) -> None:
    current = await editor.template("greeting.after_hours")
    english = {**current.as_json()["languages"]["en"], "file": "en-night.yml"}
    await editor.save("greeting.after_hours", {"version": current.version, "languages": {"en": english}})
    moved = load_templates(directory).get("en", "greeting.after_hours")
    assert moved is not None and moved.file == "en-night.yml"
    assert "greeting.after_hours" not in (directory / "en.yml").read_text(encoding="utf-8")
    assert (directory / "en-night.yml").read_text(encoding="utf-8").startswith("# Quick replies")


async def test_saving_the_same_content_writes_nothing(editor: TemplateEditor, directory: Path) -> None:
    current = await editor.template("greeting.order_context")
    stamp = (directory / "en.yml").stat().st_mtime_ns
    saved = await editor.save("greeting.order_context", {"version": current.version, **current.as_json()})
    assert not saved.changed and saved.template == current
    assert (directory / "en.yml").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("no", 'She said "hi" \\ then {agent_name} left.'),
        ("1.0", "Line one\nline two, with a tab\there"),
        ("yes: maybe", "Emoji 🎉 and 中文 and a trailing colon:"),
        ("# not a comment", "- not a list"),
        ("@at [bracket] {brace}", "'single' quotes and a % sign"),
    ],
)
async def test_values_yaml_would_misread_are_quoted_and_read_back_exactly(
    editor: TemplateEditor, directory: Path, title: str, text: str
) -> None:
    await editor.save("general.tricky", {"version": None, "languages": {"en": variant(text, title=title)}})
    written = load_templates(directory).get("en", "general.tricky")
    assert written is not None and (written.title, written.text) == (title, text)


async def test_a_file_can_be_created_for_a_language_without_one(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    draft = {"version": None, "languages": {"zh": variant("您好{agent_name}", shortcut="nihao")}}
    await TemplateEditor(tmp_path).save("greeting.hello", draft)
    replies = load_templates(tmp_path)
    assert replies.counts() == {"en": 1, "zh": 1}
    assert (tmp_path / "zh.yml").exists()


# --- optimistic concurrency -------------------------------------------------------------------------


async def test_an_edit_based_on_an_old_version_is_refused_with_the_current_one(
    editor: TemplateEditor,
) -> None:
    opened = await editor.template("greeting.order_context")
    english = opened.as_json()["languages"]["en"]
    first = await editor.save(
        "greeting.order_context",
        {"version": opened.version, "languages": {"en": {**english, "title": "First"}}},
    )
    with pytest.raises(VersionConflict) as refused:
        await editor.save(
            "greeting.order_context",
            {"version": opened.version, "languages": {"en": {**english, "title": "Second"}}},
        )
    assert refused.value.code == "quick_reply_changed"
    assert refused.value.current == first.template
    with pytest.raises(VersionConflict):
        await editor.delete("greeting.order_context", opened.version)
    assert (await editor.template("greeting.order_context")).languages["en"].title == "First"


async def test_a_hand_edit_of_the_file_also_makes_the_version_old(
    editor: TemplateEditor, directory: Path
) -> None:
    opened = await editor.template("greeting.order_context")
    path = directory / "en.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("Welcome with order", "Edited by hand"), "utf-8")
    with pytest.raises(VersionConflict) as refused:
        await editor.save("greeting.order_context", {"version": opened.version, "languages": {}})
    assert refused.value.current is not None
    assert refused.value.current.languages["en"].title == "Edited by hand"


async def test_creating_an_existing_id_or_updating_a_deleted_one_is_a_conflict(
    editor: TemplateEditor,
) -> None:
    current = await editor.template("greeting.order_context")
    with pytest.raises(VersionConflict) as exists:
        await editor.save("greeting.order_context", {"version": None, "languages": {"en": variant("Hi")}})
    assert exists.value.code == "quick_reply_exists" and exists.value.current == current
    await editor.delete("greeting.order_context", current.version)
    with pytest.raises(VersionConflict) as deleted:
        await editor.save("greeting.order_context", {"version": current.version, "languages": {}})
    assert deleted.value.code == "quick_reply_deleted" and deleted.value.current is None


async def test_concurrent_saves_of_different_templates_are_all_kept(
    editor: TemplateEditor, directory: Path
) -> None:
    drafts = [
        ("general.one", {"version": None, "languages": {"en": variant("One", shortcut="one")}}),
        ("general.two", {"version": None, "languages": {"en": variant("Two", shortcut="two")}}),
        ("general.three", {"version": None, "languages": {"en": variant("Three", shortcut="three")}}),
    ]
    other = TemplateEditor(directory)  # another editor object: the lock is on the directory, not the object
    await asyncio.gather(*(e.save(i, d) for e, (i, d) in zip((editor, other, editor), drafts, strict=True)))
    replies = load_templates(directory)
    assert all(replies.get("en", template_id) is not None for template_id, _ in drafts)


# --- validation names the field -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template_id", "body", "field", "message"),
    [
        (
            "general.new",
            {"version": None, "languages": {"en": variant("Order {order_no} is late.")}},
            "languages.en.text",
            "unknown variable {order_no} (did you mean {order_id}?)",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("{Order Id}")}},
            "languages.en.text",
            "malformed",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("Oops {order_id")}},
            "languages.en.text",
            "unbalanced",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("Hi", shortcut="hi")}},
            "languages.en.shortcut",
            "already used by 'greeting.welcome'",
        ),
        (
            "general.new",
            {"version": None, "languages": {"zh": variant("您好", shortcut="nihao")}},
            "languages.zh.shortcut",
            "already used",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("Hi", shortcut="/x y")}},
            "languages.en.shortcut",
            "may only contain",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("Hi", category="misc")}},
            "languages.en.category",
            "unknown category",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": {"shortcut": "x", "title": "X", "category": "general"}}},
            "languages.en.text",
            "required",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("   ")}},
            "languages.en.text",
            "must not be empty",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("x" * 2001)}},
            "languages.en.text",
            "longer than 2000",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("Hi", title="a\u2028b")}},
            "languages.en.title",
            "line separators",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("Hi\u0000")}},
            "languages.en.text",
            "control characters",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("Hi", title=7)}},
            "languages.en.title",
            "must be a string",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("Hi", colour="red")}},
            "languages.en.colour",
            "unknown field",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("Hi", file="../x.yml")}},
            "languages.en.file",
            "file name",
        ),
        (
            "general.new",
            {"version": None, "languages": {"en": variant("Hi", file="zh.yml")}},
            "languages.en.file",
            "starting with 'en'",
        ),
        (
            "general.new",
            {"version": None, "languages": {"fr": variant("Salut")}},
            "languages.fr",
            "unknown language",
        ),
        ("general.new", {"version": None, "languages": {"en": "Hi"}}, "languages.en", "must be an object"),
        ("general.new", {"version": None, "languages": {}}, "languages", "at least one language"),
        ("general.new", {"version": None, "languages": {"en": None}}, "languages", "at least one language"),
        ("general.new", {"version": None}, "languages", "required"),
        ("general.new", {"languages": {"en": variant("Hi")}}, "version", "required"),
        ("general.new", {"version": 3, "languages": {"en": variant("Hi")}}, "version", "'version' must be"),
        ("General.New", {"version": None, "languages": {"en": variant("Hi")}}, "id", "'id' must be"),
        ("check", {"version": None, "languages": {"en": variant("Hi")}}, "id", "reserved"),
        (
            "general.new",
            {"id": "general.other", "version": None, "languages": {"en": variant("Hi")}},
            "id",
            "differs",
        ),
        (
            "general.new",
            {"version": None, "langauges": {}, "languages": {"en": variant("Hi")}},
            "langauges",
            "unknown field",
        ),
    ],
)
async def test_a_bad_draft_is_refused_naming_the_field_and_nothing_is_written(
    editor: TemplateEditor, directory: Path, template_id: str, body: dict[str, Any], field: str, message: str
) -> None:
    before = snapshot(directory)
    with pytest.raises(DraftInvalid) as refused:
        await editor.save(template_id, body)
    assert refused.value.field == field
    assert message in str(refused.value) and str(refused.value).startswith(f"{field}: ")
    assert snapshot(directory) == before


async def test_the_checker_reports_every_problem_with_variables_and_a_filled_preview(
    editor: TemplateEditor, directory: Path
) -> None:
    before = snapshot(directory)
    checked = await editor.check(
        {
            "id": "orders.late",
            "languages": {
                "en": variant("Hi {customer_name}, order {order_no} ships {eta}; {bogus}", shortcut="hi"),
                "zh": variant("{customer_name}您好，订单{order_id}预计{eta}送达。", shortcut="wandao"),
            },
        }
    )
    fields = [(p.field, p.severity) for p in checked.problems]
    assert fields == [
        ("languages.en.text", "error"),
        ("languages.en.text", "error"),
        ("languages.en.shortcut", "error"),
    ]
    assert not checked.ok
    body = checked.as_json()
    assert body["languages"]["en"]["variables"] == ["customer_name", "eta"]
    assert body["languages"]["en"]["preview"].startswith("Hi Alice Carter, order {order_no} ships May 9")
    assert body["languages"]["zh"]["preview"] == "王芳您好，订单SO-10001021预计5月9日送达。"
    assert snapshot(directory) == before


async def test_the_checker_warns_about_a_missing_language_and_an_old_version(editor: TemplateEditor) -> None:
    current = await editor.template("greeting.after_hours")
    fine = await editor.check({"id": "greeting.after_hours", "version": current.version, "languages": {}})
    assert fine.ok and [(p.field, p.severity) for p in fine.problems] == [("languages.zh", "warning")]
    stale = await editor.check({"id": "greeting.after_hours", "version": "0" * 16, "languages": {}})
    assert not stale.ok and stale.problems[0].field == "version"
    taken = await editor.check({"id": "greeting.after_hours", "version": None, "languages": {}})
    assert taken.problems[0].field == "id" and "already exists" in taken.problems[0].message


def test_every_variable_has_a_sample_in_each_language_and_the_previews_are_complete() -> None:
    for language in LANGUAGES:
        assert set(SAMPLES[language]) == set(VARIABLES)
        assert "{" not in preview(" ".join(f"{{{name}}}" for name in VARIABLES), language)


def test_the_loaders_field_checks_report_every_problem_with_its_field() -> None:
    values = {"id": "Bad Id", "shortcut": "a b", "category": "misc", "text": "{x} {y"}
    assert [field for field, _ in field_problems(values, "en")] == [
        "id",
        "shortcut",
        "category",
        "text",
        "text",
    ]


def test_a_file_error_names_the_field(tmp_path: Path) -> None:
    write(tmp_path, GOOD + second(text='"Order {order_no}."'))
    with pytest.raises(TemplateError) as caught:
        load_templates(tmp_path)
    assert (caught.value.field, caught.value.template_id) == ("text", "orders.status")


# --- atomic writes and the lock -------------------------------------------------------------------------


async def test_a_write_that_fails_its_check_leaves_the_files_and_no_temporary_file(
    editor: TemplateEditor, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(directory)
    real = check_sources
    calls: list[int] = []

    def failing_second_time(sources: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:  # the first reads the current files, the second the temporary ones
            raise TemplateError(str(directory / "en.yml"), 3, "simulated", "general.new", "text")
        return real(sources)

    monkeypatch.setattr("handoff.quick_replies.editing.check_sources", failing_second_time)
    with pytest.raises(DraftInvalid) as refused:
        await editor.save("general.new", {"version": None, "languages": {"en": variant("Hi")}})
    assert refused.value.field == "languages.en.text"
    assert snapshot(directory) == before  # no *.tmp left over either: the listing is the same


async def test_a_rename_that_fails_leaves_the_files_and_no_temporary_file(
    editor: TemplateEditor, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(directory)

    def refuse(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(FilesUnwritable, match="No space left"):
        await editor.save("general.new", {"version": None, "languages": {"en": variant("Hi")}})
    assert snapshot(directory) == before


async def test_broken_files_are_reported_not_overwritten(editor: TemplateEditor, directory: Path) -> None:
    (directory / "en.yml").write_text(GOOD + second(text='"{order_no}"'), encoding="utf-8")
    before = snapshot(directory)
    with pytest.raises(FilesUnusable, match=r"en\.yml:13: template 'orders.status': unknown variable"):
        await editor.save("general.new", {"version": None, "languages": {"en": variant("Hi")}})
    with pytest.raises(FilesUnusable):
        await editor.templates()
    assert snapshot(directory) == before


async def test_a_writer_waits_for_the_lock_and_gives_up_with_busy(
    editor: TemplateEditor, directory: Path
) -> None:
    async with directory_lock(directory, exclusive=True):
        with pytest.raises(EditorBusy):
            await TemplateEditor(directory, lock_timeout=0.2).save(
                "general.new", {"version": None, "languages": {"en": variant("Hi")}}
            )
    saved = await editor.save("general.new", {"version": None, "languages": {"en": variant("Hi")}})
    assert saved.created


@pytest.fixture
def lock_held_by_another_process(directory: Path) -> Iterator[None]:
    holder = subprocess.Popen(  # our own interpreter with a fixed script
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(30)\n",
            str(directory / LOCK_NAME),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


async def test_the_lock_holds_across_processes(directory: Path, lock_held_by_another_process: None) -> None:
    before = snapshot(directory)
    with pytest.raises(EditorBusy):
        await TemplateEditor(directory, lock_timeout=0.3).save(
            "general.new", {"version": None, "languages": {"en": variant("Hi")}}
        )
    with pytest.raises(EditorBusy):  # readers wait too: a change may span two files
        await TemplateEditor(directory, lock_timeout=0.3).templates()
    assert snapshot(directory) == before


async def test_a_read_only_directory_is_reported_as_unwritable(
    editor: TemplateEditor, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def read_only_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT:  # what a read-only file system (or a root-owned image) refuses
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    with pytest.raises(FilesUnwritable, match="cannot be written"):
        await editor.save("general.new", {"version": None, "languages": {"en": variant("Hi")}})
    assert len(await editor.templates()) > 0  # reading needs no lock file where nobody can write


# --- live reload across workers -------------------------------------------------------------------------


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}", decode_responses=True)
    await client.delete(STATE_KEY)
    try:
        yield client
    finally:
        await client.delete(STATE_KEY)
        await client.aclose()


async def wait_until(condition: Any, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_save_in_one_worker_is_served_by_another_without_a_restart(
    directory: Path, redis_client: aioredis.Redis, redis_url: str
) -> None:
    # Two workers: separate LiveQuickReplies, each with its own Redis connection, sharing the files.
    other_client = aioredis.Redis.from_url(
        redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}", decode_responses=True
    )
    saver, other = LiveQuickReplies(directory), LiveQuickReplies(directory, max_age=0.0)
    await saver.start(redis_client)
    await other.start(other_client)
    try:
        assert other.search("parcel-where", "en") == []
        draft = {
            "version": None,
            "languages": {"en": variant("Where is {order_id}?", shortcut="parcel-where")},
        }
        await TemplateEditor(directory).save("orders.where", draft, saver.announce)
        # the other worker checks Redis before it answers: the new template at once
        assert [t.id for t in (await other.current()).search("parcel-where", "en")] == ["orders.where"]
        await saver.refresh()
        assert saver.digest == other.digest  # the saving worker reloads too

        current = await TemplateEditor(directory).template("orders.where")
        gone = await TemplateEditor(directory).delete("orders.where", current.version, saver.announce)
        assert gone == current
        assert (await other.current()).get("en", "orders.where") is None
    finally:
        await saver.stop()
        await other.stop()
        await other_client.aclose()


async def test_a_worker_that_reads_an_old_view_of_shared_files_reads_again(
    directory: Path, redis_client: aioredis.Redis
) -> None:
    live = LiveQuickReplies(directory, max_age=0.0, settle_seconds=60.0)
    await live.start(redis_client)
    try:
        await announce(redis_client, "a digest of files this machine does not see yet")
        assert await live.refresh()  # read, but the digest differs: not taken as the announced version
        assert await live.refresh()  # so the next check reads again
        await announce(redis_client, live.digest)
        assert await live.refresh()
        assert not await live.refresh()  # caught up: nothing more to read
    finally:
        await live.stop()


async def test_files_changed_by_hand_are_noticed_and_broken_ones_keep_the_last_good_set(
    directory: Path, redis_client: aioredis.Redis
) -> None:
    live = LiveQuickReplies(directory, poll_seconds=0.0)
    await live.start(redis_client)
    try:
        path = directory / "en.yml"
        path.write_text(
            path.read_text(encoding="utf-8").replace("shortcut: hi\n", "shortcut: hey\n"), "utf-8"
        )
        found = (await live.current()).search("hey", "en")
        assert [t.id for t in found][:1] == ["greeting.welcome"]
        good = len(live)
        path.write_text("version: 1\nlanguage: en\ntemplates: [\n", encoding="utf-8")
        await live.current()
        assert len(live) == good and live.get("en", "greeting.welcome") is not None
    finally:
        await live.stop()


async def test_announce_bumps_the_version(redis_client: aioredis.Redis) -> None:
    first = await announce(redis_client, "d1")
    second_version = await announce(redis_client, "d2")
    assert second_version == first + 1
    assert await redis_client.hgetall(STATE_KEY) == {"version": str(second_version), "digest": "d2"}


async def test_redis_being_down_only_delays_a_change(directory: Path) -> None:
    unreachable = aioredis.Redis(host="127.0.0.1", port=9, retry=Retry(NoBackoff(), 0))
    live = LiveQuickReplies(directory, max_age=0.0)
    await live.start(unreachable)
    try:
        assert len(await live.current()) == len(load_templates(directory))
    finally:
        await live.stop()
        await unreachable.aclose()
