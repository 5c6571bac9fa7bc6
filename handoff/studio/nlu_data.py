"""Training examples per intent and language: read from data/nlu/{en,zh}/*.yml, written back in place.

The files stay the editors' files: a write changes only the lines of the examples it touches (round-trip
YAML keeps comments, order and the `examples: |` blocks), goes to a temporary file that is parsed again and
compared with the intended content, and only then replaces the original. An exclusive file lock around each
read-modify-write keeps hub workers on one machine from interleaving. An (intent, language)'s version is a
hash of its examples, so every process computes the same one and an edit based on an older one is refused.

The same intent may have examples in several files of a language (a feature file and boundaries.yml); new
examples go to the end of its largest block, or to data/nlu/<language>/studio.yml when it has none yet.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from common import atomic_files
from handoff.errors import BadRequest, Conflict, NotFoundError
from handoff.studio.masking import mask

LANGUAGES = ("en", "zh")
MAX_TEXT_CHARS = 500
MAX_TEXTS_PER_ADD = 100
MIN_EXAMPLES = 10
MAX_QUERY_CHARS = 200
STUDIO_FILE = "studio.yml"
FALLBACK_INTENT = "nlu_fallback"  # assigned by the model when no intent is confident: takes no examples
# Found in every written form by the pattern extractor (common/patterns.py): marking them teaches nothing.
PATTERN_ENTITIES = frozenset({"order_id", "email", "phone", "amount"})

# Rasa 3's entity markup (rasa/shared/nlu/training_data/entities_parser.py):
# [text](entity), [text](entity:value), [text]{"entity": ...}, [text][{"entity": ...}, {...}]
ENTITY_MARKUP = re.compile(
    r"\[(?P<text>[^\]]+?)\]"
    r"(\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)|\{(?P<dict>[^}]+?)\}|\[(?P<dicts>.*?)\])"
)
_SINGLE_DICT = re.compile(r"\{(?P<dict>[^}]+?)\}")
_ENTITY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_ENTITY_KEYS = frozenset({"entity", "value", "role", "group"})
_CJK_SPACE = re.compile(r" (?=[\u2e80-\u9fff\uf900-\ufaff])|(?<=[\u2e80-\u9fff\uf900-\ufaff]) ")
_NEW_FILE = (
    '# Examples added in the studio for intents that had none in this language.\nversion: "3.1"\nnlu:\n'
)


class MarkupError(ValueError):
    """Entity markup Rasa would reject or misread."""


class Refused(BadRequest):
    """A text the store will not write; `kind` says why (the live warnings use the same kinds)."""

    def __init__(self, kind: str, message: str, field: str | None) -> None:
        super().__init__(message, field=field)
        self.kind = kind


class NluWriteError(RuntimeError):
    """The file about to replace a data file does not hold what was intended; nothing was replaced."""


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str
    text: str
    start: int  # in the plain text
    end: int
    role: str | None = None
    group: str | None = None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"entity": self.entity, "value": self.value, "text": self.text}
        found.update(start=self.start, end=self.end)
        if self.role is not None:
            found["role"] = self.role
        if self.group is not None:
            found["group"] = self.group
        return found


@dataclass(frozen=True)
class Example:
    text: str  # as written, with markup
    plain: str
    entities: tuple[Entity, ...]
    file: str  # relative to the project root
    problem: str | None = None  # markup the store could not read (written by hand)

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "text": self.text,
            "plain": self.plain,
            "entities": [e.as_dict() for e in self.entities],
            "file": self.file,
        }
        if self.problem is not None:
            found["problem"] = self.problem
        return found


@dataclass(frozen=True)
class _Block:
    """One `- intent:` item of a data file."""

    file: str
    index: int  # position in the file's `nlu` list
    intent: str
    examples: tuple[Example, ...]
    editable: bool  # a `examples: |` block; the list-of-mappings form is read, never written

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(e.text for e in self.examples)


@dataclass(frozen=True)
class _Domain:
    intents: tuple[str, ...]
    entities: frozenset[str]


@dataclass(frozen=True)
class IntentExamples:
    """An intent's examples in one language, with the version an edit must be based on."""

    intent: str
    language: str
    version: str
    files: tuple[str, ...]  # the files holding them, relative to the project root
    adds_to: str  # where new examples go
    examples: tuple[Example, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "language": self.language,
            "version": self.version,
            "count": len(self.examples),
            "files": list(self.files),
            "adds_to": self.adds_to,
            "examples": [e.as_dict() for e in self.examples],
        }


@dataclass(frozen=True)
class Saved:
    """The outcome of a write: the intent's examples afterwards and the texts as stored."""

    examples: IntentExamples
    texts: tuple[str, ...]
    target: IntentExamples | None = None  # a move: the receiving intent's examples


