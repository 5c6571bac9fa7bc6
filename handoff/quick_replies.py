"""Quick replies: canned answers a human agent finds by typing '/' in the console.

Editors keep the templates in data/quick_replies/<language>.yml. The console searches them, fills
their {variables} from the handoff packet and must not send while a variable is still unfilled:
a reply that reaches the customer as "Hi {customer_name}" is worse than no reply.

Run `python -m handoff.quick_replies check` after editing; errors name the file and line.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# Pure formatting helpers with no rasa dependency: the console then words statuses, dates and money
# exactly as the assistant did earlier in the same conversation.
from actions.formatting import STATUSES, format_date, format_money, label

DEFAULT_DIRECTORY = Path(__file__).resolve().parents[1] / "data" / "quick_replies"
FORMAT_VERSION = 1
LANGUAGES = ("en", "zh")
CATEGORIES = (
    "greeting",
    "orders",
    "shipping",
    "returns",
    "refunds",
    "payment",
    "invoice",
    "warranty",
    "account",
    "promotions",
    "privacy",
    "escalation",
    "closing",
    "general",
)
# The only variables a template may use, with where each value comes from. A closed set means a typo
# such as {order_no} fails the check instead of blocking every agent who picks the template.
VARIABLES: dict[str, str] = {
    "customer_name": "packet slots.customer_name or order.customer_name (not sent today: the agent types it)",
    "agent_name": "the signed-in agent's display name, supplied by the console",
    "customer_email": "the last `email` entity the customer typed, else slots.email",
    "order_id": "slots.order_id (the order the conversation is about), else order.id",
    "order_status": "order.status, worded in the conversation's language",
    "order_total": "order.total with order.currency, e.g. $59.90 or ¥299.00",
    "item_name": "the order's only item (name_zh in Chinese if sent), else slots.item as the customer put it",
    "delivery_date": "order.delivered_on (the day it was delivered), formatted for the language",
    "eta": "order.eta (estimated delivery) when the packet's order carries it",
    "carrier": "order.carrier when the packet's order carries it",
    "tracking_number": "order.tracking_number when the packet's order carries it",
    "return_number": "slots/order return_number, else the last RA-number the assistant quoted in the chat",
    "new_address": "slots.new_address (the address the customer gave in the change-address form)",
    "refund_amount": "order total when the order is returned (what the assistant quoted); otherwise typed",
    "coupon_code": "typed by the agent: coupons are issued outside the conversation",
    "points_balance": "typed by the agent: the packet carries no membership data",
    "ticket_id": "packet ticket_id if present, else the conversation_id",
}
TEMPLATE_FIELDS = ("id", "shortcut", "title", "category", "text")
OPTIONAL_FIELDS = ("language",)
FILE_FIELDS = ("version", "language", "templates")

ID_PATTERN = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")
SHORTCUT_PATTERN = re.compile(r"[a-z0-9_-]+")
_BRACED = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_VARIABLE = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_WORD = re.compile(r"[^\W_]+")
_RETURN_NUMBER = re.compile(r"\bRA-\d{6}\b")
# libyaml when available: several times faster to compose, and its nodes carry the same marks and tags.
_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"


class TemplateError(ValueError):
    """A template file is unusable; the message starts with file:line like a compiler's."""

    def __init__(self, path: str, line: int | None, message: str, template_id: str | None = None) -> None:
        self.path = path
        self.line = line
        self.template_id = template_id
        where = f"{path}:{line}" if line is not None else path
        subject = f"template '{template_id}': " if template_id else ""
        super().__init__(f"{where}: {subject}{message}")


@dataclass(frozen=True)
class Template:
    id: str
    language: str
    shortcut: str
    title: str
    category: str
    text: str
    variables: tuple[str, ...]


@dataclass(frozen=True)
class Filled:
    """The text to show in the compose box, and the variables the agent still has to fill in."""

    text: str
    missing: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.missing


