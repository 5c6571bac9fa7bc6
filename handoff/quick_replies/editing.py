"""Editing the quick-reply templates from the studio: one template id with its English and Chinese
versions at a time, checked like `python -m handoff.quick_replies check`, written back to its YAML file.

- Concurrency: a template's `version` is a digest of its content, so an edit based on an old version (from
  the studio or by hand in the file) is refused with the current template.
- Files: changes go through ruamel.yaml's round trip, so comments, section headers, quoting and order of
  everything else stay as the editors wrote them. A new template goes after the last one of its category.
- Safety: every change is rendered, written to temporary files, read back and checked as a whole set
  before the files are renamed into place; an exclusive lock on the directory serialises writers across
  processes (and readers take a shared one, so nobody reads half of a change that spans two files).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import threading
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.tokens import CommentToken
from yaml.nodes import MappingNode, ScalarNode

from common import atomic_files
from common.formatting import STATUSES, format_date, format_money, label
from handoff.quick_replies.filling import fill
from handoff.quick_replies.loader import TemplateError, check_sources, field_problems, read_sources
from handoff.quick_replies.model import LANGUAGES, known_variables
from handoff.quick_replies.search import QuickReplies

LOCK_NAME = ".quick-replies.lock"  # not *.yml: the loader never reads it
LOCK_TIMEOUT = 10.0
VARIANT_FIELDS = ("shortcut", "title", "category", "text")
LIMITS = {"id": 80, "shortcut": 32, "title": 120, "category": 32, "text": 2000, "file": 64}
RESERVED_IDS = frozenset({"check"})  # POST /api/studio/quick-replies/check
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese"}
FILE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*\.yml")
_LIST_ITEM = re.compile(r"^( *)- ", re.MULTILINE)  # the first template's dash: how far the list is indented

_STR_TAG = "tag:yaml.org,2002:str"
_SAFE_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MISSING: Any = object()

SAMPLES: dict[str, dict[str, str]] = {
    "en": {
        "customer_name": "Alice Carter",
        "agent_name": "Sam",
        "customer_email": "alice.carter@example.com",
        "order_id": "SO-10001021",
        "order_status": label(STATUSES, "shipped", "en"),
        "order_total": format_money(59.9, "USD"),
        "item_name": "Linen shirt",
        "delivery_date": format_date(date(2026, 5, 6), "en"),
        "eta": format_date(date(2026, 5, 9), "en"),
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "return_number": "RA-104233",
        "new_address": "12 High Street, Bristol BS1 4DJ",
        "refund_amount": format_money(59.9, "USD"),
        "coupon_code": "SORRY10",
        "points_balance": "1,250",
        "ticket_id": "T-20931",
    },
    "zh": {
        "customer_name": "王芳",
        "agent_name": "小林",
        "customer_email": "wang.fang@example.com",
        "order_id": "SO-10001021",
        "order_status": label(STATUSES, "shipped", "zh"),
        "order_total": format_money(299.0, "CNY"),
        "item_name": "亚麻衬衫",
        "delivery_date": format_date(date(2026, 5, 6), "zh"),
        "eta": format_date(date(2026, 5, 9), "zh"),
        "carrier": "顺丰速运",
        "tracking_number": "SF1234567890123",
        "return_number": "RA-104233",
        "new_address": "上海市浦东新区世纪大道100号",
        "refund_amount": format_money(299.0, "CNY"),
        "coupon_code": "SORRY10",
        "points_balance": "1250",
        "ticket_id": "T-20931",
    },
}


# --- errors --------------------------------------------------------------------------------------


class DraftInvalid(ValueError):
    """The draft cannot be saved; `problems` holds every error (and warning) the checker found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = next(p for p in self.problems if p.severity == "error")
        super().__init__(f"{first.field}: {first.message}")
        self.field = first.field


class VersionConflict(Exception):
    """The template changed since the editor read it; `current` is what it is now (None: deleted)."""

    def __init__(self, code: str, message: str, current: EditableTemplate | None) -> None:
        super().__init__(message)
        self.code = code
        self.current = current


class TemplateNotFound(LookupError):
    pass


class EditorBusy(TimeoutError):
    """Another process held the directory's lock for longer than the timeout."""