@dataclass(frozen=True)
class Accepted:
    """A customer message added by the inbox: the example as stored and what masking replaced."""

    example: Example
    masked: tuple[str, ...]
    examples: IntentExamples


@dataclass
class _FileChange:
    path: Path
    # block index -> operations on it; blocks appended at the end as (intent, texts)
    ops: dict[int, list[tuple[str, ...]]] = dataclasses.field(default_factory=dict)
    new_blocks: list[tuple[str, list[str]]] = dataclasses.field(default_factory=list)
    intents: dict[int, str] = dataclasses.field(default_factory=dict)  # what each changed block must be

    def op(self, block: _Block, *operation: str) -> None:
        self.ops.setdefault(block.index, []).append(operation)
        self.intents[block.index] = block.intent


# -- markup and normalisation ------------------------------------------------------------------------


def parse_markup(text: str) -> tuple[str, tuple[Entity, ...]]:
    """Plain text and entities of an example written with Rasa's markup; MarkupError when malformed."""
    plain: list[str] = []
    entities: list[Entity] = []
    position = 0
    length = 0
    for match in ENTITY_MARKUP.finditer(text):
        _no_stray_brackets(text[position : match.start()])
        plain.append(text[position : match.start()])
        length += match.start() - position
        shown = match.group("text")
        if shown != shown.strip():
            raise MarkupError(f"the marked words '{shown}' start or end with a space")
        if "[" in shown:
            raise MarkupError(f"the marked words '{shown}' hold a '['")
        start, end = length, length + len(shown)
        if match.group("entity") is not None:
            name = match.group("entity").strip()
            _check_entity_name(name)
            value = match.group("value")
            entities.append(Entity(name, value.strip() if value else shown, shown, start, end))
        elif match.group("dict") is not None:
            entities.append(_entity_from_dict(match.group("dict"), shown, start, end))
        else:
            dicts = [m.group("dict") for m in _SINGLE_DICT.finditer(match.group("dicts"))]
            if not dicts:
                raise MarkupError(f"'[{shown}][...]' names no entity")
            entities.extend(_entity_from_dict(d, shown, start, end) for d in dicts)
        plain.append(shown)
        length = end
        position = match.end()
    _no_stray_brackets(text[position:])
    plain.append(text[position:])
    return "".join(plain), tuple(entities)


def _no_stray_brackets(segment: str) -> None:
    if "[" in segment or "]" in segment:
        raise MarkupError(
            'square brackets are only for marking entities: [words](entity) or [words]{"entity": "name"}'
        )


def _check_entity_name(name: str) -> None:
    if not _ENTITY_NAME.match(name):
        raise MarkupError(f"'{name}' is not an entity name")


def _entity_from_dict(raw: str, shown: str, start: int, end: int) -> Entity:
    try:
        spec = json.loads("{" + raw + "}")
    except ValueError:
        raise MarkupError(f"'{{{raw}}}' is not valid JSON") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("entity"), str):
        raise MarkupError(f"'{{{raw}}}' needs an \"entity\" name")
    unknown = sorted(set(spec) - _ENTITY_KEYS)
    if unknown:
        raise MarkupError(f"'{{{raw}}}' has unknown keys: {', '.join(unknown)} (entity, value, role, group)")
    _check_entity_name(spec["entity"])
    value = spec.get("value", shown)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MarkupError(f"'{{{raw}}}': value must be text or a number")
    for key in ("role", "group"):
        if key in spec and not isinstance(spec[key], str):
            raise MarkupError(f"'{{{raw}}}': {key} must be text")
    return Entity(spec["entity"], str(value), shown, start, end, spec.get("role"), spec.get("group"))


def _loose(plain: str) -> str:
    """What makes two examples of one intent the same: case, width and spacing do not count."""
    folded = " ".join(unicodedata.normalize("NFKC", plain).casefold().split())
    return _CJK_SPACE.sub("", folded)


def normalised(plain: str) -> str:
    """What makes two examples of different intents the same text: also punctuation and symbols do not
    count (a warning, so "where's" and "wheres" meet)."""
    folded = unicodedata.normalize("NFKC", plain).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "PSZC")


