"""Routing key names come from handoff/keys.py only: every Lua script starts with constants generated from
it, and those constants rebuild exactly the names keys.py gives."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from handoff import keys
from handoff.routing import scripts
from handoff.routing.config import RoutingConfig
from handoff.routing.engine import NotFound, RoutingEngine

ROUTING = Path(__file__).resolve().parents[2] / "handoff" / "routing"
BINDING = re.compile(r"^local (?P<name>\w+) = '(?P<value>[^'\\]*)'$")  # local AGENT = 'hub:agent:'
LUA_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|--[^\n]*")
LUA_LOCALS = re.compile(r"\blocal\s+(?:function\s+)?([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)")
REDIS_GLOBALS = {"KEYS", "ARGV"}
ID = "conv-7:x"


def docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_no_key_name_is_written_in_the_routing_code() -> None:
    """Neither Python nor the Lua inside its strings spells a `hub:` key: they take names from keys.py."""
    found: list[str] = []
    for path in sorted(ROUTING.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and id(node) not in skip and "hub:" in str(node.value):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []


def bound() -> dict[str, str]:
    """What each Lua constant holds in a script."""
    values = {}
    for line in scripts.KEY_NAMES.splitlines():
        match = BINDING.match(line)
        assert match, line
        values[match["name"]] = match["value"]
    return values


def test_the_lua_names_rebuild_the_names_of_their_keys_functions() -> None:
    values = bound()
    assert list(values) == [k.name for k in scripts.KEY_LAYOUT]
    bases = {k.name: k.after for k in scripts.KEY_LAYOUT}
    for name, value in values.items():
        build = getattr(keys, name.lower())
        if not inspect.signature(build).parameters:
            assert value == build(), name
        elif bases[name]:  # a family named after another's key: AGENT .. aid .. AGENT_CHATS
            assert values[bases[name]] + ID + value == build(ID), name
        else:  # AGENT .. aid
            assert value + ID == build(ID), name


class RecordingRedis:
    """Registers scripts and records each call's script, KEYS and ARGV; replies as `replies` says."""

    def __init__(self, replies: dict[str, Any]) -> None:
        self.replies = replies
        self.calls: list[tuple[str, list[bytes], list[Any]]] = []
        self.bodies: list[str] = []

    def register_script(self, body: str) -> Any:
        self.bodies.append(body)

        async def run(keys: Any = None, args: Any = None, client: Any = None) -> Any:
            self.calls.append((body, list(keys or []), list(args or [])))
            return self.replies.get(body)

        return run


def capitals(code: str) -> set[str]:
    """The capitalised names Lua code uses (constants and keys), strings and comments left out."""
    return set(re.findall(r"\b[A-Z][A-Z0-9_]*\b", LUA_STRING.sub("''", code)))


def declared(code: str) -> set[str]:
    found = LUA_LOCALS.findall(LUA_STRING.sub("''", code))
    return {name.strip() for group in found for name in group.split(",")}


def test_every_script_starts_with_the_key_names_and_reads_keys_only_through_them() -> None:
    redis = RecordingRedis({})
    RoutingEngine(redis, RoutingConfig())  # type: ignore[arg-type]
    assert len(redis.bodies) == 13
    used: set[str] = set()
    for body in redis.bodies:
        assert body.startswith(scripts.KEY_NAMES)
        rest = body[len(scripts.KEY_NAMES) :]
        assert "hub:" not in rest and "KEYS" not in capitals(rest)  # names only through the constants
        assert capitals(body) - declared(body) - REDIS_GLOBALS == set(), (
            "a capitalised name the script does not declare"
        )
        used |= capitals(rest)
    assert [k.name for k in scripts.KEY_LAYOUT if k.name not in used] == [], "a key no script uses"


async def test_the_engine_sends_no_key_names_with_its_scripts() -> None:
    """The names are in the scripts: a call carries only its arguments."""
    redis = RecordingRedis({scripts.STATUS: [], scripts.RATE: "ok", scripts.ROUTE: []})
    engine = RoutingEngine(redis, RoutingConfig())  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await engine.status("c-1")
    await engine.rate("li", 5)
    assert await engine.route("general:en") == []
    assert [(body, sent) for body, sent, _ in redis.calls] == [
        (scripts.STATUS, []),
        (scripts.RATE, []),
        (scripts.ROUTE, []),
    ]
