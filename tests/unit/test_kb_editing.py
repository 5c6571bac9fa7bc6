"""Editing articles for the studio (kb_index.editing): fields checked one by one with the field named,
optimistic concurrency by content hash, atomic writes under a lock shared by processes, text diffs between
versions, and rollbacks that restore the article files with the served version."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kb_index import editing, storage
from kb_index.articles import article_files, content_hash, load_articles, parse_article
from kb_index.build import build
from kb_index.editing import EditConflict, FieldError, KbWorkspace, Missing
from kb_index.manifest import IndexLoadError, read_manifest
from kb_index.settings import DEFAULT_KB_DIR
from kb_index.testing import ENCODERS, RETRIEVAL, RecordingFactory, sample_kb
from kb_index.versions import article_sources

FORM = {
    "title": "Can I change my delivery address?",
    "category": "shipping",
    "question_type": "how_to",
    "urgency": "normal",
    "tags": ["delivery address", "change address"],
    "questions": ["i moved, can the parcel go to my new flat", "wrong address on my order"],
    "related": ["en-shipping-tracking"],
    "body": "Open **Account > Orders** and choose *Change address* before the order ships.",
}


def publish(workspace: KbWorkspace) -> str:
    result = build(
        workspace.kb_dir,
        workspace.index_dir,
        encoders=ENCODERS,
        retrieval=RETRIEVAL,
        encoder_factory=RecordingFactory(),
        progress=lambda _: None,
        force=True,
    )
    return result.version


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("studio-kb")
    publish(KbWorkspace(sample_kb(root / "kb"), root / "index"))
    return root


@pytest.fixture
def ws(published: Path, tmp_path: Path) -> KbWorkspace:
    """The sample articles, published as v1, copied so that each test may change them."""
    root = Path(shutil.copytree(published, tmp_path / "copy"))
    return KbWorkspace(root / "kb", root / "index")


def save(
    ws: KbWorkspace, slug: str = "en-shipping-address", base: str | None = None, **changes: Any
) -> dict[str, Any]:
    article, _ = editing.save_article(ws, slug.split("-")[0], slug, {**FORM, **changes}, base)
    return article


def temporary_files(ws: KbWorkspace) -> list[Path]:
    return [p for p in ws.kb_dir.rglob("*") if p.name.endswith(".tmp")]


# -- reading -------------------------------------------------------------------------------------------


def test_the_list_shows_fields_questions_versions_and_what_is_unpublished(ws: KbWorkspace) -> None:
    listed = editing.list_articles(ws)
    assert listed["current_version"] == "v1" and not any(listed["unpublished"].values())
    first = listed["articles"][0]
    assert (first["language"], first["slug"]) == ("en", "en-payment-methods")
    assert first["title"] == "Which payment methods do you accept?" and first["category"] == "payment"
    assert first["status"] == "published" and "body" not in first and first["problems"] == []
    assert first["version"] == content_hash((ws.kb_dir / "en" / "en-payment-methods.md").read_bytes())

    created = save(ws)
    (ws.kb_dir / "zh" / "zh-invoices-electronic.md").unlink()
    listed = editing.list_articles(ws, "en")
    assert {a["language"] for a in listed["articles"]} == {"en"}
    assert {a["slug"]: a["status"] for a in listed["articles"]}["en-shipping-address"] == "new"
    assert listed["unpublished"] == {"added": ["en-shipping-address"], "changed": [], "removed": []}
    assert editing.unpublished_changes(ws)["removed"] == ["zh-invoices-electronic"]
    assert created["questions"] == FORM["questions"]


def test_an_article_reads_as_fields_body_questions_and_version(ws: KbWorkspace) -> None:
    article = editing.read_article(ws, "zh", "zh-refunds-timeline")
    assert article["title"] == "退款多久到账？" and article["tags"] == ["退款", "到账"]
    assert article["body"].startswith("仓库收到退货后") and article["status"] == "published"
    with pytest.raises(Missing):
        editing.read_article(ws, "en", "en-nothing-here")
    for language, slug, field in (
        ("fr", "fr-x", "language"),
        ("en", "../../etc", "slug"),
        ("en", "zh-x", "slug"),
    ):
        with pytest.raises(FieldError) as caught:
            editing.read_article(ws, language, slug)
        assert caught.value.field == field


def test_a_file_the_builder_refuses_is_shown_with_its_problems(ws: KbWorkspace) -> None:
    (ws.kb_dir / "en" / "en-broken.md").write_text("---\nid: en-broken\n---\n", encoding="utf-8")
    article = editing.read_article(ws, "en", "en-broken")
    assert article["title"] is None and article["source"].startswith("---")
    assert any("missing field 'title'" in p["message"] for p in article["problems"])
    assert "en-broken" in [a["slug"] for a in editing.list_articles(ws)["articles"]]


def test_the_shipped_articles_render_back_to_the_same_bytes() -> None:
    """Saving an unchanged article changes no byte: a diff shows only what an editor changed."""
    for path in article_files(DEFAULT_KB_DIR):
        article = parse_article(path)
        fields = editing.validate_fields(article.language, article.id, editing._fields(article))
        assert editing.render_article(article.language, article.id, fields) == path.read_text("utf-8")


# -- saving ------------------------------------------------------------------------------------------


def test_create_update_and_an_unchanged_save(ws: KbWorkspace) -> None:
    path = ws.kb_dir / "en" / "en-shipping-address.md"
    article, result = editing.save_article(ws, "en", "en-shipping-address", FORM, None)
    assert result == "created" and article["version"] == content_hash(path.read_bytes())
    parsed = parse_article(path)
    assert parsed.title == FORM["title"] and list(parsed.questions) == FORM["questions"]
    assert path.read_text("utf-8").startswith("---\nid: en-shipping-address\nlanguage: en\n")

    changed, result = editing.save_article(
        ws, "en", "en-shipping-address", {**FORM, "urgency": "high"}, article["version"]
    )
    assert result == "updated" and changed["urgency"] == "high" and changed["version"] != article["version"]
    modified = path.stat().st_mtime_ns
    again, result = editing.save_article(
        ws, "en", "en-shipping-address", {**FORM, "urgency": "high"}, changed["version"]
    )
    assert result == "unchanged" and again["version"] == changed["version"]
    assert path.stat().st_mtime_ns == modified
    load_articles(ws.kb_dir)  # the builder accepts what the studio wrote


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": None}, "title"),
        ({"title": "  "}, "title"),
        ({"title": "two\nlines"}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"category": "return"}, "category"),
        ({"question_type": "question"}, "question_type"),
        ({"urgency": "urgent"}, "urgency"),
        ({"tags": "refund"}, "tags"),
        ({"tags": ["ok", 3]}, "tags"),
        ({"questions": ["fine", ""]}, "questions"),
        ({"questions": ["???"]}, "questions"),
        ({"questions": ["Where is it?", "where is it"]}, "questions"),
        ({"questions": ["How long does a refund take"]}, None),  # fine: no other article asks it
        ({"related": ["en-nowhere"]}, "related"),
        ({"related": ["zh-refunds-timeline"]}, "related"),
        ({"related": ["en-shipping-address"]}, "related"),
        ({"body": ""}, "body"),
        ({"body": "nul\x00byte"}, "body"),
        ({"body": "x" * 50_001}, "body"),
        ({"colour": "red"}, "colour"),
        ({"language": "zh"}, "language"),
        ({"id": "en-other"}, "id"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(
    ws: KbWorkspace, changes: dict[str, Any], field: str | None
) -> None:
    if field is None:
        save(ws, **changes)
        return
    with pytest.raises(FieldError) as caught:
        save(ws, **changes)
    assert caught.value.field == field, str(caught.value)
    assert not (ws.kb_dir / "en" / "en-shipping-address.md").exists() and temporary_files(ws) == []


def test_a_question_of_another_article_is_refused_with_its_name(ws: KbWorkspace) -> None:
    save(ws, questions=["where is my parcel right now"])
    with pytest.raises(FieldError) as caught:
        save(ws, "en-shipping-other", questions=["Where is my parcel right now?"])
    assert caught.value.field == "questions" and "en-shipping-address" in str(caught.value)


def test_slugs_must_carry_the_language_and_stay_in_its_folder(ws: KbWorkspace) -> None:
    for slug in ("shipping-address", "en-Shipping", "en-a/b", "en-..", "zh-shipping"):
        with pytest.raises(FieldError) as caught:
            editing.save_article(ws, "en", slug, FORM, None)
        assert caught.value.field == "slug"


@pytest.mark.parametrize(
    "title",
    [
        "yes",
        "null",
        "123",
        "Refund: how long?",
        "#1 question",
        "'quoted'",
        '"double"',
        "a [b] {c}",
        "退款：多久？",
    ],
)
def test_values_yaml_would_misread_are_stored_as_written(ws: KbWorkspace, title: str) -> None:
    tricky: dict[str, Any] = {
        "title": title,
        "tags": ["a, b", "- dash", "x: y"],
        "questions": ["- is this a list?", "key: value"],
    }
    article = save(ws, **tricky)
    parsed = parse_article(ws.kb_dir / "en" / "en-shipping-address.md")
    assert (parsed.title, list(parsed.tags), list(parsed.questions)) == (
        title,
        tricky["tags"],
        tricky["questions"],
    )
    assert article["title"] == title


# -- concurrency and atomic writes ---------------------------------------------------------------------


def test_an_edit_based_on_an_old_version_is_refused_with_the_current_one(ws: KbWorkspace) -> None:
    first = save(ws)
    second = save(ws, base=first["version"], title="Changing where my parcel goes")
    with pytest.raises(EditConflict) as caught:
        save(ws, base=first["version"], urgency="low")
    assert caught.value.code == "version_conflict"
    assert caught.value.current["version"] == second["version"]
    assert caught.value.current["title"] == "Changing where my parcel goes"
    assert caught.value.current["body"] == FORM["body"]

    with pytest.raises(EditConflict) as caught:
        save(ws)  # a "new" article that exists
    assert caught.value.code == "article_exists" and caught.value.current["version"] == second["version"]

    editing.delete_article(ws, "en", "en-shipping-address", second["version"])
    with pytest.raises(EditConflict) as caught:
        save(ws, base=second["version"])
    assert caught.value.code == "article_deleted" and caught.value.current["deleted"] is True


def test_two_editors_saving_at_once_one_wins_the_other_sees_its_version(ws: KbWorkspace) -> None:
    base = save(ws)["version"]
    start = threading.Barrier(2)
    outcomes: list[Any] = []

    def edit(title: str) -> None:
        start.wait()
        try:
            outcomes.append(save(ws, base=base, title=title))
        except EditConflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=edit, args=(t,)) for t in ("Edit one", "Edit two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if isinstance(o, EditConflict)]
    assert len(won) == len(lost) == 1
    assert (
        lost[0].current["version"]
        == won[0]["version"]
        == editing.read_article(ws, "en", "en-shipping-address")["version"]
    )


def _hold_lock(kb_dir: str, index_dir: str, held: Any, seconds: float) -> None:
    with editing.kb_lock(KbWorkspace(Path(kb_dir), Path(index_dir))):
        held.set()
        time.sleep(seconds)


def test_the_lock_holds_across_processes(ws: KbWorkspace) -> None:
    context = multiprocessing.get_context("spawn")
    held = context.Event()
    process = context.Process(target=_hold_lock, args=(str(ws.kb_dir), str(ws.index_dir), held, 1.0))
    process.start()
    try:
        assert held.wait(30)
        started = time.monotonic()
        save(ws)
        assert time.monotonic() - started > 0.5  # waited for the other process to let go
    finally:
        process.join(30)


def test_a_crash_before_the_rename_leaves_the_old_file_and_no_temporary_one(
    ws: KbWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = save(ws)
    path = ws.kb_dir / "en" / "en-shipping-address.md"
    before = path.read_bytes()

    def crash(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save(ws, base=first["version"], title="Never written")
    assert path.read_bytes() == before and temporary_files(ws) == []


def test_the_written_file_is_parsed_before_it_replaces_the_old_one(
    ws: KbWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = save(ws)
    path = ws.kb_dir / "en" / "en-shipping-address.md"
    before = path.read_bytes()
    monkeypatch.setattr(editing, "render_article", lambda *a: "---\nid: en-shipping-address\n---\nbody\n")
    with pytest.raises(FieldError):
        save(ws, base=first["version"], title="Rendered wrong")
    assert path.read_bytes() == before and temporary_files(ws) == []


# -- delete and questions ------------------------------------------------------------------------------


def test_delete_needs_the_current_version_and_no_article_relating_to_it(ws: KbWorkspace) -> None:
    tracking = editing.read_article(ws, "en", "en-shipping-tracking")
    with pytest.raises(EditConflict) as caught:
        editing.delete_article(ws, "en", "en-shipping-tracking", tracking["version"])
    assert caught.value.code == "article_referenced"
    assert caught.value.current == {"referenced_by": ["en-shipping-fees"]}
    payment = editing.read_article(ws, "en", "en-payment-methods")
    with pytest.raises(EditConflict):
        editing.delete_article(ws, "en", "en-payment-methods", "0" * 64)
    with pytest.raises(FieldError) as missing:
        editing.delete_article(ws, "en", "en-payment-methods", None)
    assert missing.value.field == "base_version"
    editing.delete_article(ws, "en", "en-payment-methods", payment["version"])
    assert not (ws.kb_dir / "en" / "en-payment-methods.md").exists()
    with pytest.raises(Missing):
        editing.delete_article(ws, "en", "en-payment-methods", payment["version"])


def test_a_missed_question_is_added_once_and_never_twice_in_a_language(ws: KbWorkspace) -> None:
    article, added = editing.add_question(ws, "en", "en-refunds-timeline", "  money back when?? ")
    assert added and article["questions"] == ["money back when??"]
    again, added = editing.add_question(ws, "en", "en-refunds-timeline", "Money back when")
    assert not added and again["version"] == article["version"]
    with pytest.raises(FieldError) as caught:
        editing.add_question(ws, "en", "en-returns-how-to", "money back when?")
    assert caught.value.field == "question" and "en-refunds-timeline" in str(caught.value)
    with pytest.raises(Missing):
        editing.add_question(ws, "en", "en-nothing", "a question")
    # the body and every other field are kept as they were
    assert article["body"] == editing.read_article(ws, "en", "en-refunds-timeline")["body"]


# -- versions: sources, diff, rollback -------------------------------------------------------------------


def test_a_version_keeps_its_article_texts_checked_against_the_manifest(ws: KbWorkspace) -> None:
    sources = article_sources(ws.index_dir, "v1")
    assert sources is not None and len(sources) == 8
    path = ws.kb_dir / "zh" / "zh-shipping-tracking.md"
    assert sources["zh-shipping-tracking"].text == path.read_text("utf-8")
    assert "sources.json" not in read_manifest(ws.index_dir / "versions" / "v1").files

    kept = ws.index_dir / "versions" / "v1" / storage.SOURCES
    data = json.loads(kept.read_text("utf-8"))
    data["articles"]["zh-shipping-tracking"]["text"] += "tampered"
    kept.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexLoadError, match="do not match"):
        article_sources(ws.index_dir, "v1")
    kept.unlink()
    assert article_sources(ws.index_dir, "v1") is None


def test_a_text_diff_shows_each_changed_added_and_removed_article(ws: KbWorkspace) -> None:
    fees = editing.read_article(ws, "en", "en-shipping-fees")
    form = {k: fees[k] for k in editing.FORM_FIELDS}
    editing.save_article(ws, "en", "en-shipping-fees", {**form, "body": "Delivery is free."}, fees["version"])
    save(ws)
    (ws.kb_dir / "en" / "en-payment-methods.md").unlink()
    assert publish(ws) == "v2"

    diff = editing.text_diff(ws, "v1", "v2")
    assert diff["text_available"] and diff["message"] is None
    assert diff["summary"] == {"added": 1, "changed": 1, "removed": 1}
    rows = {row["id"]: row for row in diff["articles"]}
    assert rows["en-shipping-fees"]["change"] == "changed"
    changed = rows["en-shipping-fees"]["diff"]
    assert changed.startswith("--- v1/en/en-shipping-fees.md\n+++ v2/en/en-shipping-fees.md\n")
    assert "\n-Standard delivery costs 4.99" in changed and "\n+Delivery is free." in changed
    assert "\n id: en-shipping-fees\n" in changed  # context lines
    assert rows["en-shipping-address"]["diff"].startswith("--- /dev/null\n+++ v2/en/en-shipping-address.md")
    assert (
        rows["en-payment-methods"]["change"] == "removed"
        and "\n-We accept Visa" in rows["en-payment-methods"]["diff"]
    )

    save(ws, base=editing.read_article(ws, "en", "en-shipping-address")["version"], urgency="low")
    working = editing.text_diff(ws, "v2", editing.WORKING)
    assert [r["id"] for r in working["articles"]] == ["en-shipping-address"]
    assert "-urgency: normal\n+urgency: low" in working["articles"][0]["diff"]
    assert editing.text_diff(ws, "v2", "v2")["articles"] == []


def test_versions_from_before_texts_were_kept_say_no_text_is_available(ws: KbWorkspace) -> None:
    save(ws)
    publish(ws)
    (ws.index_dir / "versions" / "v1" / storage.SOURCES).unlink()
    diff = editing.text_diff(ws, "v1", "v2")
    assert not diff["text_available"] and "no text available for v1" in diff["message"]
    assert diff["articles"] == [
        {"id": "en-shipping-address", "language": "en", "change": "added", "diff": None}
    ]
    rows = {row["version"]: row for row in editing.version_list(ws)}
    assert (rows["v1"]["text_available"], rows["v2"]["text_available"]) == (False, True)
    assert rows["v2"]["current"] and rows["v2"]["changes"]["added"] == ["en-shipping-address"]


def test_diff_names_unknown_and_malformed_versions(ws: KbWorkspace) -> None:
    with pytest.raises(Missing):
        editing.text_diff(ws, "v1", "v9")
    with pytest.raises(FieldError) as caught:
        editing.text_diff(ws, "latest", "v1")
    assert caught.value.field == "from"


def test_rollback_restores_the_files_so_the_next_publish_starts_from_them(ws: KbWorkspace) -> None:
    v1_files = {p.relative_to(ws.kb_dir): p.read_bytes() for p in article_files(ws.kb_dir)}
    fees = editing.read_article(ws, "en", "en-shipping-fees")
    form = {k: fees[k] for k in editing.FORM_FIELDS}
    editing.save_article(ws, "en", "en-shipping-fees", {**form, "urgency": "high"}, fees["version"])
    save(ws)
    assert publish(ws) == "v2"

    result = editing.rollback(ws, "v1")
    assert result["previous"] == "v2" and result["restored_from"] == "sources"
    assert (result["written"], result["deleted"], result["discarded"]) == (
        ["en-shipping-fees"],
        ["en-shipping-address"],
        [],
    )
    assert storage.read_current(ws.index_dir) == "v1"
    assert {p.relative_to(ws.kb_dir): p.read_bytes() for p in article_files(ws.kb_dir)} == v1_files
    assert not any(editing.unpublished_changes(ws).values())
    with pytest.raises(EditConflict) as caught:
        editing.publishable(ws)
    assert caught.value.code == "nothing_to_publish"

    # an edit after the rollback publishes v1 plus that edit, not v2 again
    payment = editing.read_article(ws, "en", "en-payment-methods")
    form = {k: payment[k] for k in editing.FORM_FIELDS}
    editing.save_article(ws, "en", "en-payment-methods", {**form, "urgency": "low"}, payment["version"])
    assert publish(ws) == "v3"
    v3 = read_manifest(ws.index_dir / "versions" / "v3")
    assert "en-shipping-address" not in v3.articles
    assert (
        v3.articles["en-shipping-fees"].hash
        == read_manifest(ws.index_dir / "versions" / "v1").articles["en-shipping-fees"].hash
    )


def test_rollback_refuses_to_overwrite_unpublished_edits_unless_told(ws: KbWorkspace) -> None:
    save(ws)
    publish(ws)
    draft = save(ws, "en-shipping-draft", questions=[])
    with pytest.raises(EditConflict) as caught:
        editing.rollback(ws, "v1")
    assert caught.value.code == "unpublished_changes"
    assert caught.value.current == {
        "unpublished": {"added": ["en-shipping-draft"], "changed": [], "removed": []}
    }
    assert (
        storage.read_current(ws.index_dir) == "v2"
        and editing.read_article(ws, "en", "en-shipping-draft")["version"] == draft["version"]
    )
    result = editing.rollback(ws, "v1", discard_unpublished=True)
    assert result["discarded"] == ["en-shipping-draft"] and "en-shipping-draft" in result["deleted"]


def test_a_version_that_does_not_load_changes_no_file(ws: KbWorkspace) -> None:
    save(ws)
    publish(ws)
    before = {p: p.read_bytes() for p in article_files(ws.kb_dir)}
    (ws.index_dir / "versions" / "v1" / "en.faiss").write_bytes(b"broken")
    with pytest.raises(EditConflict) as caught:
        editing.rollback(ws, "v1")
    assert caught.value.code == "version_unusable"
    assert {p: p.read_bytes() for p in article_files(ws.kb_dir)} == before
    assert storage.read_current(ws.index_dir) == "v2"
    with pytest.raises(Missing):
        editing.rollback(ws, "v7")
    with pytest.raises(FieldError) as bad:
        editing.rollback(ws, "../v1")
    assert bad.value.field == "version"


def test_rollback_to_a_version_without_texts_rebuilds_its_files_from_its_articles(ws: KbWorkspace) -> None:
    save(ws)
    publish(ws)
    (ws.index_dir / "versions" / "v1" / storage.SOURCES).unlink()
    result = editing.rollback(ws, "v1")
    assert result["restored_from"] == "articles" and result["deleted"] == ["en-shipping-address"]
    restored = {a.id: a for a in load_articles(ws.kb_dir)}
    served = json.loads((ws.index_dir / "versions" / "v1" / "articles.json").read_text("utf-8"))
    assert sorted(restored) == sorted(served)
    for article_id, entry in served.items():
        assert restored[article_id].body == entry["body"] and restored[article_id].title == entry["title"]


def test_publishing_is_refused_while_the_builder_would_refuse_the_articles(ws: KbWorkspace) -> None:
    (ws.kb_dir / "en" / "en-broken.md").write_text("---\nid: en-broken\n---\n", encoding="utf-8")
    with pytest.raises(EditConflict) as caught:
        editing.publishable(ws)
    assert caught.value.code == "articles_invalid"
    assert any("missing field" in p["message"] for p in caught.value.current["problems"])
    (ws.kb_dir / "en" / "en-broken.md").unlink()
    save(ws)
    assert editing.publishable(ws)["added"] == ["en-shipping-address"]


def test_the_workspace_comes_from_the_environment() -> None:
    ws = KbWorkspace.from_env({"KB_DIR": "/srv/kb", "KB_INDEX_DIR": "/srv/index"})
    assert (ws.kb_dir, ws.index_dir, ws.lock_path) == (
        Path("/srv/kb"),
        Path("/srv/index"),
        Path("/srv/index/.studio-kb.lock"),
    )
    assert KbWorkspace.from_env({}).kb_dir == DEFAULT_KB_DIR