def template_variables(text: str) -> tuple[str, ...]:
    """Variables in order of first use; ValueError describes the first problem found."""
    names: list[str] = []
    for match in _BRACED.finditer(text):
        name = match.group(1)
        if not _NAME.fullmatch(name):
            raise ValueError(f"malformed variable {{{name}}}: variables are {{snake_case}} names")
        if name not in VARIABLES:
            close = difflib.get_close_matches(name, VARIABLES, n=1)
            hint = f" (did you mean {{{close[0]}}}?)" if close else ""
            raise ValueError(f"unknown variable {{{name}}}{hint}")
        if name not in names:
            names.append(name)
    leftover = _BRACED.sub("", text)
    if "{" in leftover or "}" in leftover:
        raise ValueError("unbalanced brace: '{' and '}' may only surround a variable name")
    return tuple(names)


def fill(template_text: str, context: Mapping[str, str | None]) -> Filled:
    """Substitute the variables that have a value; leave the rest visible as {name} for the agent.

    Values go in verbatim: escaping for HTML or any other output is the renderer's job, and doing it
    here would double-escape. Whitespace-only values count as missing (they would read as a gap).
    Substitution is a single pass, so a value that itself contains "{x}" is never expanded.
    """
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = context.get(name)
        if value is not None and value.strip():
            return value
        if name not in missing:
            missing.append(name)
        return match.group(0)

    return Filled(_VARIABLE.sub(substitute, template_text), tuple(missing))


@dataclass(frozen=True)
class _Entry:
    """A template with its lowercased fields computed once, so each keystroke is a plain scan."""

    template: Template
    order: int
    shortcut: str
    id: str
    title: str
    text: str
    words: tuple[str, ...]
    everything: str

    @classmethod
    def of(cls, template: Template, order: int) -> _Entry:
        id_, title = template.id.casefold(), template.title.casefold()
        text = template.text.casefold()
        words = tuple(dict.fromkeys(_WORD.findall(f"{id_} {title}")))
        everything = "\n".join((template.shortcut, id_, title, text))
        return cls(template, order, template.shortcut, id_, title, text, words, everything)

    def rank(self, query: str, terms: Sequence[str]) -> int | None:
        if self.shortcut == query:
            return 0
        if self.shortcut.startswith(query):
            return 1
        if (
            self.title.startswith(query)
            or self.id.startswith(query)
            or any(word.startswith(query) for word in self.words)
        ):
            return 2
        if query in self.title:  # Chinese titles have no spaces to split words on
            return 3
        if query in self.text:
            return 4
        if len(terms) > 1 and all(term in self.everything for term in terms):
            return 5
        return None


class QuickReplies:
    """All templates, in a stable order: files by name, templates as written in each file."""

    def __init__(self, templates: Iterable[Template]) -> None:
        self._templates = tuple(templates)
        self._by_key = {(t.language, t.id): t for t in self._templates}
        if len(self._by_key) != len(self._templates):
            raise ValueError("template ids must be unique per language")
        self._entries = tuple(_Entry.of(t, i) for i, t in enumerate(self._templates))

    def __len__(self) -> int:
        return len(self._templates)

    @property
    def templates(self) -> tuple[Template, ...]:
        return self._templates

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for template in self._templates:
            counts[template.language] = counts.get(template.language, 0) + 1
        return counts

    def get(self, language: str, id: str) -> Template | None:
        return self._by_key.get((language, id))

    def search(self, query: str, language: str | None = None, limit: int = 20) -> list[Template]:
        """Best matches first: exact shortcut, shortcut prefix, title/id word, title, text, all words."""
        if limit <= 0:
            return []
        normalised = " ".join(query.strip().removeprefix("/").casefold().split())
        entries = [e for e in self._entries if language is None or e.template.language == language]
        if not normalised:
            return [e.template for e in entries[:limit]]
        terms = normalised.split()
        ranked: list[tuple[int, int, Template]] = []
        for entry in entries:
            rank = entry.rank(normalised, terms)
            if rank is not None:
                ranked.append((rank, entry.order, entry.template))
        ranked.sort(key=lambda item: (item[0], item[1]))
        return [template for _, _, template in ranked[:limit]]