def _version(intent: str, language: str, texts: Sequence[str]) -> str:
    payload = json.dumps([intent, language, list(texts)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def _example_lines(examples: str) -> Iterator[str]:
    """The examples of an `examples: |` block, read as Rasa reads them."""
    for line in examples.splitlines():
        if line.startswith("-"):
            yield line[1:].strip("\n\r ")


def _example(text: str, file: str) -> Example:
    try:
        plain, entities = parse_markup(text)
    except MarkupError as exc:
        return Example(text, text, (), file, problem=str(exc))
    return Example(text, plain, entities, file)


# -- YAML ----------------------------------------------------------------------------------------------


def _safe_yaml() -> YAML:
    reader = YAML(typ="safe", pure=True)
    reader.version = (1, 2)  # as Rasa reads its data
    return reader


def _round_trip_yaml(text: str) -> YAML:
    writer = YAML(typ="rt")
    writer.preserve_quotes = True
    writer.width = 100_000  # never fold a long line the editor wrote on one
    indent, offset = 2, 0
    if text:
        with contextlib.suppress(YAMLError):
            _, guessed_indent, guessed_offset = load_yaml_guess_indent(text)
            indent = guessed_indent or indent
            offset = guessed_offset or offset
    writer.indent(mapping=indent, sequence=indent + offset, offset=offset)
    return writer


def _blocks_of(data: Any, file: str) -> list[_Block]:
    if data is None:
        return []
    if not isinstance(data, Mapping):
        raise ValueError("the file does not hold a mapping")
    items = data.get("nlu") or []
    if not isinstance(items, list):
        raise ValueError("'nlu' is not a list")
    blocks = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or "intent" not in item:
            continue  # synonyms, regexes and lookups are not the studio's
        raw = item.get("examples")
        if isinstance(raw, str):
            texts, editable = list(_example_lines(raw)), True
        elif isinstance(raw, list):
            texts = [str(e["text"]) for e in raw if isinstance(e, Mapping) and "text" in e]
            editable = False
        else:
            texts, editable = [], False
        examples = tuple(_example(t, file) for t in texts)
        blocks.append(_Block(file, index, str(item["intent"]), examples, editable))
    return blocks


def _trailing_comment_slot(item: CommentedMap) -> list[Any] | None:
    """The comment slot after a mapping's last value: it holds the comments and blank lines before the
    next item of the list."""
    if not item:
        return None
    last = list(item.keys())[-1]
    slot: list[Any] = item.ca.items.setdefault(last, [None, None, None, None])
    return slot


def _remove_item(doc: CommentedMap, seq: CommentedSeq, index: int) -> None:
    """Remove an `nlu` item with its own leading comment, keeping the comment that leads the next one."""
    item = seq[index]
    own = _trailing_comment_slot(item) if isinstance(item, CommentedMap) else None
    after = own[2] if own is not None else None
    if index > 0 and isinstance(seq[index - 1], CommentedMap):
        slot = _trailing_comment_slot(seq[index - 1])
        if slot is not None:
            slot[2] = after
    elif index == 0:
        leading = [after] if after is not None else None
        doc_slot = doc.ca.items.get("nlu")
        if doc_slot is not None and len(doc_slot) > 3:
            doc_slot[3] = leading
        if seq.ca.comment is not None and len(seq.ca.comment) > 1:
            seq.ca.comment[1] = leading
    del seq[index]


def _literal(lines: Sequence[str]) -> LiteralScalarString:
    block: LiteralScalarString = LiteralScalarString("".join(f"{line}\n" for line in lines))
    return block


def _apply_ops(lines: list[str], ops: Sequence[tuple[str, ...]]) -> list[str]:
    """The lines of an `examples: |` block after appending, replacing or removing examples. A replaced
    example keeps its place; other copies of it go (a copy teaches nothing)."""
    for op in ops:
        if op[0] == "append":
            lines = [*lines, *(f"- {text}" for text in op[1:])]
        elif op[0] == "remove":
            lines = [line for line in lines if _line_text(line) != op[1]]
        elif op[0] == "replace":
            old, new = op[1], op[2]
            result, done = [], False
            for line in lines:
                if _line_text(line) == old:
                    if not done:
                        result.append(f"- {new}")
                        done = True
                    continue
                result.append(line)
            lines = result
    return lines


def _line_text(line: str) -> str | None:
    return line[1:].strip("\n\r ") if line.startswith("-") else None


# -- the store -------------------------------------------------------------------------------------------


class NluData:
    """The NLU training data of a project root (data/nlu/<language>/ and bot/domain/)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.nlu_dir = self.root / "data" / "nlu"
        self.domain_dir = self.root / "bot" / "domain"
        self.lock_path = self.root / "var" / "studio" / "nlu.lock"
        self._files: dict[Path, tuple[tuple[int, int, int], list[_Block]]] = {}
        self._domain_cache: tuple[tuple[Any, ...], _Domain] | None = None
        self._guard = threading.Lock()

    # -- reading ------------------------------------------------------------------------------------

    def intents(self) -> list[dict[str, Any]]:
        """Every intent of the domain with, per language, its example count, version and files."""
        domain = self._domain()
        by_language = {language: self._by_intent(language) for language in LANGUAGES}
        found = []
        for name in sorted(domain.intents):
            languages = {}
            for language in LANGUAGES:
                blocks = by_language[language].get(name, [])
                texts = [t for b in blocks for t in b.texts]
                languages[language] = {
                    "count": len(texts),
                    "version": _version(name, language, texts),
                    "files": _files_of(blocks),
                }
            found.append({"name": name, "editable": name != FALLBACK_INTENT, "languages": languages})
        return found

    def examples(self, intent: str, language: str) -> IntentExamples:
        """The examples of an intent in a language, with their version."""
        language = _check_language(language)
        self._known_intent(intent, self._domain())
        return self._view(intent, language, self._by_intent(language).get(intent, []))

    def search(
        self, query: str, language: str | None = None, intent: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Examples whose text contains `query` (case, width and spacing ignored), across intents."""
        if not isinstance(query, str) or len(query) > MAX_QUERY_CHARS:
            raise BadRequest(f"the search text is at most {MAX_QUERY_CHARS} characters", field="q")
        languages = LANGUAGES if language is None else (_check_language(language),)
        if intent is not None:
            self._known_intent(intent, self._domain(), field="intent")
        wanted = _loose(query)
        raw = query.casefold().strip()
        matches = []
        for lang in languages:
            for name, blocks in sorted(self._by_intent(lang).items()):
                if intent is not None and name != intent:
                    continue
                for block in blocks:
                    for example in block.examples:
                        if wanted in _loose(example.plain) or (raw and raw in example.text.casefold()):
                            matches.append({"intent": name, "language": lang, **example.as_dict()})
        return {
            "query": query,
            "total": len(matches),
            "examples": matches[:limit],
            "truncated": len(matches) > limit,
        }

    def warnings(self, intent: Any, language: Any, texts: Any) -> list[dict[str, Any]]:
        """What would be wrong or doubtful about adding `texts` to the intent, without writing anything.
        `blocking` warnings are refusals a save would give."""
        if not isinstance(intent, str) or not intent:
            raise BadRequest("intent is required", field="intent")
        language = _check_language(language)
        domain = self._domain()
        self._known_intent(intent, domain, field="intent")
        _check_text_list(texts, limit=MAX_TEXTS_PER_ADD, allow_empty=True)
        found: list[dict[str, Any]] = []
        state = {lang: self._by_intent(lang) for lang in LANGUAGES}
        exact = _Index(state, intent)
        elsewhere = _Index(state, intent, key=normalised)
        own = [e for b in state[language].get(intent, []) for e in b.examples]
        seen_loose = {_loose(e.plain): e.text for e in own}
        seen_normal = {normalised(e.plain): e.text for e in own}
        added = 0
        for index, raw in enumerate(texts):
            item = f"texts[{index}]"
            try:
                example = self._clean(raw, item, domain)
                self._check_duplicates(intent, language, example, item, exact, seen_loose)
            except Refused as exc:  # what a save would refuse
                found.append(_warning(exc.kind, index, raw, str(exc), blocking=True))
                continue
            seen_loose[_loose(example.plain)] = example.text
            added += 1
            key = normalised(example.plain)
            if key in seen_normal:
                message = (
                    f"'{example.text}' differs from the example '{seen_normal[key]}' only in punctuation"
                )
                found.append(_warning("near_duplicate", index, raw, message, example=seen_normal[key]))
            seen_normal[key] = example.text
            for other in elsewhere.first_per_intent(key):
                message = f"'{example.text}' is like '{other.text}' of '{other.intent}' ({other.language})"
                detail: dict[str, Any] = {"intent": other.intent, "language": other.language}
                detail["example"] = other.text
                found.append(_warning("same_text_in_other_intent", index, raw, message, **detail))
            for entity in example.entities:
                if entity.entity in PATTERN_ENTITIES:
                    message = (
                        f"'{entity.entity}' is found by the pattern extractor in every written form; "
                        "leave it unmarked"
                    )
                    found.append(_warning("pattern_entity", index, raw, message, entity=entity.entity))
        if intent != FALLBACK_INTENT:
            for lang in LANGUAGES:
                count = sum(len(b.examples) for b in state[lang].get(intent, [])) + (
                    added if lang == language else 0
                )
                if count < MIN_EXAMPLES:
                    message = f"'{intent}' would have {count} examples in {lang} (at least {MIN_EXAMPLES})"
                    found.append(
                        _warning(
                            "few_examples",
                            None,
                            None,
                            message,
                            language=lang,
                            count=count,
                            minimum=MIN_EXAMPLES,
                        )
                    )
        return found

    # -- writing ------------------------------------------------------------------------------------

    def add(self, intent: str, language: str, texts: Any, base_version: Any) -> Saved:
        """Append examples at the end of the intent's largest block (data/nlu/<language>/studio.yml when it
        has none)."""
        return self._add(intent, language, texts, _required_version(base_version))

    def _add(
        self,
        intent: str,
        language: str,
        texts: Any,
        base_version: str | None,
        intent_field: str | None = None,
        text_field: str | None = None,
    ) -> Saved:
        """`add`; without a version check when `base_version` is None. The fields name the intent and every
        text in errors (by default: a 404 for the intent, texts[i] for the texts)."""
        language = _check_language(language)
        _check_text_list(texts, limit=MAX_TEXTS_PER_ADD)
        with self._locked():
            domain = self._domain()
            self._writable_intent(intent, domain, field=intent_field)
            fields = [text_field or f"texts[{i}]" for i in range(len(texts))]
            cleaned = [self._clean(raw, fields[i], domain) for i, raw in enumerate(texts)]
            state = {lang: self._by_intent(lang) for lang in LANGUAGES}
            blocks = state[language].get(intent, [])
            if base_version is not None:
                self._check_version(intent, language, blocks, base_version)
            seen = {_loose(e.plain): e.text for b in blocks for e in b.examples}
            exact = _Index(state, intent)
            for index, example in enumerate(cleaned):
                self._check_duplicates(intent, language, example, fields[index], exact, seen)
                seen[_loose(example.plain)] = example.text
            new_texts = [e.text for e in cleaned]
            change = self._append_change(intent, language, blocks, new_texts)
            self._write([change])
            return Saved(self._fresh_view(intent, language), tuple(new_texts))

    def edit(self, intent: str, language: str, old: Any, new: Any, base_version: Any) -> Saved:
        """Replace the example `old` (as written) with `new` where it stands."""
        language = _check_language(language)
        with self._locked():
            domain = self._domain()
            self._writable_intent(intent, domain)
            replacement = self._clean(new, "new", domain)
            state = {lang: self._by_intent(lang) for lang in LANGUAGES}
            blocks = state[language].get(intent, [])
            self._check_version(intent, language, blocks, _required_version(base_version))
            holders = self._holding(blocks, old, "old", intent, language)
            if replacement.text == old:
                return Saved(self._view(intent, language, blocks), (old,))
            seen = {_loose(e.plain): e.text for b in blocks for e in b.examples if e.text != old}
            self._check_duplicates(intent, language, replacement, "new", _Index(state, intent), seen)
            first, *others = holders
            change = {first.file: _FileChange(self.root / first.file)}
            change[first.file].op(first, "replace", old, replacement.text)
            for block in others:
                change.setdefault(block.file, _FileChange(self.root / block.file)).op(block, "remove", old)
            self._write(list(change.values()))
            return Saved(self._fresh_view(intent, language), (replacement.text,))

    def delete(self, intent: str, language: str, text: Any, base_version: Any) -> Saved:
        """Remove the example `text` (as written) from the intent, every copy of it."""
        language = _check_language(language)
        with self._locked():
            domain = self._domain()
            self._writable_intent(intent, domain)
            blocks = self._by_intent(language).get(intent, [])
            self._check_version(intent, language, blocks, _required_version(base_version))
            holders = self._holding(blocks, text, "text", intent, language)
            changes: dict[str, _FileChange] = {}
            for block in holders:
                changes.setdefault(block.file, _FileChange(self.root / block.file)).op(block, "remove", text)
            self._write(list(changes.values()))
            return Saved(self._fresh_view(intent, language), (text,))

    def move(
        self, intent: str, language: str, text: Any, to_intent: Any, base_versions: tuple[Any, Any]
    ) -> Saved:
        """Move the example `text` from `intent` to the end of `to_intent` (same language).
        `base_versions`: the versions of (intent, to_intent) the editor saw."""
        language = _check_language(language)
        with self._locked():
            domain = self._domain()
            self._writable_intent(intent, domain)
            if not isinstance(to_intent, str) or not to_intent:
                raise BadRequest("to_intent is required", field="to_intent")
            self._writable_intent(to_intent, domain, field="to_intent")
            if to_intent == intent:
                raise BadRequest("to_intent is the intent the example is already in", field="to_intent")
            state = {lang: self._by_intent(lang) for lang in LANGUAGES}
            source = state[language].get(intent, [])
            target = state[language].get(to_intent, [])
            from_version, to_version = base_versions
            self._check_version(intent, language, source, _required_version(from_version))
            self._check_version(to_intent, language, target, _required_version(to_version, "to_base_version"))
            holders = self._holding(source, text, "text", intent, language)
            example = self._clean(text, "text", domain)
            seen = {_loose(e.plain): e.text for b in target for e in b.examples}
            elsewhere = _Index(state, to_intent)
            self._check_duplicates(to_intent, language, example, "text", elsewhere, seen, moving=text)
            arriving = self._append_change(to_intent, language, target, [example.text])
            changes = {str(arriving.path): arriving}
            for block in holders:
                key = str(self.root / block.file)
                changes.setdefault(key, _FileChange(self.root / block.file)).op(block, "remove", text)
            # The receiving file first: a failure between the two renames leaves a copy, never a loss.
            order = [changes.pop(str(arriving.path)), *changes.values()]
            self._write(order)
            return Saved(
                self._fresh_view(intent, language), (example.text,), self._fresh_view(to_intent, language)
            )

    # -- checks -------------------------------------------------------------------------------------

    def _clean(self, raw: Any, field: str, domain: _Domain) -> Example:
        if not isinstance(raw, str):
            raise Refused("not_text", f"{field} must be text", field)
        if len(raw) > 4 * MAX_TEXT_CHARS:  # before parsing: markup is never that long
            raise Refused(
                "too_long", f"{field} is {len(raw)} characters long; at most {MAX_TEXT_CHARS}", field
            )
        text = " ".join(raw.split())  # one line: line breaks would end the example
        if not text:
            raise Refused("empty", f"{field} is empty", field)
        if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") or ch == "\ufeff" for ch in text):
            raise Refused("control_characters", f"{field} holds control or unassigned characters", field)
        try:
            plain, entities = parse_markup(text)
        except MarkupError as exc:
            raise Refused("invalid_markup", f"{field}: invalid entity markup: {exc}", field) from None
        if not plain.strip():
            raise Refused("empty", f"{field} is empty", field)
        if len(plain) > MAX_TEXT_CHARS:
            raise Refused(
                "too_long", f"{field} is {len(plain)} characters long; at most {MAX_TEXT_CHARS}", field
            )
        for entity in entities:
            if entity.entity not in domain.entities:
                declared = ", ".join(sorted(domain.entities))
                raise Refused(
                    "unknown_entity",
                    f"{field}: the entity '{entity.entity}' is not in the domain (declared: {declared})",
                    field,
                )
        return Example(text, plain, entities, "")

    def _check_duplicates(
        self,
        intent: str,
        language: str,
        example: Example,
        field: str,
        elsewhere: _Index,
        seen: Mapping[str, str],
        moving: str | None = None,
    ) -> None:
        """Refuse a text the intent already has (case, width and spacing ignored), and a plain text another
        intent has exactly: Rasa's validation fails on the same text under two intents."""
        key = _loose(example.plain)
        if key in seen:
            raise Refused(
                "duplicate_in_intent",
                f"{field}: '{example.text}' is already an example of '{intent}' ({language}): '{seen[key]}'",
                field,
            )
        for other in elsewhere.first_per_intent(example.plain):
            if other.text != moving:
                raise Refused(
                    "duplicate_elsewhere",
                    f"{field}: '{example.plain}' is already an example of '{other.intent}' "
                    f"({other.language}); a text can teach only one intent: move it instead",
                    field,
                )

    def _check_version(self, intent: str, language: str, blocks: list[_Block], base_version: str) -> None:
        current = _version(intent, language, [t for b in blocks for t in b.texts])
        if base_version != current:
            raise Conflict(
                "edit_conflict",
                f"the examples of '{intent}' ({language}) were changed by someone else; "
                "here is the current version",
                current=self._view(intent, language, blocks).as_dict(),
            )

    def _holding(
        self, blocks: list[_Block], text: Any, field: str, intent: str, language: str
    ) -> list[_Block]:
        if not isinstance(text, str) or not text:
            raise BadRequest(f"{field} is required: the example as written", field=field)
        holders = [b for b in blocks if text in b.texts]
        if not holders:
            raise BadRequest(
                f"{field}: {_quoted(text)} is not an example of '{intent}' ({language})", field=field
            )
        locked = [b.file for b in holders if not b.editable]
        if locked:
            raise Conflict(
                "unsupported_layout",
                f"{locked[0]} lists the examples of '{intent}' as mappings; edit that file by hand",
            )
        return holders

    def _known_intent(self, intent: Any, domain: _Domain, field: str | None = None) -> None:
        if not isinstance(intent, str) or intent not in domain.intents:
            message = f"{_quoted(intent)} is not an intent of the domain (bot/domain)"
            if field is not None:
                raise BadRequest(f"{field}: {message}", field=field)
            raise NotFoundError("unknown_intent", message)

    def _writable_intent(self, intent: Any, domain: _Domain, field: str | None = None) -> None:
        self._known_intent(intent, domain, field)
        if intent == FALLBACK_INTENT:
            raise BadRequest(
                f"{FALLBACK_INTENT} takes no examples: the model assigns it when no intent is confident",
                field=field or "intent",
            )

    # -- views --------------------------------------------------------------------------------------

    def _view(self, intent: str, language: str, blocks: list[_Block]) -> IntentExamples:
        examples = tuple(e for b in blocks for e in b.examples)
        home = self._home(blocks)
        return IntentExamples(
            intent,
            language,
            _version(intent, language, [e.text for e in examples]),
            tuple(_files_of(blocks)),
            home.file if home else self._relative(self.nlu_dir / language / STUDIO_FILE),
            examples,
        )

    def _fresh_view(self, intent: str, language: str) -> IntentExamples:
        return self._view(intent, language, self._by_intent(language).get(intent, []))

    @staticmethod
    def _home(blocks: list[_Block]) -> _Block | None:
        editable = [b for b in blocks if b.editable]
        return max(editable, key=lambda b: len(b.examples)) if editable else None  # max keeps the first tie

    def _append_change(
        self, intent: str, language: str, blocks: list[_Block], texts: list[str]
    ) -> _FileChange:
        home = self._home(blocks)
        if home is not None:
            change = _FileChange(self.root / home.file)
            change.op(home, "append", *texts)
        else:
            change = _FileChange(self.nlu_dir / language / STUDIO_FILE)
            change.new_blocks.append((intent, texts))
        return change

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # -- files --------------------------------------------------------------------------------------

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        """One writer at a time across threads and processes (flock locks each open file description)."""
        return atomic_files.exclusive_lock(self.lock_path)

    def _by_intent(self, language: str) -> dict[str, list[_Block]]:
        found: dict[str, list[_Block]] = {}
        directory = self.nlu_dir / language
        paths = (
            sorted(p for p in directory.rglob("*.yml") if not p.name.startswith("."))
            if directory.is_dir()
            else []
        )
        for path in paths:
            for block in self._file_blocks(path):
                found.setdefault(block.intent, []).append(block)
        return found

    def _file_blocks(self, path: Path) -> list[_Block]:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return []
        signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._guard:
            cached = self._files.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        relative = self._relative(path)
        try:
            blocks = _blocks_of(_safe_yaml().load(path.read_text(encoding="utf-8")), relative)
        except (OSError, UnicodeDecodeError, YAMLError, ValueError) as exc:
            raise Conflict("invalid_data_file", f"{relative} cannot be read: {_first_line(exc)}") from None
        with self._guard:
            self._files[path] = (signature, blocks)
        return blocks

    def _domain(self) -> _Domain:
        paths = sorted(self.domain_dir.rglob("*.yml")) if self.domain_dir.is_dir() else []
        signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
        with self._guard:
            cached = self._domain_cache
        if cached is not None and cached[0] == signature:
            return cached[1]
        intents: list[str] = []
        entities: set[str] = set()
        for path in paths:
            try:
                data = _safe_yaml().load(path.read_text(encoding="utf-8")) or {}
            except (OSError, UnicodeDecodeError, YAMLError) as exc:
                relative = self._relative(path)
                raise Conflict(
                    "invalid_domain_file", f"{relative} cannot be read: {_first_line(exc)}"
                ) from None
            if not isinstance(data, Mapping):
                continue
            intents.extend(_names(data.get("intents")))
            entities.update(_names(data.get("entities")))
        domain = _Domain(tuple(dict.fromkeys(intents)), frozenset(entities))
        with self._guard:
            self._domain_cache = (signature, domain)
        return domain

    def _write(self, changes: Sequence[_FileChange]) -> None:
        """Prepare every file, then replace them in order; nothing is replaced unless all are ready."""
        prepared: list[tuple[Path, Path]] = []
        try:
            for change in changes:
                prepared.append((self._prepare(change), change.path))
            for temporary, path in prepared:
                os.replace(temporary, path)
        finally:
            for temporary, _ in prepared:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)

    def _prepare(self, change: _FileChange) -> Path:
        """A temporary file beside `change.path` holding the changed content, checked by reading it back."""
        path = change.path
        original = path.read_text(encoding="utf-8") if path.exists() else ""
        writer = _round_trip_yaml(original)
        doc = writer.load(original or _NEW_FILE)
        if not isinstance(doc, CommentedMap):
            raise NluWriteError(f"{self._relative(path)} does not hold a mapping")
        if not isinstance(doc.get("nlu"), CommentedSeq):
            doc["nlu"] = CommentedSeq()
        seq: CommentedSeq = doc["nlu"]
        before = _blocks_of(_safe_yaml().load(original), "") if original else []
        expected: dict[int, tuple[str, tuple[str, ...]] | None] = {
            b.index: (b.intent, b.texts) for b in before
        }
        removed = []
        for index, ops in change.ops.items():
            item = seq[index] if index < len(seq) else None
            if not isinstance(item, CommentedMap) or str(item.get("intent")) != change.intents[index]:
                raise NluWriteError(f"{self._relative(path)} changed while it was being edited")
            lines = _apply_ops(str(item["examples"]).splitlines(), ops)
            texts = tuple(t for t in (_line_text(line) for line in lines) if t is not None)
            if texts:
                item["examples"] = _literal(lines)
                expected[index] = (str(item["intent"]), texts)
            else:
                removed.append(index)  # an intent without examples fails Rasa's validation
                expected[index] = None
        for index in sorted(removed, reverse=True):
            _remove_item(doc, seq, index)
        wanted = [v for _, v in sorted(expected.items()) if v is not None]
        for intent, new_texts in change.new_blocks:
            if seq.fa.flow_style():
                seq.fa.set_block_style()
            block = CommentedMap([("intent", intent), ("examples", _literal([f"- {t}" for t in new_texts]))])
            seq.append(block)
            wanted.append((intent, tuple(new_texts)))
        buffer = io.StringIO()
        writer.dump(doc, buffer)
        content = buffer.getvalue()
        self._check_written(path, original, content, wanted)
        temporary = atomic_files.write_temporary(
            path, content.encode("utf-8"), atomic_files.file_mode(path, 0o644)
        )
        try:
            self._check_written(path, original, temporary.read_text(encoding="utf-8"), wanted)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return temporary

    def _check_written(
        self, path: Path, original: str, content: str, wanted: list[tuple[str, tuple[str, ...]]]
    ) -> None:
        relative = self._relative(path)
        try:
            data = _safe_yaml().load(content)
            got = [(b.intent, b.texts) for b in _blocks_of(data, relative)]
        except (YAMLError, ValueError) as exc:
            raise NluWriteError(f"{relative}: the new content does not parse: {_first_line(exc)}") from None
        if got != wanted:
            raise NluWriteError(f"{relative}: the new content does not hold the intended examples")
        if original:
            old = _safe_yaml().load(original)
            if {k: v for k, v in old.items() if k != "nlu"} != {k: v for k, v in data.items() if k != "nlu"}:
                raise NluWriteError(f"{relative}: the new content changes more than the examples")


def accept_example(nlu: NluData, intent: str, language: str, text: str, annotated: bool = False) -> Accepted:
    """Add one customer message to an intent's examples, without a version: the inbox's "accept".

    The message is masked again (masking is idempotent) and its square brackets become parentheses: a
    customer's words are never entity markup. An editor's corrected wording (`annotated`) keeps its markup,
    checked like any example's (`[red jacket](item)`). Duplicates and unknown intents are refused like any
    add, with `text` or `intent` named as the field."""
    if not isinstance(text, str):
        raise BadRequest("text must be text", field="text")
    masked = mask(text)
    words = masked.text if annotated else masked.text.replace("[", "(").replace("]", ")")
    saved = nlu._add(intent, language, [words], None, intent_field="intent", text_field="text")
    added = next(e for e in reversed(saved.examples.examples) if e.text == saved.texts[0])
    return Accepted(added, masked.kinds, saved.examples)


# -- helpers -----------------------------------------------------------------------------------------------


def _check_language(language: Any) -> str:
    if language not in LANGUAGES:
        raise BadRequest(f"language must be one of: {', '.join(LANGUAGES)}", field="language")
    return str(language)


def _check_text_list(texts: Any, limit: int, allow_empty: bool = False) -> None:
    if not isinstance(texts, list | tuple) or not (texts or allow_empty):
        raise BadRequest("texts must be a non-empty list of examples", field="texts")
    if len(texts) > limit:
        raise BadRequest(f"at most {limit} texts at a time", field="texts")


def _required_version(value: Any, field: str = "base_version") -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{field} is required: the version the edit is based on", field=field)
    return value


def _files_of(blocks: Sequence[_Block]) -> list[str]:
    return list(dict.fromkeys(b.file for b in blocks))


def _names(entries: Any) -> Iterator[str]:
    """Names from a domain list whose entries are names or one-key mappings ({name: options})."""
    for entry in entries or ():
        if isinstance(entry, str):
            yield entry
        elif isinstance(entry, Mapping) and len(entry) == 1:
            yield str(next(iter(entry)))


@dataclass(frozen=True)
class _Other:
    language: str
    intent: str
    text: str


class _Index:
    """The examples of every intent but one, by a key of their plain text."""

    def __init__(
        self,
        state: Mapping[str, Mapping[str, list[_Block]]],
        skip_intent: str,
        key: Callable[[str], str] = str,
    ) -> None:
        self._key = key
        self._by_key: dict[str, list[_Other]] = {}
        for language, blocks in state.items():
            for name, held in sorted(blocks.items()):
                if name == skip_intent:
                    continue
                for block in held:
                    for example in block.examples:
                        entry = _Other(language, name, example.text)
                        self._by_key.setdefault(key(example.plain), []).append(entry)

    def first_per_intent(self, plain_or_key: str) -> list[_Other]:
        """The first example of each other intent with this key (`plain_or_key` is already a key)."""
        found: dict[tuple[str, str], _Other] = {}
        for other in self._by_key.get(plain_or_key, []):
            found.setdefault((other.language, other.intent), other)
        return list(found.values())


def _warning(
    kind: str, index: int | None, text: Any, message: str, *, blocking: bool = False, **detail: Any
) -> dict[str, Any]:
    return {"kind": kind, "blocking": blocking, "index": index, "text": text, "message": message, **detail}


def _quoted(value: Any, limit: int = 80) -> str:
    """A client's value in an error message, cut short."""
    text = value if isinstance(value, str) else repr(value)
    return f"'{text[:limit]}…'" if len(text) > limit else f"'{text}'"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
