"""Reading and checking the template files in data/quick_replies: the first problem raises a
TemplateError that names the file and line, like a compiler's message, so editors can fix it at once."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from handoff.quick_replies.model import CATEGORIES, LANGUAGES, Template, template_variables, text_problems
from handoff.quick_replies.search import QuickReplies

DEFAULT_DIRECTORY = Path(__file__).resolve().parents[2] / "data" / "quick_replies"
FORMAT_VERSION = 1
TEMPLATE_FIELDS = ("id", "shortcut", "title", "category", "text")
OPTIONAL_FIELDS = ("language",)
FILE_FIELDS = ("version", "language", "templates")

ID_PATTERN = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")
SHORTCUT_PATTERN = re.compile(r"[a-z0-9_-]+")
# libyaml when available: several times faster to compose, and its nodes carry the same marks and tags.
_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"


class TemplateError(ValueError):
    """A template file is unusable; the message starts with file:line like a compiler's. `field` names the
    template's field at fault, when there is one (the studio points its editor at it)."""

    def __init__(
        self,
        path: str,
        line: int | None,
        message: str,
        template_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.template_id = template_id
        self.field = field
        where = f"{path}:{line}" if line is not None else path
        subject = f"template '{template_id}': " if template_id else ""
        super().__init__(f"{where}: {subject}{message}")


def load_templates(directory: Path) -> QuickReplies:
    """Load and check every *.yml file; the first problem raises TemplateError naming file and line."""
    return check_sources(read_sources(directory))


def read_sources(directory: Path) -> list[tuple[Path, str]]:
    """The text of every *.yml file in the directory, by file name."""
    shown = _display(directory)
    if not directory.is_dir():
        raise TemplateError(shown, None, "not a directory")
    paths = sorted(directory.glob("*.yml"))
    if not paths:
        raise TemplateError(shown, None, "no *.yml template files")
    sources: list[tuple[Path, str]] = []
    for path in paths:
        try:
            sources.append((path, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(_display(path), None, f"cannot read the file: {exc}") from exc
    return sources


def check_sources(sources: Sequence[tuple[Path, str]]) -> QuickReplies:
    """The check of `load_templates` on texts not (yet) written: the studio validates a change with it
    before the files are replaced. `sources` are (path, text) in the order files are read."""
    templates: list[Template] = []
    ids: dict[tuple[str, str], str] = {}
    shortcuts: dict[tuple[str, str], tuple[str, str]] = {}
    for path, source in sources:
        for template, line in _parse_file(path, source):
            where = f"{_display(path)}:{line}"
            key = (template.language, template.id)
            if key in ids:
                message = f"duplicate id (first defined at {ids[key]})"
                raise TemplateError(_display(path), line, message, template.id, "id")
            shortcut_key = (template.language, template.shortcut)
            if shortcut_key in shortcuts:
                other_id, other_where = shortcuts[shortcut_key]
                raise TemplateError(
                    _display(path),
                    line,
                    f"shortcut '/{template.shortcut}' is already used by '{other_id}' at {other_where}",
                    template.id,
                    "shortcut",
                )
            ids[key] = where
            shortcuts[shortcut_key] = (template.id, where)
            templates.append(template)
    return QuickReplies(templates)


def _display(path: Path) -> str:
    """Paths relative to the working directory when possible, so messages read like the example."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _parse_file(path: Path, source: str) -> list[tuple[Template, int]]:
    shown = _display(path)
    try:
        # compose, not load: nodes keep their line numbers, and plain scalars keep their resolved tags
        # (so `shortcut: no` is caught as a boolean instead of silently becoming False).
        root: Node | None = yaml.compose(source, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise TemplateError(shown, mark.line + 1 if mark else None, f"invalid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise TemplateError(shown, None, f"invalid YAML: {exc}") from exc
    if root is None:
        raise TemplateError(shown, 1, "the file is empty")
    fields = _fields(root, shown, "the file", FILE_FIELDS, FILE_FIELDS)
    version = fields["version"][1]
    if not (isinstance(version, ScalarNode) and version.tag == _INT_TAG and version.value == "1"):
        raise TemplateError(shown, _line(version), f"'version' must be {FORMAT_VERSION}")
    language_node = fields["language"][1]
    language = _string(language_node, shown, "language", None)
    if language not in LANGUAGES:
        raise TemplateError(shown, _line(language_node), f"'language' must be one of {', '.join(LANGUAGES)}")
    # en.yml, en-sale.yml, ...: the name says the language, so a file copied for translation and not
    # yet relabelled cannot slip its templates into the wrong language.
    named = re.split(r"[-_.]", path.stem, maxsplit=1)[0]
    if named != language:
        raise TemplateError(
            shown, _line(language_node), f"the file declares language '{language}' but is named '{path.name}'"
        )
    items = fields["templates"][1]
    if not isinstance(items, SequenceNode):
        raise TemplateError(shown, _line(items), "'templates' must be a list")
    return [(_template(node, shown, language, path.name), _line(node)) for node in items.value]


def _fields(
    node: Node,
    shown: str,
    what: str,
    required: Sequence[str],
    allowed: Sequence[str],
    template_id: str | None = None,
) -> dict[str, tuple[Node, Node]]:
    if not isinstance(node, MappingNode):
        raise TemplateError(shown, _line(node), f"{what} must be a mapping", template_id)
    fields: dict[str, tuple[Node, Node]] = {}
    for key, value in node.value:
        if not (isinstance(key, ScalarNode) and key.tag == _STR_TAG):
            raise TemplateError(shown, _line(key), f"{what}: field names must be plain words", template_id)
        if key.value in fields:
            message = f"duplicate field '{key.value}'"
            raise TemplateError(shown, _line(key), message, template_id, key.value)
        if key.value not in allowed:
            message = f"unknown field '{key.value}' (allowed: {', '.join(allowed)})"
            raise TemplateError(shown, _line(key), message, template_id, key.value)
        fields[key.value] = (key, value)
    for name in required:
        if name not in fields:
            raise TemplateError(shown, _line(node), f"missing field '{name}'", template_id, name)
    return fields


def _string(node: Node, shown: str, field: str, template_id: str | None) -> str:
    if not (isinstance(node, ScalarNode) and node.tag == _STR_TAG):
        raise TemplateError(shown, _line(node), f"'{field}' must be a string (quote it)", template_id, field)
    value = str(node.value)
    if not value.strip():
        raise TemplateError(shown, _line(node), f"'{field}' must not be empty", template_id, field)
    return value


def field_problems(values: Mapping[str, str], language: str) -> list[tuple[str, str]]:
    """Every problem with a template's field values, as (field, message) in the order of the fields; the
    file check reports the first, the studio's checker all of them. Missing fields are the caller's."""
    problems: list[tuple[str, str]] = []
    if "id" in values and not ID_PATTERN.fullmatch(values["id"]):
        message = "'id' must be dot-separated parts of a-z, 0-9 and _ (e.g. returns.label_sent)"
        problems.append(("id", message))
    if "shortcut" in values and not SHORTCUT_PATTERN.fullmatch(values["shortcut"]):
        problems.append(("shortcut", "'shortcut' may only contain a-z, 0-9, _ and - (no '/', no spaces)"))
    if "category" in values and values["category"] not in CATEGORIES:
        message = f"unknown category '{values['category']}' (one of: {', '.join(CATEGORIES)})"
        problems.append(("category", message))
    if values.get("language", language) != language:
        problems.append(("language", f"language '{values['language']}' differs from the file's '{language}'"))
    if "text" in values:
        problems.extend(("text", problem) for problem in text_problems(values["text"]))
    return problems


def _template(node: Node, shown: str, language: str, file: str = "") -> Template:
    # Read the id first so every later message can say which template it is about.
    template_id: str | None = None
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == "id" and isinstance(value, ScalarNode):
                template_id = str(value.value) or None
    fields = _fields(
        node, shown, "a template", TEMPLATE_FIELDS, TEMPLATE_FIELDS + OPTIONAL_FIELDS, template_id
    )
    values = {name: _string(fields[name][1], shown, name, template_id) for name in fields}

    problems = field_problems(values, language)
    if problems:
        field, message = problems[0]
        raise TemplateError(shown, _line(fields[field][1]), message, template_id, field)
    return Template(
        id=values["id"],
        language=language,
        shortcut=values["shortcut"],
        title=values["title"].strip(),
        category=values["category"],
        text=values["text"].strip(),
        variables=template_variables(values["text"]),
        file=file,
    )