class FilesUnusable(RuntimeError):
    """The template files do not pass the check as they are (a hand edit broke them): fix them first."""


class FilesUnwritable(RuntimeError):
    """The directory or a file cannot be written (a read-only image, a full disk)."""


# --- what the studio shows and edits ----------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    severity: str = "error"  # or "warning": shown, but the save goes ahead

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "severity": self.severity}


@dataclass(frozen=True)
class Variant:
    """One language's version of a template, and the file it lives in."""

    file: str
    shortcut: str
    title: str
    category: str
    text: str

    @property
    def variables(self) -> tuple[str, ...]:
        return known_variables(self.text)

    def content(self) -> dict[str, str]:
        return {"file": self.file, **{name: getattr(self, name) for name in VARIANT_FIELDS}}

    def as_json(self) -> dict[str, Any]:
        return {**self.content(), "variables": list(self.variables)}


@dataclass(frozen=True)
class EditableTemplate:
    """A template id with the versions it has (one or both languages)."""

    id: str
    languages: Mapping[str, Variant] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """A digest of the content: any change, by the studio or by hand in the file, gives a new one."""
        content = {language: self.languages[language].content() for language in sorted(self.languages)}
        canonical = json.dumps([self.id, content], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def content(self) -> dict[str, dict[str, str] | None]:
        return {language: self._variant(language, lambda v: v.content()) for language in LANGUAGES}

    def as_json(self) -> dict[str, Any]:
        languages = {language: self._variant(language, lambda v: v.as_json()) for language in LANGUAGES}
        return {"id": self.id, "version": self.version, "languages": languages}

    def _variant(self, language: str, shape: Callable[[Variant], Any]) -> Any:
        variant = self.languages.get(language)
        return None if variant is None else shape(variant)


@dataclass(frozen=True)
class Checked:
    """The checker's answer on a draft: problems, and per language the variables and a filled preview."""

    problems: list[Problem]
    languages: dict[str, dict[str, Any] | None]

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [p.as_json() for p in self.problems],
            "languages": self.languages,
        }


@dataclass(frozen=True)
class Saved:
    template: EditableTemplate
    previous: EditableTemplate | None
    warnings: list[Problem]
    changed: bool

    @property
    def created(self) -> bool:
        return self.previous is None


def group(replies: QuickReplies) -> dict[str, EditableTemplate]:
    """Templates by id, each with its languages; ids in the order of the files."""
    variants: dict[str, dict[str, Variant]] = {}
    for t in replies.templates:
        variant = Variant(t.file, t.shortcut, t.title, t.category, t.text)
        variants.setdefault(t.id, {})[t.language] = variant
    return {template_id: EditableTemplate(template_id, found) for template_id, found in variants.items()}


def preview(text: str, language: str) -> str:
    """The text as an agent would send it, with sample values in the variables."""
    return fill(text, SAMPLES[language]).text


# --- reading a draft ------------------------------------------------------------------------------


@dataclass
class Draft:
    id: str | None
    version: Any  # str, None (a new template) or _MISSING
    languages: dict[str, dict[str, str] | None]  # given languages: their fields, or None to remove


def read_draft(template_id: object, body: Mapping[str, Any], *, path_id: bool) -> tuple[Draft, list[Problem]]:
    """The draft's shape: every field of the wrong type or unknown is a problem naming the field.
    With `path_id` the id comes from the URL and the body may repeat it (as GET returns it)."""
    problems: list[Problem] = []
    allowed = {"id", "version", "languages"}
    for key in body:
        if key not in allowed:
            problems.append(Problem(str(key), f"unknown field '{key}' (allowed: id, version, languages)"))
    if path_id and "id" in body and body["id"] != template_id:
        problems.append(Problem("id", "'id' in the body differs from the template id in the path"))
    problems.extend(_id_problems(template_id))
    version = body.get("version", _MISSING)
    if version is not _MISSING and version is not None and not (isinstance(version, str) and version):
        problems.append(
            Problem("version", "'version' must be the version you edited, or null for a new template")
        )
    languages: dict[str, dict[str, str] | None] = {}
    raw = body.get("languages", _MISSING)
    if raw is _MISSING:
        problems.append(Problem("languages", '\'languages\' is required: {"en": {...}, "zh": {...}}'))
    elif not isinstance(raw, dict):
        problems.append(Problem("languages", "'languages' must be an object keyed by language (en, zh)"))
    else:
        for language, entry in raw.items():
            where = f"languages.{language}"
            if language not in LANGUAGES:
                problems.append(
                    Problem(where, f"unknown language '{language}' (one of: {', '.join(LANGUAGES)})")
                )
            elif entry is None:
                languages[language] = None
            elif not isinstance(entry, dict):
                problems.append(
                    Problem(where, f"'{where}' must be an object, or null to remove this language")
                )
            else:
                values, entry_problems = _read_variant(entry, where)
                problems.extend(entry_problems)
                languages[language] = values
    return Draft(template_id if isinstance(template_id, str) else None, version, languages), problems