def load_templates(directory: Path) -> QuickReplies:
    """Load and check every *.yml file; the first problem raises TemplateError naming file and line."""
    shown = _display(directory)
    if not directory.is_dir():
        raise TemplateError(shown, None, "not a directory")
    paths = sorted(directory.glob("*.yml"))
    if not paths:
        raise TemplateError(shown, None, "no *.yml template files")
    templates: list[Template] = []
    ids: dict[tuple[str, str], str] = {}
    shortcuts: dict[tuple[str, str], tuple[str, str]] = {}
    for path in paths:
        for template, line in _load_file(path):
            where = f"{_display(path)}:{line}"
            key = (template.language, template.id)
            if key in ids:
                raise TemplateError(
                    _display(path), line, f"duplicate id (first defined at {ids[key]})", template.id
                )
            shortcut_key = (template.language, template.shortcut)
            if shortcut_key in shortcuts:
                other_id, other_where = shortcuts[shortcut_key]
                raise TemplateError(
                    _display(path),
                    line,
                    f"shortcut '/{template.shortcut}' is already used by '{other_id}' at {other_where}",
                    template.id,
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


def _load_file(path: Path) -> list[tuple[Template, int]]:
    shown = _display(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(shown, None, f"cannot read the file: {exc}") from exc
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
    return [(_template(node, shown, language), _line(node)) for node in items.value]


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
            raise TemplateError(shown, _line(key), f"duplicate field '{key.value}'", template_id)
        if key.value not in allowed:
            raise TemplateError(
                shown, _line(key), f"unknown field '{key.value}' (allowed: {', '.join(allowed)})", template_id
            )
        fields[key.value] = (key, value)
    for name in required:
        if name not in fields:
            raise TemplateError(shown, _line(node), f"missing field '{name}'", template_id)
    return fields


def _string(node: Node, shown: str, field: str, template_id: str | None) -> str:
    if not (isinstance(node, ScalarNode) and node.tag == _STR_TAG):
        raise TemplateError(shown, _line(node), f"'{field}' must be a string (quote it)", template_id)
    value = str(node.value)
    if not value.strip():
        raise TemplateError(shown, _line(node), f"'{field}' must not be empty", template_id)
    return value


def _template(node: Node, shown: str, language: str) -> Template:
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

    def fail(field: str, message: str) -> TemplateError:
        return TemplateError(shown, _line(fields[field][1]), message, template_id)

    if not ID_PATTERN.fullmatch(values["id"]):
        raise fail("id", "'id' must be dot-separated parts of a-z, 0-9 and _ (e.g. returns.label_sent)")
    if not SHORTCUT_PATTERN.fullmatch(values["shortcut"]):
        raise fail("shortcut", "'shortcut' may only contain a-z, 0-9, _ and - (no '/', no spaces)")
    if values["category"] not in CATEGORIES:
        raise fail("category", f"unknown category '{values['category']}' (one of: {', '.join(CATEGORIES)})")
    if values.get("language", language) != language:
        raise fail("language", f"language '{values['language']}' differs from the file's '{language}'")
    try:
        variables = template_variables(values["text"])
    except ValueError as exc:
        raise fail("text", str(exc)) from None
    return Template(
        id=values["id"],
        language=language,
        shortcut=values["shortcut"],
        title=values["title"].strip(),
        category=values["category"],
        text=values["text"].strip(),
        variables=variables,
    )


def context_from_conversation(packet: Mapping[str, Any] | None, agent_name: str | None) -> dict[str, str]:
    """Variable values known from the handoff packet (see actions/handoff.py build_packet).

    Only non-empty values are returned; anything absent stays for the agent to fill. Keys the packet
    does not carry today (carrier, tracking_number, eta, customer_name) are read when present, so
    extending the packet fills them without touching the console.
    """
    context: dict[str, str] = {}

    def put(name: str, *candidates: object) -> None:
        for candidate in candidates:
            value = _text(candidate)
            if value:
                context[name] = value
                return

    put("agent_name", agent_name)
    if not packet:
        return context
    raw_language = packet.get("language")
    language = raw_language if isinstance(raw_language, str) and raw_language in LANGUAGES else "en"
    slots = _mapping(packet.get("slots"))
    order = _mapping(packet.get("order"))
    entities = _entity_values(packet.get("entities"))
    status = _text(order.get("status"))

    put("customer_name", slots.get("customer_name"), order.get("customer_name"), packet.get("customer_name"))
    put("customer_email", entities.get("email"), slots.get("email"))
    put("order_id", slots.get("order_id"), order.get("id"), order.get("order_id"), entities.get("order_id"))
    put("order_status", label(STATUSES, status, language) if status else None)
    total = _money(order.get("total"), order.get("currency"))
    put("order_total", total)
    if status == "returned":  # the assistant quotes the order total as the refund of a returned order
        put("refund_amount", total)
    put("item_name", _item_name(order, slots, language))
    put("delivery_date", _date(order.get("delivered_on"), language))
    put("eta", _date(order.get("eta"), language))
    put("carrier", order.get("carrier"))
    put("tracking_number", order.get("tracking_number"))
    put(
        "return_number",
        slots.get("return_number"),
        order.get("return_number"),
        _quoted_return_number(packet.get("transcript")),
    )
    put("new_address", slots.get("new_address"))
    put("ticket_id", packet.get("ticket_id"), packet.get("conversation_id"))
    return context


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _entity_values(entities: object) -> dict[str, str]:
    """The last value of each entity type; a later mention corrects an earlier one."""
    values: dict[str, str] = {}
    if isinstance(entities, list):
        for entity in entities:
            if isinstance(entity, Mapping) and isinstance(entity.get("entity"), str):
                value = _text(entity.get("value"))
                if value:
                    values[entity["entity"]] = value
    return values


def _money(total: object, currency: object) -> str | None:
    if isinstance(total, bool) or not isinstance(total, int | float):
        return None
    return format_money(float(total), currency) if isinstance(currency, str) and currency else f"{total:.2f}"


def _date(value: object, language: str) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return format_date(date.fromisoformat(value[:10]), language) or None
    except ValueError:
        return None


def _item_name(order: Mapping[str, Any], slots: Mapping[str, Any], language: str) -> str | None:
    # With one item in the order its catalogue name is exact; with several, only the customer's own
    # words (the `item` slot) say which one they mean.
    items = order.get("items")
    only = items[0] if isinstance(items, list) and len(items) == 1 and isinstance(items[0], Mapping) else {}
    localised = only.get("name_zh") if language == "zh" else only.get("name")
    return _text(localised) or _text(slots.get("item")) or _text(only.get("name"))


def _quoted_return_number(transcript: object) -> str | None:
    """The authorisation the assistant gave this customer: the packet has no field for it yet."""
    if not isinstance(transcript, list):
        return None
    for line in reversed(transcript):
        if isinstance(line, Mapping) and line.get("author") == "bot" and isinstance(line.get("text"), str):
            found = _RETURN_NUMBER.findall(line["text"])
            if found:
                return str(found[-1])
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m handoff.quick_replies", description="Check and search the agents' quick replies."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="load and check every template file")
    check.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIRECTORY)
    search = commands.add_parser("search", help="search templates as the console does")
    search.add_argument("query")
    search.add_argument("--lang", choices=LANGUAGES)
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--dir", type=Path, default=DEFAULT_DIRECTORY)
    args = parser.parse_args(argv)
    try:
        replies = load_templates(args.directory if args.command == "check" else args.dir)
    except TemplateError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.command == "check":
        counts = ", ".join(f"{language}: {n}" for language, n in sorted(replies.counts().items()))
        print(f"{len(replies)} templates OK ({counts})")
        return 0
    found = replies.search(args.query, args.lang, args.limit)
    for template in found:
        print(f"/{template.shortcut:<14} {template.language}  {template.id}  [{template.title}]")
        print(f"    {template.text}")
    if not found:
        print("no match", file=sys.stderr)
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
