"""The packages import only downwards (docs/architecture.md, "Packages"), and no module imports itself
back through others. Every import counts, also one inside a function."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What each package may import of the others; bench/, scripts/ and tests/ sit above everything.
ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "kb_index": {"common"},
    "bot": {"common", "kb_index"},
    "actions": {"common", "kb_index"},
    "handoff": {"common", "kb_index"},
}
# Inside the handoff service, HTTP and WebSocket handlers sit on top: only the application and other
# handlers import them: handoff/blueprints/ and each channel's blueprint, handoff/channels/*/routes.py.
HANDLERS = re.compile(r"^handoff\.(?:blueprints(?:\.|\Z)|channels\.\w+\.routes\Z)")
APPLICATION = "handoff.app"


def modules() -> Iterator[tuple[str, Path]]:
    for package in ALLOWED:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def imports(name: str, path: Path) -> set[str]:
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def graph() -> dict[str, set[str]]:
    known = dict(modules())
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        edges[name] = {target for target in imports(name, path) if target in known and target != name}
    return edges


def test_packages_import_only_downwards() -> None:
    wrong = []
    for name, targets in graph().items():
        own = name.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != own and other not in ALLOWED[own]:
                wrong.append(f"{name} imports {target}")
            if HANDLERS.match(target) and not (name == APPLICATION or HANDLERS.match(name)):
                wrong.append(f"{name} imports the handler module {target}")
    assert wrong == []


def test_no_import_cycles() -> None:
    edges = graph()
    # A package's __init__ is imported by its modules implicitly; only explicit imports count here.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from handoff.hub import Hub\n    from . import sibling\n")
    assert {"handoff.hub", "handoff.hub.Hub"} <= imports("common.m", module)
    assert "common.sibling" in imports("common.m", module)


def test_channel_routes_are_handlers() -> None:
    assert HANDLERS.match("handoff.channels.widget.routes")
    assert HANDLERS.match("handoff.blueprints.health")
    assert not HANDLERS.match("handoff.channels.widget.frames")
    assert not HANDLERS.match("handoff.channels.base")