def _id_problems(template_id: object) -> list[Problem]:
    if not isinstance(template_id, str) or not template_id:
        return [Problem("id", "'id' is required: dot-separated parts of a-z, 0-9 and _ (e.g. returns.label)")]
    if len(template_id) > LIMITS["id"]:
        return [Problem("id", f"'id' is longer than {LIMITS['id']} characters")]
    if template_id in RESERVED_IDS:
        return [Problem("id", f"'{template_id}' is reserved; choose another id")]
    return [Problem("id", message) for _, message in field_problems({"id": template_id}, "")]


def _read_variant(entry: Mapping[str, Any], where: str) -> tuple[dict[str, str], list[Problem]]:
    """The fields that are well-formed (the checker still previews the text when the title is wrong),
    and a problem for each that is not."""
    problems: list[Problem] = []
    values: dict[str, str] = {}
    for key in entry:
        # `variables` is computed from the text: accepted (a client may send back what GET gave) and ignored
        if key not in (*VARIANT_FIELDS, "file", "variables"):
            allowed = ", ".join((*VARIANT_FIELDS, "file"))
            problems.append(Problem(f"{where}.{key}", f"unknown field '{key}' (allowed: {allowed})"))
    for name in (*VARIANT_FIELDS, "file"):
        value = entry.get(name)
        at = f"{where}.{name}"
        if value is None:
            if name != "file":
                problems.append(Problem(at, f"'{name}' is required"))
            continue
        if not isinstance(value, str):
            problems.append(Problem(at, f"'{name}' must be a string"))
            continue
        value = value.strip() if name in ("title", "text") else value
        message = _text_problem(name, value)
        if message:
            problems.append(Problem(at, message))
            continue
        values[name] = value
    return values, problems


def _text_problem(name: str, value: str) -> str | None:
    if not value:
        return f"'{name}' must not be empty"
    if len(value) > LIMITS[name]:
        return f"'{name}' is longer than {LIMITS[name]} characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"'{name}' holds text that is not valid Unicode"
    allowed_controls = "\n\t" if name == "text" else ""
    for ch in value:
        if ch not in allowed_controls and unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            return f"'{name}' must not contain control characters or line separators (found U+{ord(ch):04X})"
    return None


# --- checking a draft against the current templates -----------------------------------------------


def review(
    draft: Draft, current: Mapping[str, EditableTemplate], replies: QuickReplies, files: Mapping[str, str]
) -> tuple[dict[str, Variant], list[Problem]]:
    """The template the draft makes (its languages merged over the current ones: a language the draft
    leaves out stays as it is) and every problem with it. `files` maps file names to their languages."""
    existing = current.get(draft.id or "")
    merged: dict[str, Variant] = dict(existing.languages) if existing else {}
    problems: list[Problem] = []
    for language in LANGUAGES:
        if language not in draft.languages:
            continue
        values = draft.languages[language]
        if values is None:
            merged.pop(language, None)
            continue
        where = f"languages.{language}"
        for name, message in field_problems(values, language):
            problems.append(Problem(f"{where}.{name}", message))
        previous = merged.get(language)
        file, file_problem = _file_for(values.get("file"), language, previous, files)
        if file_problem:
            problems.append(Problem(f"{where}.file", file_problem))
        shortcut = values.get("shortcut")
        taken = next(
            (t for t in replies.templates if t.language == language and t.shortcut == shortcut),
            None,
        )
        if taken is not None and taken.id != draft.id:
            message = f"shortcut '/{shortcut}' is already used by '{taken.id}' in {taken.file}"
            problems.append(Problem(f"{where}.shortcut", message))
        merged[language] = Variant(file, *(values.get(name, "") for name in VARIANT_FIELDS))
    if not merged and draft.id is not None:
        problems.append(Problem("languages", "a template needs at least one language (en or zh)"))
    elif merged:
        for language in LANGUAGES:
            if language not in merged:
                name = LANGUAGE_NAMES[language]
                message = f"no {name} version: {name} conversations will not offer this reply"
                problems.append(Problem(f"languages.{language}", message, "warning"))
    return merged, problems


