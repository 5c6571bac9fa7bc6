"""The studio's side of the article files: list, read, save and delete articles; compare versions as text;
roll the files back together with the served version.

Every save is parsed by the builder's own parser (kb_index.articles) and checked against the other
articles of its language, so what the studio accepts the next build accepts. A file reaches the disk as a
temporary file that is parsed again and then renamed into place. Comparing an edit's base version with the
file and writing it happen under one exclusive lock (flock, shared by every process on the machine), so an
edit based on an old version is refused with the current one instead of overwriting it. Versions are
content hashes of the file (the manifest's article hash), so they mean the same in every process.

Nothing here speaks HTTP or Redis; the studio's API (handoff/blueprints/studio_kb.py) calls these functions
in a worker thread because they block on the lock and the disk.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common import atomic_files
from kb_index import storage
from kb_index.articles import (
    CATEGORIES,
    LANGUAGES,
    QUESTION_TYPES,
    URGENCIES,
    Article,
    ArticleError,
    article_files,
    content_hash,
    load_articles,
    parse_article,
)
from kb_index.articles import _same_question as same_question  # the builder's duplicate rule, not a copy

# kb_index.manifest, .settings and .versions import numpy: they are imported where used, so a hub worker
# loads them only once the studio reads versions, not at start-up.

WORKING = "working"  # in a diff: the article files as they are now, published or not
LOCK_NAME = ".studio-kb.lock"
SLUG = re.compile(r"^(?:en|zh)-[a-z0-9]+(?:-[a-z0-9]+)*\Z")
VERSION = re.compile(r"^v[1-9][0-9]{0,8}\Z")
MAX_SLUG = 80
MAX_TITLE = 200
MAX_ITEM = 300  # one tag, question or related id
MAX_ITEMS = 100
MAX_BODY = 50_000
# What the form edits, in the order the files write them.
FORM_FIELDS = ("title", "category", "question_type", "urgency", "tags", "questions", "related", "body")
# What a client may send back unchanged from a read; `id`, `slug` and `language` must name the path's article.
READ_ONLY = ("id", "slug", "language", "version", "path", "status", "problems", "source")
# Characters no field may hold: controls (tab and newline only in the body), lone surrogates, and the
# separators YAML folds or refuses.
_LINE_BAD = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029\ufeff\ud800-\udfff]")
_BODY_BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029\ufeff\ud800-\udfff]")


class EditError(Exception):
    """An edit the studio refuses; the subclasses map to 400, 404 and 409."""


class FieldError(EditError):
    """Bad input; `field` names it (a form field, `slug`, `language`, `question`, `version`, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Missing(EditError):
    """No such article or version; `code` is stable for clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class EditConflict(EditError):
    """The current state refuses the edit; `current` is what the client should see instead."""

    def __init__(self, code: str, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.current = current


@dataclass(frozen=True)
class KbWorkspace:
    """Where the articles and the index live. `encoders` overrides the build's encoder per language
    (None: KB_EN_MODEL / KB_ZH_MODEL or the defaults, as `python -m kb_index build`)."""

    kb_dir: Path
    index_dir: Path
    encoders: Mapping[str, str] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KbWorkspace:
        """KB_DIR (default <repo>/data/kb) and KB_INDEX_DIR (default <repo>/var/kb_index)."""
        from kb_index.settings import DEFAULT_INDEX_DIR, DEFAULT_KB_DIR

        env = os.environ if environ is None else environ
        return cls(
            Path(env.get("KB_DIR") or DEFAULT_KB_DIR), Path(env.get("KB_INDEX_DIR") or DEFAULT_INDEX_DIR)
        )

    @property
    def lock_path(self) -> Path:
        # Beside the index rather than among the articles: the article folder is under version control.
        return self.index_dir / LOCK_NAME

    def article_path(self, language: str, slug: str) -> Path:
        return self.kb_dir / language / f"{slug}.md"


def kb_lock(workspace: KbWorkspace) -> contextlib.AbstractContextManager[None]:
    """One writer of the article files at a time, across the processes of this machine."""
    return atomic_files.exclusive_lock(workspace.lock_path)


# -- reading ------------------------------------------------------------------------------------------


def check_language(value: Any, field: str = "language") -> str:
    if value not in LANGUAGES:
        raise FieldError(field, f"'{field}' must be one of {', '.join(LANGUAGES)}")
    return str(value)


def check_slug(language: str, value: Any, field: str = "slug") -> str:
    if not isinstance(value, str) or len(value) > MAX_SLUG or not SLUG.match(value):
        raise FieldError(
            field, f"'{field}' must be lowercase letters, digits and dashes, starting with '{language}-'"
        )
    if not value.startswith(f"{language}-"):
        raise FieldError(field, f"'{field}' must start with '{language}-' (the article's language)")
    return value


def _published(workspace: KbWorkspace) -> tuple[str | None, dict[str, tuple[str, str]]]:
    """The served version and its articles: id -> (language, content hash); nothing when none is served."""
    from kb_index.manifest import IndexLoadError, read_manifest

    current = storage.read_current(workspace.index_dir)
    if current is None:
        return None, {}
    try:
        manifest = read_manifest(storage.version_dir(workspace.index_dir, current))
    except (IndexLoadError, storage.StorageError):
        return current, {}
    return current, {k: (v.language, v.hash) for k, v in manifest.articles.items()}


def _working(workspace: KbWorkspace, language: str | None = None) -> dict[str, tuple[Path, bytes]]:
    """Every article file now: id -> (path, bytes), valid or not."""
    found = {}
    for path in article_files(workspace.kb_dir):
        if language is None or path.parent.name == language:
            with contextlib.suppress(FileNotFoundError):  # deleted while listing
                found[path.stem] = (path, path.read_bytes())
    return found


def _status(slug: str, version: str, published: Mapping[str, tuple[str, str]]) -> str:
    if slug not in published:
        return "new"
    return "published" if published[slug][1] == version else "modified"


def _view(path: Path, raw: bytes, published: Mapping[str, tuple[str, str]], body: bool) -> dict[str, Any]:
    """An article as the API shows it. A file the builder would refuse is shown with its problems (and,
    when `body` is asked for, its text) so that an editor can still see and replace it."""
    language, slug = path.parent.name, path.stem
    version = content_hash(raw)
    view: dict[str, Any] = {
        "language": language,
        "slug": slug,
        "version": version,
        "status": _status(slug, version, published),
        "path": f"{language}/{slug}.md",
    }
    try:
        article = parse_article(path, raw)
    except ArticleError as exc:
        view.update(
            title=None,
            category=None,
            question_type=None,
            urgency=None,
            tags=[],
            questions=[],
            related=[],
            problems=[{"line": p.line, "message": p.message} for p in exc.problems],
        )
        if body:
            view.update(body=None, source=raw.decode("utf-8", errors="replace"))
        return view
    view.update(_fields(article), problems=[])
    if not body:
        del view["body"]
    return view


def _fields(article: Article) -> dict[str, Any]:
    return {
        "title": article.title,
        "category": article.category,
        "question_type": article.question_type,
        "urgency": article.urgency,
        "tags": list(article.tags),
        "questions": list(article.questions),
        "related": list(article.related),
        "body": article.body,
    }


def unpublished_changes(workspace: KbWorkspace, language: str | None = None) -> dict[str, list[str]]:
    """Article ids whose files differ from the served version: added, changed and removed."""
    _, published = _published(workspace)
    if language is not None:
        published = {k: v for k, v in published.items() if v[0] == language}
    now = {slug: content_hash(raw) for slug, (_, raw) in _working(workspace, language).items()}
    return {
        "added": sorted(set(now) - set(published)),
        "changed": sorted(k for k, h in now.items() if k in published and published[k][1] != h),
        "removed": sorted(set(published) - set(now)),
    }


def list_articles(workspace: KbWorkspace, language: str | None = None) -> dict[str, Any]:
    """Every article (without its body), by language and slug, and what is not published yet."""
    if language is not None:
        check_language(language)
    current, published = _published(workspace)
    rows = [_view(path, raw, published, body=False) for path, raw in _working(workspace, language).values()]
    rows.sort(key=lambda row: (row["language"], row["slug"]))
    return {
        "current_version": current,
        "articles": rows,
        "unpublished": unpublished_changes(workspace, language),
    }


def read_article(workspace: KbWorkspace, language: str, slug: str) -> dict[str, Any]:
    check_language(language)
    check_slug(language, slug)
    path = workspace.article_path(language, slug)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise Missing("unknown_article", f"no article {language}/{slug}") from None
    return _view(path, raw, _published(workspace)[1], body=True)


# -- validating and writing ------------------------------------------------------------------------


def _text(field: str, value: Any, limit: int, *, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise FieldError(field, f"'{field}' must be a text")
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip() if multiline else value.strip()
    if not text:
        raise FieldError(field, f"'{field}' must not be empty")
    if len(text) > limit:
        raise FieldError(field, f"'{field}' is longer than {limit} characters")
    if (_BODY_BAD if multiline else _LINE_BAD).search(text):
        kind = "control characters" if multiline else "line breaks or control characters"
        raise FieldError(field, f"'{field}' must not hold {kind}")
    return text


def _texts(field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FieldError(field, f"'{field}' must be a list of texts")
    if len(value) > MAX_ITEMS:
        raise FieldError(field, f"'{field}' has more than {MAX_ITEMS} entries")
    items = []
    for number, item in enumerate(value, start=1):
        try:
            items.append(_text(field, item, MAX_ITEM))
        except FieldError as exc:
            raise FieldError(field, f"{exc} (entry {number})") from None
    return tuple(items)


def _choice(field: str, value: Any, allowed: frozenset[str]) -> str:
    if value not in allowed:
        raise FieldError(field, f"'{field}' must be one of {', '.join(sorted(allowed))}")
    return str(value)


def validate_fields(language: str, slug: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The form's fields checked one by one, each error naming its field; what needs the other articles
    (related ids, questions asked elsewhere) is checked when saving."""
    check_language(language)
    check_slug(language, slug)
    for key in data:
        if key not in FORM_FIELDS and key not in READ_ONLY:
            raise FieldError(key, f"unknown field '{key}' (fields: {', '.join(FORM_FIELDS)})")
    for key, expected in (("id", slug), ("slug", slug), ("language", language)):
        if key in data and data[key] != expected:
            raise FieldError(key, f"'{key}' must be '{expected}', as in the article's address")
    for key in ("title", "category", "question_type", "urgency", "body"):
        if data.get(key) is None:
            raise FieldError(key, f"'{key}' is required")
    fields = {
        "title": _text("title", data["title"], MAX_TITLE),
        "category": _choice("category", data["category"], CATEGORIES),
        "question_type": _choice("question_type", data["question_type"], QUESTION_TYPES),
        "urgency": _choice("urgency", data["urgency"], URGENCIES),
        "tags": _texts("tags", data.get("tags")),
        "questions": _texts("questions", data.get("questions")),
        "related": _texts("related", data.get("related")),
        "body": _text("body", data["body"], MAX_BODY, multiline=True),
    }
    seen: dict[str, str] = {}
    for question in fields["questions"]:
        key = same_question(question)
        if not key:
            raise FieldError("questions", f"question '{question}' has no words")
        if key in seen:
            raise FieldError("questions", f"question '{question}' is listed twice")
        seen[key] = question
    for related in fields["related"]:
        if not SLUG.match(related) or not related.startswith(f"{language}-"):
            raise FieldError("related", f"related article '{related}' is not an id of a {language} article")
        if related == slug:
            raise FieldError("related", "an article cannot be related to itself")
    if len(set(fields["related"])) != len(fields["related"]):
        raise FieldError("related", "'related' names an article twice")
    return fields


def _loads(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _quoted(value: str) -> str:
    # A JSON string is a YAML double-quoted scalar with the same escapes.
    return json.dumps(value, ensure_ascii=False)


def _scalar(value: str) -> str:
    """Plain when YAML reads it back unchanged (most titles), quoted otherwise (`yes`, `a: b`, `#x`, ...)."""
    return value if _loads(f"k: {value}") == {"k": value} else _quoted(value)


def _flow(items: Sequence[str]) -> str:
    shown = [item if _loads(f"k: [{item}]") == {"k": [item]} else _quoted(item) for item in items]
    return f"[{', '.join(shown)}]"


def _block_item(value: str) -> str:
    return value if _loads(f"k:\n  - {value}") == {"k": [value]} else _quoted(value)


def render_article(language: str, slug: str, fields: Mapping[str, Any]) -> str:
    """The file for validated fields, in the layout of the shipped articles, so that saving an unchanged
    article changes no byte and a changed one shows only its change in a diff."""
    lines = [
        "---",
        f"id: {slug}",
        f"language: {language}",
        f"title: {_scalar(fields['title'])}",
        f"category: {fields['category']}",
        f"question_type: {fields['question_type']}",
        f"urgency: {fields['urgency']}",
        f"tags: {_flow(fields['tags'])}",
    ]
    if fields["questions"]:
        lines.append("questions:")
        lines.extend(f"  - {_block_item(q)}" for q in fields["questions"])
    lines.append(f"related: {_flow(fields['related'])}")
    lines.extend(["---", fields["body"], ""])
    return "\n".join(lines)


def _others(workspace: KbWorkspace, language: str, slug: str) -> dict[str, Article | None]:
    """The language's other articles (None for a file the builder would refuse: its id still exists)."""
    others: dict[str, Article | None] = {}
    for other, (path, raw) in _working(workspace, language).items():
        if other == slug:
            continue
        try:
            others[other] = parse_article(path, raw)
        except ArticleError:
            others[other] = None
    return others


def _check_against_others(
    workspace: KbWorkspace, language: str, slug: str, fields: Mapping[str, Any]
) -> None:
    others = _others(workspace, language, slug)
    for related in fields["related"]:
        if related not in others:
            raise FieldError("related", f"related article '{related}' not found in {language}")
    asked = {
        same_question(q): other_id
        for other_id, article in sorted(others.items())
        if article is not None
        for q in article.questions
    }
    for question in fields["questions"]:
        other_id = asked.get(same_question(question))
        if other_id is not None:
            raise FieldError("questions", f"question '{question}' is also a question of '{other_id}'")


def _field_of(message: str) -> str:
    """The form field a parser message is about (the parser names fields in quotes)."""
    for key in FORM_FIELDS:
        if f"'{key}'" in message or key.replace("_", " ") in message:
            return key
    return "body"


def _parsed_as_intended(path: Path, raw: bytes, fields: Mapping[str, Any]) -> Article:
    """The builder's parser on the exact bytes to be written, and every field read back as sent."""
    try:
        article = parse_article(path, raw)
    except ArticleError as exc:
        problem = exc.problems[0]
        raise FieldError(_field_of(problem.message), problem.message) from None
    read_back = _fields(article)
    for key in FORM_FIELDS:
        expected = list(fields[key]) if isinstance(fields[key], tuple) else fields[key]
        if read_back[key] != expected:
            raise FieldError(key, f"'{key}' cannot be stored as written")
    return article


def _write(path: Path, raw: bytes, fields: Mapping[str, Any] | None = None) -> None:
    """Write a temporary file beside `path`, parse it back when `fields` are given, then rename it into
    place: readers (and the build) see the old file or the new one, never half of one."""

    def check(written: bytes) -> None:
        if fields is not None:
            _parsed_as_intended(path, written, fields)

    atomic_files.replace_file(path, raw, atomic_files.file_mode(path), check)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _conflict_if_moved(
    workspace: KbWorkspace, language: str, slug: str, current: bytes | None, base_version: str | None
) -> None:
    """Refuse an edit whose base is not the file as it is now, with the current article."""
    path = workspace.article_path(language, slug)
    if current is None:
        if base_version is not None:
            raise EditConflict(
                "article_deleted",
                f"{language}/{slug} was deleted since you opened it",
                {"language": language, "slug": slug, "deleted": True},
            )
        return
    shown = _view(path, current, _published(workspace)[1], body=True)
    if base_version is None:
        raise EditConflict("article_exists", f"{language}/{slug} already exists", shown)
    if base_version != content_hash(current):
        raise EditConflict("version_conflict", f"{language}/{slug} was changed since you opened it", shown)


def save_article(
    workspace: KbWorkspace,
    language: str,
    slug: str,
    data: Mapping[str, Any],
    base_version: str | None,
) -> tuple[dict[str, Any], str]:
    """Create (`base_version` None) or update an article; returns the article and "created", "updated"
    or "unchanged"."""
    fields = validate_fields(language, slug, data)
    if base_version is not None and not isinstance(base_version, str):
        raise FieldError(
            "base_version", "'base_version' must be the version you edited, or null for a new article"
        )
    with kb_lock(workspace):
        return _save_locked(workspace, language, slug, fields, base_version)


def _save_locked(
    workspace: KbWorkspace,
    language: str,
    slug: str,
    fields: Mapping[str, Any],
    base_version: str | None,
) -> tuple[dict[str, Any], str]:
    path = workspace.article_path(language, slug)
    current = _read(path)
    _conflict_if_moved(workspace, language, slug, current, base_version)
    raw = render_article(language, slug, fields).encode("utf-8")
    published = _published(workspace)[1]
    if current is not None and content_hash(current) == content_hash(raw):
        return _view(path, current, published, body=True), "unchanged"
    _check_against_others(workspace, language, slug, fields)
    _write(path, raw, fields)
    return _view(path, raw, published, body=True), "created" if current is None else "updated"


def delete_article(workspace: KbWorkspace, language: str, slug: str, base_version: Any) -> dict[str, Any]:
    """Delete the article at `base_version`; refused while another article lists it as related (the build
    would refuse that article)."""
    check_language(language)
    check_slug(language, slug)
    if not isinstance(base_version, str) or not base_version:
        raise FieldError("base_version", "'base_version' must be the version you are deleting")
    with kb_lock(workspace):
        path = workspace.article_path(language, slug)
        current = _read(path)
        if current is None:
            raise Missing("unknown_article", f"no article {language}/{slug}")
        _conflict_if_moved(workspace, language, slug, current, base_version)
        referring = sorted(
            other_id
            for other_id, article in _others(workspace, language, slug).items()
            if article is not None and slug in article.related
        )
        if referring:
            raise EditConflict(
                "article_referenced",
                f"{language}/{slug} is a related article of {', '.join(referring)}: remove it there first",
                {"referenced_by": referring},
            )
        path.unlink()
    return {"language": language, "slug": slug, "deleted_version": base_version}


def add_question(
    workspace: KbWorkspace, language: str, slug: str, question: Any
) -> tuple[dict[str, Any], bool]:
    """Append a customer question to an article, whatever its version (an addition cannot undo anyone's
    edit); returns the article and whether it changed (False: the article already had the question)."""
    check_language(language)
    check_slug(language, slug)
    text = _text("question", question, MAX_ITEM)
    if not same_question(text):
        raise FieldError("question", f"question '{text}' has no words")
    with kb_lock(workspace):
        path = workspace.article_path(language, slug)
        current = _read(path)
        if current is None:
            raise Missing("unknown_article", f"no article {language}/{slug}")
        try:
            article = parse_article(path, current)
        except ArticleError as exc:
            raise EditConflict(
                "article_invalid",
                f"{language}/{slug} must be fixed before questions can be added to it",
                _view(path, current, _published(workspace)[1], body=True),
            ) from exc
        if same_question(text) in {same_question(q) for q in article.questions}:
            return _view(path, current, _published(workspace)[1], body=True), False
        fields = {**_fields(article), "questions": [*article.questions, text]}
        if len(fields["questions"]) > MAX_ITEMS:
            raise FieldError("question", f"{language}/{slug} already has {MAX_ITEMS} questions")
        try:
            view, _ = _save_locked(workspace, language, slug, fields, content_hash(current))
        except FieldError as exc:
            raise FieldError("question", str(exc)) from None
        return view, True


# -- publishing, versions, diffs and rollback --------------------------------------------------------


def publishable(workspace: KbWorkspace) -> dict[str, list[str]]:
    """The unpublished changes a build would publish; refused when the builder would refuse the articles
    or nothing differs from the served version."""
    try:
        load_articles(workspace.kb_dir)
    except ArticleError as exc:
        problems = [{"path": p.path, "line": p.line, "message": p.message} for p in exc.problems]
        raise EditConflict(
            "articles_invalid", "the articles have problems: fix them first", {"problems": problems}
        ) from None
    changes = unpublished_changes(workspace)
    if not any(changes.values()):
        current = storage.read_current(workspace.index_dir)
        raise EditConflict(
            "nothing_to_publish",
            f"the articles are the same as the served version {current}",
            {"current_version": current},
        )
    return changes


def version_list(workspace: KbWorkspace) -> list[dict[str, Any]]:
    """Every version, newest first, with its change log and whether its article texts were kept."""
    from kb_index import versions

    rows = []
    for info in reversed(versions.history(workspace.index_dir)):
        directory = storage.version_dir(workspace.index_dir, info.version)
        row: dict[str, Any] = {
            "version": info.version,
            "current": info.current,
            "built_at": None,
            "parent": None,
            "articles": None,
            "changes": None,
            "text_available": (directory / storage.SOURCES).is_file(),
            "problem": info.problem,
        }
        if info.manifest is not None:
            changes = info.manifest.changes
            row.update(
                built_at=info.manifest.built_at,
                parent=info.manifest.parent,
                articles=len(info.manifest.articles),
                changes={
                    "added": changes.added,
                    "changed": changes.changed,
                    "removed": changes.removed,
                    "settings": changes.settings,
                },
            )
        rows.append(row)
    return rows


def _check_version_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not VERSION.match(value):
        raise FieldError(field, f"'{field}' must be a version name such as v3")
    return value


def _existing_version(workspace: KbWorkspace, version: str) -> Path:
    directory = storage.version_dir(workspace.index_dir, version)
    if not directory.is_dir():
        raise Missing("unknown_version", f"no version {version}")
    return directory


@dataclass(frozen=True)
class _Side:
    """One side of a diff: each article's language and hash, and its text when known."""

    name: str
    articles: dict[str, tuple[str, str]]
    texts: dict[str, str] | None


def _side(workspace: KbWorkspace, name: Any, field: str) -> _Side:
    from kb_index import versions
    from kb_index.manifest import IndexLoadError, read_manifest

    if name == WORKING:
        files = _working(workspace)
        articles = {k: (p.parent.name, content_hash(raw)) for k, (p, raw) in files.items()}
        texts = {k: raw.decode("utf-8", errors="replace") for k, (_, raw) in files.items()}
        return _Side(WORKING, articles, texts)
    version = _check_version_name(name, field)
    directory = _existing_version(workspace, version)
    try:
        manifest = read_manifest(directory)
        sources = versions.article_sources(workspace.index_dir, version)
    except IndexLoadError as exc:
        raise EditConflict("version_unusable", str(exc)) from None
    articles = {k: (v.language, v.hash) for k, v in manifest.articles.items()}
    return _Side(version, articles, None if sources is None else {k: s.text for k, s in sources.items()})


def _unified(before: str, after: str, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), old_name, new_name, lineterm="")
    return "\n".join(lines) + "\n"


def text_diff(workspace: KbWorkspace, old: Any, new: Any) -> dict[str, Any]:
    """What changed from `old` to `new` (versions, or "working" for the files now): a unified diff per
    added, changed or removed article, or only the article ids when a side's texts were not kept."""
    from kb_index import versions
    from kb_index.manifest import IndexLoadError

    before, after = _side(workspace, old, "from"), _side(workspace, new, "to")
    missing = [side.name for side in (before, after) if side.texts is None]
    rows = []
    for article_id in sorted(set(before.articles) | set(after.articles)):
        was, now = before.articles.get(article_id), after.articles.get(article_id)
        if was is not None and now is not None and was[1] == now[1]:
            continue
        change = "added" if was is None else "removed" if now is None else "changed"
        language = (now or was or ("", ""))[0]
        diff = None
        if before.texts is not None and after.texts is not None:
            old_name = f"{before.name}/{language}/{article_id}.md" if was else "/dev/null"
            new_name = f"{after.name}/{language}/{article_id}.md" if now else "/dev/null"
            diff = _unified(
                before.texts.get(article_id, ""), after.texts.get(article_id, ""), old_name, new_name
            )
        rows.append({"id": article_id, "language": language, "change": change, "diff": diff})
    settings: list[str] = []
    if WORKING not in (before.name, after.name):
        try:
            settings = versions.diff(workspace.index_dir, before.name, after.name).settings
        except IndexLoadError as exc:
            raise EditConflict("version_unusable", str(exc)) from None
    message = None
    if missing:
        message = (
            f"no text available for {' and '.join(missing)} (built before versions kept their article "
            "texts): only which articles changed is known"
        )
    return {
        "from": before.name,
        "to": after.name,
        "text_available": not missing,
        "message": message,
        "summary": {kind: sum(r["change"] == kind for r in rows) for kind in ("added", "changed", "removed")},
        "articles": rows,
        "settings": settings,
    }


def _version_texts(workspace: KbWorkspace, version: str) -> tuple[dict[str, tuple[str, bytes]], str]:
    """The article files of `version`: id -> (language, bytes), from its kept texts, or rebuilt from its
    articles.json for versions from before the texts were kept (same fields, the studio's layout)."""
    from kb_index import versions
    from kb_index.manifest import IndexLoadError

    try:
        sources = versions.article_sources(workspace.index_dir, version)
    except IndexLoadError as exc:
        raise EditConflict("version_unusable", str(exc)) from None
    if sources is not None:
        return {k: (s.language, s.text.encode("utf-8")) for k, s in sources.items()}, "sources"
    path = storage.version_dir(workspace.index_dir, version) / "articles.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        articles = [Article.from_json(entry) for entry in data.values()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EditConflict("version_unusable", f"{path}: cannot be read ({exc})") from None
    rebuilt = {
        a.id: (a.language, render_article(a.language, a.id, _fields(a)).encode("utf-8")) for a in articles
    }
    return rebuilt, "articles"


def rollback(workspace: KbWorkspace, version: Any, *, discard_unpublished: bool = False) -> dict[str, Any]:
    """Serve `version` again and put its article files back, so the next publish starts from it rather than
    publishing again what was rolled back. Unpublished edits would be overwritten: refused unless
    `discard_unpublished`. Nothing changes when the version does not load."""
    from kb_index import versions
    from kb_index.manifest import IndexLoadError

    version = _check_version_name(version, "version")
    with kb_lock(workspace):
        _existing_version(workspace, version)
        pending = unpublished_changes(workspace)
        discarded = sorted({article_id for ids in pending.values() for article_id in ids})
        if discarded and not discard_unpublished:
            raise EditConflict(
                "unpublished_changes",
                f"articles changed since the served version would be overwritten: {', '.join(discarded)}",
                {"unpublished": pending},
            )
        target, restored_from = _version_texts(workspace, version)
        files = _working(workspace)
        written = sorted(
            article_id
            for article_id, (_, raw) in target.items()
            if files.get(article_id, (None, b""))[1] != raw
        )
        deleted = sorted(set(files) - set(target))

        def restore() -> None:
            for article_id in written:
                language, raw = target[article_id]
                _write(workspace.article_path(language, article_id), raw)
            for article_id in deleted:
                with contextlib.suppress(FileNotFoundError):
                    files[article_id][0].unlink()

        try:
            previous = versions.rollback(workspace.index_dir, version, before_switch=restore)
        except IndexLoadError as exc:
            raise EditConflict("version_unusable", str(exc)) from None
    return {
        "version": version,
        "previous": previous,
        "written": written,
        "deleted": deleted,
        "discarded": discarded,
        "restored_from": restored_from,
    }
