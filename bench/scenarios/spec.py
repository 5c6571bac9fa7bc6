"""Scenario files (bench/scenarios/README.md): reading and validating them.

Every problem is reported, not just the first, each naming the file, the scenario and the key:

    bench/scenarios/en.yml: scenario en-return-size-01: expect.return.order: 'SO-1234' is not an order
    number (SO- and 8 digits)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from handoff.packet import REASONS

VERSION = 1
LANGUAGES = ("en", "zh")
GOALS = ("return", "cancel", "address", "order_status", "refund_status", "policy", "handoff", "other")
ORDER_STATUSES = ("pending", "paid", "shipped", "delivered", "returned", "cancelled")
ORDER_FIELDS = ("status", "shipping_address", "items")
PACKET_FIELDS = ("order_id", "reason", "language", "customer_id")
NONE = "none"

TOP_KEYS = ("version", "scenarios")
SCENARIO_KEYS = ("id", "language", "goal", "summary", "customer", "turns", "expect")
REQUIRED_KEYS = ("id", "language", "goal", "turns")
EXPECT_KEYS = ("return", "orders", "handoff", "packet", "reply_includes", "reply_excludes")

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}\Z")  # also part of the REST sender id
ORDER_RE = re.compile(r"^SO-\d{8}\Z")
SKU_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,63}\Z")
CUSTOMER_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}\Z")  # what the hub accepts as metadata.customer_id
MAX_TURN_CHARS = 4000


class ScenarioFileError(Exception):
    """One or more scenario files are malformed; `problems` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Expect:
    """What must hold after the conversation; None (or empty) means the scenario does not say."""

    orders: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # id → status/address/items
    return_: tuple[str, str] | str | None = None  # (order, sku), "none", or unset
    handoff: tuple[str, ...] | str | None = None  # acceptable reasons, "none", or unset
    packet: Mapping[str, str] = field(default_factory=dict)
    reply_includes: tuple[str, ...] = ()
    reply_excludes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.orders:
            out["orders"] = {k: dict(v) for k, v in self.orders.items()}
        if self.return_ is not None:
            ret = self.return_
            out["return"] = ret if isinstance(ret, str) else {"order": ret[0], "sku": ret[1]}
        if self.handoff is not None:
            out["handoff"] = self.handoff if isinstance(self.handoff, str) else list(self.handoff)
        if self.packet:
            out["packet"] = dict(self.packet)
        if self.reply_includes:
            out["reply_includes"] = list(self.reply_includes)
        if self.reply_excludes:
            out["reply_excludes"] = list(self.reply_excludes)
        return out


@dataclass(frozen=True)
class Scenario:
    id: str
    language: str
    goal: str
    turns: tuple[str, ...]
    expect: Expect = field(default_factory=Expect)
    summary: str = ""
    customer_id: str | None = None  # signed in on the storefront; None: anonymous
    file: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "file": self.file,
            "language": self.language,
            "goal": self.goal,
            "summary": self.summary,
            "customer": {"signed_in": self.customer_id} if self.customer_id else "anonymous",
            "turns": list(self.turns),
            "expect": self.expect.as_dict(),
        }


# -- YAML that refuses duplicate keys -----------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A second `expect:` (or any repeated key) would silently replace the first: refuse it."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


# -- validation ---------------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    """How a YAML value reads back, with the usual cause when a plain word was not read as text."""
    if isinstance(value, bool):
        return f"{value} (YAML reads an unquoted yes/no/on/off as true/false: quote it)"
    if isinstance(value, int | float):
        return f"{value!r} (a number: quote it)"
    if value is None:
        return "empty"
    return repr(value)