def _file_for(
    wanted: str | None, language: str, previous: Variant | None, files: Mapping[str, str]
) -> tuple[str, str | None]:
    default = f"{language}.yml"
    if wanted is None:
        if previous is not None:
            return previous.file, None
        if default in files or language not in files.values():
            return default, None
        return next(name for name, lang in sorted(files.items()) if lang == language), None
    if not FILE_NAME.fullmatch(wanted) or _named_language(wanted) != language:
        return (
            default,
            f"'file' must be a file name starting with '{language}', e.g. {default} or {language}-sale.yml",
        )
    return wanted, None


def concurrency(draft: Draft, existing: EditableTemplate | None) -> VersionConflict | None:
    """The conflict, if the draft was not based on the template as it is now."""
    if draft.version is None and existing is not None and draft.id is not None:
        message = (
            f"quick reply '{existing.id}' already exists; edit it instead (its current version is attached)"
        )
        return VersionConflict("quick_reply_exists", message, existing)
    if isinstance(draft.version, str):
        if existing is None:
            message = f"quick reply '{draft.id}' was deleted after you opened it"
            return VersionConflict("quick_reply_deleted", message, None)
        if draft.version != existing.version:
            message = (
                f"quick reply '{existing.id}' was changed by someone else; the current version is attached"
            )
            return VersionConflict("quick_reply_changed", message, existing)
    return None


# --- the editor -----------------------------------------------------------------------------------


class TemplateEditor:
    """Reads, checks and writes the templates of one directory (data/quick_replies, or a test's copy).

    Stateless between calls: every call reads the files, so what it answers is what is on disk now.
    `announce` (after a change, with the lock still held) receives the digest of the new files; the
    hub passes LiveQuickReplies.announce so every worker reloads them.
    """

    def __init__(self, directory: Path, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.directory = directory
        self.lock_timeout = lock_timeout

    async def templates(self) -> list[EditableTemplate]:
        _, replies = await self._read()
        return sorted(group(replies).values(), key=lambda t: t.id)

    async def template(self, template_id: str) -> EditableTemplate:
        _, replies = await self._read()
        found = group(replies).get(template_id)
        if found is None:
            raise TemplateNotFound(template_id)
        return found

    async def check(self, body: Mapping[str, Any]) -> Checked:
        """Every problem with an unsaved draft ({id, version?, languages}); nothing is written."""
        sources, replies = await self._read()
        current = group(replies)
        draft, problems = read_draft(body.get("id"), body, path_id=False)
        merged, found = review(draft, current, replies, _files(sources))
        problems.extend(found)
        existing = current.get(draft.id or "")
        conflict = concurrency(draft, existing) if draft.version is not _MISSING else None
        if conflict is not None:
            field_name = "id" if conflict.code == "quick_reply_exists" else "version"
            problems.append(Problem(field_name, str(conflict)))
        languages: dict[str, dict[str, Any] | None] = {}
        for language in LANGUAGES:
            variant = merged.get(language)
            languages[language] = (
                None
                if variant is None
                else {"variables": list(variant.variables), "preview": preview(variant.text, language)}
            )
        return Checked(_ordered(problems), languages)

    async def save(
        self,
        template_id: str,
        body: Mapping[str, Any],
        announce: Callable[[str], Awaitable[object]] | None = None,
    ) -> Saved:
        """Create or update one template from {version, languages}; `version` is required: the version
        the editor started from, or null for a new template."""
        draft, problems = read_draft(template_id, body, path_id=True)
        if draft.version is _MISSING:
            problems.append(
                Problem("version", "'version' is required: the version you edited, or null for a new one")
            )
        if any(p.severity == "error" for p in problems):
            raise DraftInvalid(_ordered(problems))
        async with directory_lock(self.directory, exclusive=True, timeout=self.lock_timeout):
            sources, replies = await asyncio.to_thread(_read_checked, self.directory)
            current = group(replies)
            existing = current.get(template_id)
            conflict = concurrency(draft, existing)
            if conflict is not None:
                raise conflict
            merged, found = review(draft, current, replies, _files(sources))
            if any(p.severity == "error" for p in found):
                raise DraftInvalid(_ordered(found))
            warnings = [p for p in found if p.severity == "warning"]
            after = EditableTemplate(template_id, merged)
            if existing is not None and after.version == existing.version:
                return Saved(existing, existing, warnings, changed=False)
            written = await asyncio.to_thread(_apply, self.directory, sources, existing, after)
            if announce is not None:
                await announce(sources_digest(written))
        return Saved(after, existing, warnings, changed=True)

    async def delete(
        self,
        template_id: str,
        version: str,
        announce: Callable[[str], Awaitable[object]] | None = None,
    ) -> EditableTemplate:
        """Remove a template from every file; `version` must be the current one."""
        async with directory_lock(self.directory, exclusive=True, timeout=self.lock_timeout):
            sources, replies = await asyncio.to_thread(_read_checked, self.directory)
            existing = group(replies).get(template_id)
            if existing is None:
                raise TemplateNotFound(template_id)
            conflict = concurrency(Draft(template_id, version, {}), existing)
            if conflict is not None:
                raise conflict
            written = await asyncio.to_thread(
                _apply, self.directory, sources, existing, EditableTemplate(template_id, {})
            )
            if announce is not None:
                await announce(sources_digest(written))
        return existing

    async def _read(self) -> tuple[list[tuple[Path, str]], QuickReplies]:
        async with directory_lock(self.directory, exclusive=False, timeout=self.lock_timeout):
            return await asyncio.to_thread(_read_checked, self.directory)


def _files(sources: Iterable[tuple[Path, str]]) -> dict[str, str]:
    """Template files by name with their language (the loader has checked that the name says it)."""
    return {path.name: _named_language(path.name) for path, _ in sources}


def _named_language(name: str) -> str:
    return re.split(r"[-_.]", name.removesuffix(".yml"), maxsplit=1)[0]


def _ordered(problems: list[Problem]) -> list[Problem]:
    """Errors before warnings, each in the order found (the first error is the one a 400 names)."""
    return [p for p in problems if p.severity == "error"] + [p for p in problems if p.severity != "error"]


def _read_checked(directory: Path) -> tuple[list[tuple[Path, str]], QuickReplies]:
    try:
        sources = read_sources(directory)
        return sources, check_sources(sources)
    except TemplateError as exc:
        raise FilesUnusable(f"the quick-reply files have a problem; fix it first: {exc}") from exc


def sources_digest(sources: Iterable[tuple[Path, str]]) -> str:
    """A digest of the files' names and texts: a worker compares it with what it read to know whether its
    view of a shared directory has caught up with a change."""
    digest = hashlib.sha256()
    for path, text in sorted(sources, key=lambda item: item[0].name):
        digest.update(path.name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


# --- writing --------------------------------------------------------------------------------------


def _apply(
    directory: Path,
    sources: Sequence[tuple[Path, str]],
    before: EditableTemplate | None,
    after: EditableTemplate,
) -> list[tuple[Path, str]]:
    """Render the change into the files it touches, check the whole new set, write it atomically; the
    new set of (path, text) is returned."""
    texts = {path.name: text for path, text in sources}
    documents: dict[str, tuple[YAML, CommentedMap]] = {}

    def document(name: str, language: str) -> CommentedMap:
        if name not in documents:
            text = texts.get(name) or _new_file(language)
            documents[name] = _round_trip(text)
        return documents[name][1]

    old = dict(before.languages) if before else {}
    for language in LANGUAGES:
        was, now = old.get(language), after.languages.get(language)
        if was == now:
            continue
        if was is not None and (now is None or now.file != was.file):
            _remove(document(was.file, language)["templates"], after.id)
        if now is not None:
            items = document(now.file, language)["templates"]
            index = _index(items, after.id)
            if index is None:
                _insert(items, _new_item(after.id, now))
            else:
                _update(items[index], now)
    rendered = {name: _dump(*documents[name]) for name in documents}
    candidate = [(directory / name, rendered.get(name, text)) for name, text in texts.items()]
    candidate += [(directory / name, text) for name, text in rendered.items() if name not in texts]
    candidate.sort(key=lambda item: item[0].name)
    _write_checked(directory, rendered, candidate, after)
    return candidate


def _write_checked(
    directory: Path,
    rendered: Mapping[str, str],
    candidate: Sequence[tuple[Path, str]],
    after: EditableTemplate,
) -> None:
    """Temporary files first; they are read back and checked with the rest before any is renamed."""
    temporary: dict[str, Path] = {}
    try:
        for name, text in rendered.items():
            target = directory / name
            temporary[name] = atomic_files.write_temporary(
                target, text.encode("utf-8"), atomic_files.file_mode(target, 0o644)
            )
        read_back = [
            (path, temporary[path.name].read_text(encoding="utf-8") if path.name in temporary else text)
            for path, text in candidate
        ]
        _check_written(read_back, after)
        for name, path in temporary.items():
            os.replace(path, directory / name)
        temporary.clear()
        atomic_files.sync_directory(directory)
    except OSError as exc:
        raise FilesUnwritable(f"the quick-reply files cannot be written: {exc}") from exc
    finally:
        for path in temporary.values():
            with contextlib.suppress(OSError):
                path.unlink()


def _check_written(read_back: Sequence[tuple[Path, str]], after: EditableTemplate) -> None:
    """The files as written must pass the check and give back exactly the saved template."""
    unwritable = "languages"
    try:
        written = group(check_sources(read_back)).get(after.id, EditableTemplate(after.id, {}))
    except TemplateError as exc:
        language = next((v for v in after.languages if after.languages[v].file == Path(exc.path).name), None)
        if exc.template_id == after.id and exc.field and language:
            unwritable = f"languages.{language}.{exc.field}"
        raise DraftInvalid([Problem(unwritable, f"the change does not pass the file check: {exc}")]) from exc
    if written.version != after.version:  # something the YAML emitter does not write back faithfully
        raise DraftInvalid(
            [Problem(unwritable, "the change cannot be written so that it reads back the same")]
        )


def _new_file(language: str) -> str:
    return (
        f"# Quick replies for human agents, {LANGUAGE_NAMES[language]}. "
        "Format and variables: docs/quick-replies.md\n"
        f"version: 1\nlanguage: {language}\ntemplates: []\n"
    )


def _round_trip(text: str) -> tuple[YAML, CommentedMap]:
    """The document with its comments and quoting, and a YAML set to write it back in the same layout:
    the list's indentation as the file has it ("  - id:" in the shipped files), lines never wrapped."""
    handler = YAML(typ="rt")
    handler.preserve_quotes = True
    handler.width = 1_000_000
    offset = _LIST_ITEM.search(text)
    dash = len(offset.group(1)) if offset else 2
    handler.indent(mapping=2, sequence=dash + 2, offset=dash)
    document = handler.load(text)
    items = document.get("templates")
    if isinstance(items, CommentedSeq):
        items.fa.set_block_style()
    return handler, document


def _dump(handler: YAML, document: CommentedMap) -> str:
    stream = io.StringIO()
    handler.dump(document, stream)
    return stream.getvalue()


def _index(items: CommentedSeq, template_id: str) -> int | None:
    return next((i for i, item in enumerate(items) if item.get("id") == template_id), None)


def _scalar(value: str, *, quoted: bool = False) -> str:
    """Plain when PyYAML (which reads the files) reads the plain word back as this very string, so a
    title such as `no` or `1.0` is quoted; the text is always double-quoted, as the editors' guide asks."""
    if quoted or not _plain_reads_back(value):
        double_quoted: str = DoubleQuotedScalarString(value)
        return double_quoted
    return value


def _plain_reads_back(value: str) -> bool:
    try:
        node = yaml.compose(f"k: {value}\n", Loader=_SAFE_LOADER)
    except yaml.YAMLError:
        return False
    if not (isinstance(node, MappingNode) and len(node.value) == 1):
        return False
    scalar = node.value[0][1]
    return isinstance(scalar, ScalarNode) and scalar.tag == _STR_TAG and scalar.value == value


def _new_item(template_id: str, variant: Variant) -> CommentedMap:
    item = CommentedMap()
    item["id"] = _scalar(template_id)
    for name in VARIANT_FIELDS:
        item[name] = _scalar(getattr(variant, name), quoted=name == "text")
    return item


def _update(item: CommentedMap, variant: Variant) -> None:
    """Only the fields that changed are replaced: the others keep their quoting and comments."""
    for name in VARIANT_FIELDS:
        value = getattr(variant, name)
        current = item.get(name)
        if not (isinstance(current, str) and current.strip() == value):
            item[name] = _scalar(value, quoted=name == "text")


def _insert(items: CommentedSeq, item: CommentedMap) -> None:
    """After the last template of the same category (the files are grouped by category), else at the end.
    The comment lines that followed that template (the next section's header) move below the new one."""
    category = item["category"]
    index = next((i for i in range(len(items) - 1, -1, -1) if items[i].get("category") == category), None)
    anchor = len(items) - 1 if index is None else index
    if anchor < 0:
        items.append(item)
        return
    trailing = _pop_trailing(items[anchor])
    items.insert(anchor + 1, item)
    if trailing is not None:
        _set_trailing(item, trailing)


def _remove(items: CommentedSeq, template_id: str) -> None:
    """The comment lines after the removed template stay where they were (under the one before it)."""
    index = _index(items, template_id)
    if index is None:
        return
    trailing = _pop_trailing(items[index])
    del items[index]
    if trailing is None:
        return
    if index > 0:
        _append_trailing(items[index - 1], trailing)
        return
    # The first template: its trailing lines now come right after the list's leading comment, if any.
    leading = items.ca.comment[1] if items.ca.comment and len(items.ca.comment) > 1 else None
    if isinstance(leading, list):
        leading.append(CommentToken(trailing.value[1:], trailing.start_mark))
    elif items:
        items.ca.comment = [None, [CommentToken(trailing.value.lstrip("\n"), trailing.start_mark)]]


def _last_key(item: CommentedMap) -> Any:
    return next(reversed(list(item.keys())), None)


def _pop_trailing(item: CommentedMap) -> CommentToken | None:
    """The comment token after the item's last value: blank lines and comments up to the next item."""
    entry = item.ca.items.get(_last_key(item))
    if not entry or len(entry) < 3 or entry[2] is None:
        return None
    token: CommentToken = entry[2]
    entry[2] = None
    return token


def _set_trailing(item: CommentedMap, token: CommentToken) -> None:
    key = _last_key(item)
    entry = item.ca.items.setdefault(key, [None, None, None, None])
    entry[2] = token


def _append_trailing(item: CommentedMap, token: CommentToken) -> None:
    existing = _pop_trailing(item)
    if existing is not None:
        # Both start by ending the value's line: the second one's first newline is that same line end.
        existing.value = existing.value + token.value[1:]
        token = existing
    _set_trailing(item, token)


# --- the lock -------------------------------------------------------------------------------------

_held: set[str] = set()  # directories this process holds exclusively (flock is per process on NFS)
_held_guard = threading.Lock()


@contextlib.asynccontextmanager
async def directory_lock(
    directory: Path, *, exclusive: bool, timeout: float = LOCK_TIMEOUT
) -> AsyncIterator[None]:
    """An flock on the directory's lock file: exclusive for writers, shared for readers. Polled, so the
    event loop never blocks; EditorBusy after `timeout`. A reader of a directory where the lock file
    cannot be created (a read-only image) reads without it: nobody can write there either."""
    path = directory / LOCK_NAME
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exclusive:
            raise FilesUnwritable(f"the quick-reply directory cannot be written: {exc}") from exc
        handle = -1
    if handle < 0:
        yield
        return
    key = str(path.resolve())
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(handle, key, exclusive):
            if time.monotonic() >= deadline:
                raise EditorBusy("the quick replies are being saved by someone else; retry in a moment")
            await asyncio.sleep(0.02)
        try:
            yield
        finally:
            with _held_guard:
                if exclusive:
                    _held.discard(key)
                fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)


def _try_lock(handle: int, key: str, exclusive: bool) -> bool:
    with _held_guard:
        if key in _held:
            return False
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if exclusive:
            _held.add(key)
        return True