class _Checker:
    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []

    def problem(self, scenario: str | None, key: str, message: str) -> None:
        prefix = f"{self.where}: scenario {scenario}" if scenario else self.where
        self.problems.append(f"{prefix}: {key}: {message}" if key else f"{prefix}: {message}")

    def unknown_keys(
        self, sid: str | None, where: str, given: Mapping[Any, Any], known: Sequence[str]
    ) -> None:
        for key in given:
            if key not in known:
                name = f"{where}.{key}" if where else str(key)
                self.problem(sid, name, f"unknown key (known: {', '.join(known)})")

    def text(self, sid: str | None, key: str, value: Any, *, empty_ok: bool = False) -> str | None:
        if not isinstance(value, str):
            self.problem(sid, key, f"must be text, not {_describe(value)}")
            return None
        if not empty_ok and not value.strip():
            self.problem(sid, key, "must not be empty")
            return None
        return value

    def texts(self, sid: str, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.problem(sid, key, f"must be a list of strings, not {_describe(value)}")
            return ()
        out = []
        for i, item in enumerate(value):
            checked = self.text(sid, f"{key}[{i}]", item)
            if checked is not None:
                out.append(checked)
        return tuple(out)

    def order_id(self, sid: str, key: str, value: Any) -> str | None:
        if not isinstance(value, str) or not ORDER_RE.match(value):
            self.problem(sid, key, f"{_describe(value)} is not an order number (SO- and 8 digits)")
            return None
        return value

    def sku(self, sid: str, key: str, value: Any) -> str | None:
        if not isinstance(value, str) or not SKU_RE.match(value):
            self.problem(sid, key, f"{_describe(value)} is not a SKU (capital letters, digits and -)")
            return None
        return value


def _customer(c: _Checker, sid: str, value: Any) -> str | None:
    if value is None or value == "anonymous":
        return None
    if isinstance(value, dict):
        c.unknown_keys(sid, "customer", value, ("signed_in",))
        if "signed_in" not in value:
            c.problem(sid, "customer", "must be anonymous or {signed_in: CUSTOMER_ID}")
            return None
        customer = value["signed_in"]
        if not isinstance(customer, str) or not CUSTOMER_RE.match(customer):
            c.problem(
                sid, "customer.signed_in", f"{_describe(customer)} is not a customer id (e.g. cust-1003)"
            )
            return None
        return customer
    c.problem(sid, "customer", f"must be anonymous or {{signed_in: CUSTOMER_ID}}, not {_describe(value)}")
    return None


def _orders(c: _Checker, sid: str, value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or not value:
        c.problem(sid, "expect.orders", "must map order numbers to the fields they end with")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for order, fields in value.items():
        key = f"expect.orders.{order}"
        if c.order_id(sid, key, order) is None:
            continue
        if not isinstance(fields, dict) or not fields:
            c.problem(sid, key, f"must give at least one of {', '.join(ORDER_FIELDS)}")
            continue
        c.unknown_keys(sid, key, fields, ORDER_FIELDS)
        checked: dict[str, Any] = {}
        if "status" in fields:
            status = fields["status"]
            if status not in ORDER_STATUSES:
                c.problem(
                    sid, f"{key}.status", f"{_describe(status)} is not one of {', '.join(ORDER_STATUSES)}"
                )
            else:
                checked["status"] = status
        if "shipping_address" in fields:
            address = c.text(sid, f"{key}.shipping_address", fields["shipping_address"])
            if address is not None:
                checked["shipping_address"] = address
        if "items" in fields:
            items = fields["items"]
            if not isinstance(items, list):
                c.problem(sid, f"{key}.items", f"must be a list of SKUs, not {_describe(items)}")
            else:
                skus = [c.sku(sid, f"{key}.items[{i}]", sku) for i, sku in enumerate(items)]
                if all(s is not None for s in skus):
                    checked["items"] = tuple(s for s in skus if s is not None)
        out[order] = checked
    return out


def _return(c: _Checker, sid: str, value: Any) -> tuple[str, str] | str | None:
    if value == NONE:
        return NONE
    if not isinstance(value, dict):
        c.problem(sid, "expect.return", f"must be none or {{order: SO-…, sku: …}}, not {_describe(value)}")
        return None
    c.unknown_keys(sid, "expect.return", value, ("order", "sku"))
    for needed in ("order", "sku"):
        if needed not in value:
            c.problem(sid, f"expect.return.{needed}", "missing")
    order = c.order_id(sid, "expect.return.order", value.get("order")) if "order" in value else None
    sku = c.sku(sid, "expect.return.sku", value.get("sku")) if "sku" in value else None
    return (order, sku) if order and sku else None


def _handoff(c: _Checker, sid: str, value: Any) -> tuple[str, ...] | str | None:
    if value == NONE:
        return NONE
    reasons = value if isinstance(value, list) else [value]
    if not reasons:
        c.problem(sid, "expect.handoff", "an empty list: give none, a reason or a list of reasons")
        return None
    bad = [r for r in reasons if r not in REASONS]
    if bad:
        c.problem(
            sid,
            "expect.handoff",
            f"{', '.join(_describe(r) for r in bad)}: not a handoff reason (none, or one of "
            f"{', '.join(sorted(REASONS))})",
        )
        return None
    return tuple(reasons)


def _packet(c: _Checker, sid: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        c.problem(sid, "expect.packet", f"must map some of {', '.join(PACKET_FIELDS)} to values")
        return {}
    c.unknown_keys(sid, "expect.packet", value, PACKET_FIELDS)
    out: dict[str, str] = {}
    for name in PACKET_FIELDS:
        if name not in value:
            continue
        key = f"expect.packet.{name}"
        given = value[name]
        if name == "order_id":
            checked = c.order_id(sid, key, given)
        elif name == "reason":
            checked = given if given in REASONS else None
            if checked is None:
                c.problem(sid, key, f"{_describe(given)} is not a handoff reason")
        elif name == "language":
            checked = given if given in LANGUAGES else None
            if checked is None:
                c.problem(sid, key, f"{_describe(given)} is not one of {', '.join(LANGUAGES)}")
        else:
            checked = given if isinstance(given, str) and CUSTOMER_RE.match(given) else None
            if checked is None:
                c.problem(sid, key, f"{_describe(given)} is not a customer id")
        if checked is not None:
            out[name] = checked
    return out


def _expect(c: _Checker, sid: str, value: Any) -> Expect:
    if value is None:
        return Expect()
    if not isinstance(value, dict):
        c.problem(sid, "expect", f"must be a mapping, not {_describe(value)}")
        return Expect()
    c.unknown_keys(sid, "expect", value, EXPECT_KEYS)
    return Expect(
        orders=_orders(c, sid, value["orders"]) if "orders" in value else {},
        return_=_return(c, sid, value["return"]) if "return" in value else None,
        handoff=_handoff(c, sid, value["handoff"]) if "handoff" in value else None,
        packet=_packet(c, sid, value["packet"]) if "packet" in value else {},
        reply_includes=c.texts(sid, "expect.reply_includes", value["reply_includes"])
        if "reply_includes" in value
        else (),
        reply_excludes=c.texts(sid, "expect.reply_excludes", value["reply_excludes"])
        if "reply_excludes" in value
        else (),
    )


def _scenario(c: _Checker, index: int, raw: Any, file: str) -> Scenario | None:
    label = f"#{index + 1}"
    if not isinstance(raw, dict):
        c.problem(label, "", f"must be a mapping, not {_describe(raw)}")
        return None
    raw_id = raw.get("id")
    if isinstance(raw_id, str) and ID_RE.match(raw_id):
        sid = raw_id
    else:
        c.problem(label, "id", f"{_describe(raw_id)}: 1-80 letters, digits, '-', '_' or '.'")
        sid = f"{label} (id {raw_id!r})"
    c.unknown_keys(sid, "", raw, SCENARIO_KEYS)
    for needed in REQUIRED_KEYS:
        if needed not in raw and needed != "id":
            c.problem(sid, needed, "missing")
    language = raw.get("language")
    if "language" in raw and language not in LANGUAGES:
        c.problem(sid, "language", f"{_describe(language)} is not one of {', '.join(LANGUAGES)}")
    goal = raw.get("goal")
    if "goal" in raw and goal not in GOALS:
        c.problem(sid, "goal", f"{_describe(goal)} is not one of {', '.join(GOALS)}")
    summary = c.text(sid, "summary", raw["summary"], empty_ok=True) if "summary" in raw else ""
    customer = _customer(c, sid, raw.get("customer"))
    turns: tuple[str, ...] = ()
    if "turns" in raw:
        turns = c.texts(sid, "turns", raw["turns"])
        if isinstance(raw["turns"], list) and not raw["turns"]:
            c.problem(sid, "turns", "must hold at least one turn")
        for i, turn in enumerate(turns):
            if len(turn) > MAX_TURN_CHARS:
                c.problem(sid, f"turns[{i}]", f"longer than {MAX_TURN_CHARS} characters")
    expect = _expect(c, sid, raw.get("expect"))
    if sid != raw_id or language not in LANGUAGES or goal not in GOALS or not turns:
        return None
    return Scenario(
        id=sid,
        language=str(language),
        goal=str(goal),
        turns=turns,
        expect=expect,
        summary=summary or "",
        customer_id=customer,
        file=file,
    )


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parse_file(text: str, where: str) -> tuple[list[Scenario], list[str]]:
    """The scenarios of one file's text, and its problems (`where` names the file in them)."""
    c = _Checker(where)
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506  # a SafeLoader that refuses duplicates
    except yaml.YAMLError as exc:
        return [], [f"{where}: not valid YAML: {exc}".replace("\n", " ")]
    if not isinstance(data, dict):
        return [], [f"{where}: must be a mapping with version and scenarios"]
    c.unknown_keys(None, "", data, TOP_KEYS)
    if data.get("version") != VERSION:
        c.problem(None, "version", f"{_describe(data.get('version'))}: this runner reads version {VERSION}")
    raw = data.get("scenarios")
    if not isinstance(raw, list) or not raw:
        c.problem(None, "scenarios", "must be a non-empty list")
        return [], c.problems
    scenarios = [s for i, item in enumerate(raw) if (s := _scenario(c, i, item, where)) is not None]
    return scenarios, c.problems


def load_files(paths: Iterable[Path]) -> list[Scenario]:
    """Every scenario of the files in order; ScenarioFileError listing every problem of every file,
    ids used twice (in one file or across files) included."""
    scenarios: list[Scenario] = []
    problems: list[str] = []
    for path in paths:
        where = display_path(path)
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{where}: cannot read: {exc}")
            continue
        found, trouble = parse_file(text, where)
        scenarios += found
        problems += trouble
    first: dict[str, str] = {}
    for s in scenarios:
        if s.id in first:
            problems.append(f"{s.file}: scenario {s.id}: id: also used in {first[s.id]}")
        else:
            first[s.id] = s.file
    if problems:
        raise ScenarioFileError(problems)
    return scenarios


def check_against_seed(scenarios: Iterable[Scenario], seed_path: Path) -> list[str]:
    """Orders and SKUs the scenarios name that the demo order seed does not hold."""
    seed = yaml.safe_load(seed_path.read_text("utf-8"))
    skus = {o["id"]: {item["sku"] for item in o.get("items", [])} for o in seed.get("orders", [])}
    customers = {c["id"] for c in seed.get("customers", [])}
    problems = []

    def order(s: Scenario, key: str, order_id: str, wanted: Iterable[str] = ()) -> None:
        if order_id not in skus:
            problems.append(
                f"{s.file}: scenario {s.id}: {key}: {order_id} is not in {display_path(seed_path)}"
            )
            return
        for sku in wanted:
            if sku not in skus[order_id]:
                problems.append(f"{s.file}: scenario {s.id}: {key}: order {order_id} has no item {sku}")

    for s in scenarios:
        e = s.expect
        for order_id, fields in e.orders.items():
            order(s, f"expect.orders.{order_id}", order_id, fields.get("items", ()))
        if isinstance(e.return_, tuple):
            order(s, "expect.return", e.return_[0], [e.return_[1]])
        if "order_id" in e.packet:
            order(s, "expect.packet.order_id", e.packet["order_id"])
        if s.customer_id and s.customer_id not in customers:
            problems.append(
                f"{s.file}: scenario {s.id}: customer.signed_in: {s.customer_id} is not a customer"
            )
        if e.packet.get("customer_id") and e.packet["customer_id"] not in customers:
            problems.append(f"{s.file}: scenario {s.id}: expect.packet.customer_id: not a customer")
    return problems


def select(scenarios: Sequence[Scenario], only: Sequence[str], limit: int | None) -> list[Scenario]:
    """The scenarios named with --only (ValueError for an unknown id), then the first `limit`."""
    chosen = list(scenarios)
    if only:
        known = {s.id for s in scenarios}
        unknown = [i for i in only if i not in known]
        if unknown:
            raise ValueError(f"no scenario with id {', '.join(unknown)}")
        wanted = set(only)
        chosen = [s for s in chosen if s.id in wanted]
    return chosen[:limit] if limit is not None else chosen
