"""The studio's models: the active one, the previous one, the candidates with their reports; activation
behind the gates, and rollback (docs/studio.md).

The active model is the newest `models/*.tar.gz` by modification time: the one bot/serve.py starts each Rasa
process with and scripts/model_watch.py loads into every running one (PUT /model), so activation needs no
restart and no new mechanism, and `make train` keeps working as before. Candidates live in
`models/candidates/`, which the watcher never looks at. Activating one copies it into `models/` under a name
that does not end in .tar.gz and renames it into place, so the watcher only ever sees a complete file, and
gives it the newest time; rollback gives the previous model the newest time again (os.utime), so rolling
back twice returns to where it started.

A candidate is activated only if the gates pass, checked again here with the current settings and the
current live model: its report compares it with the model that was live when it was trained, and if
another has become live since, the candidate is compared with that one's own report, or refused as stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from redis.asyncio import Redis

from common.studio_gates import check_gates
from handoff import keys
from handoff.errors import BadRequest, Conflict, NotFoundError
from handoff.studio import audit

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
GATES_PATH = Path(__file__).resolve().parent / "gates.yml"
SUFFIX = ".tar.gz"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}\.tar\.gz$")
DEFAULT_GATES = {"max_overall_drop_points": 0.0, "max_intent_drop_points": 10.0, "min_intent_messages": 5.0}
LOCK_MS = 120_000  # longest a copy into models/ may take; the lock goes with its holder after that
KEEP_CANDIDATES = 5  # candidate archives kept (about 70 MB each); reports are kept for good

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def models_lock_key() -> str:
    """Held while a model is activated or rolled back: one change at a time across the cluster."""
    return f"{keys.PREFIX}:studio:models:lock"


@dataclass(frozen=True)
class ModelPaths:
    models_dir: Path
    gates_path: Path = GATES_PATH

    @property
    def candidates_dir(self) -> Path:
        return self.models_dir / "candidates"

    @classmethod
    def from_env(cls, env: Mapping[str, str], root: Path = ROOT) -> ModelPaths:
        """RASA_MODELS_DIR as the model watcher reads it (default <root>/models); STUDIO_GATES."""
        models = Path(env.get("RASA_MODELS_DIR") or root / "models")
        return cls(models.resolve(), Path(env.get("STUDIO_GATES") or GATES_PATH))


def check_name(value: str) -> str:
    """A model file name (the .tar.gz may be left out), never a path."""
    name = value if value.endswith(SUFFIX) else value + SUFFIX
    if not NAME.match(name):
        raise BadRequest(
            "a model name is 1-120 letters, digits or ._- and ends in .tar.gz (no path)", field="name"
        )
    return name


def newest_first(directory: Path) -> list[Path]:
    """The complete model archives of a directory, newest first (by modification time, as the watcher)."""
    found = []
    for path in directory.glob(f"*{SUFFIX}"):
        if path.name.startswith(".") or not path.is_file():
            continue
        with contextlib.suppress(OSError):  # removed meanwhile
            found.append((path.stat().st_mtime, path.name, path))
    return [path for _, _, path in sorted(found, reverse=True)]


def read_gate_settings(path: Path) -> dict[str, float]:
    """The `gates` of gates.yml; a missing, unreadable or non-numeric setting keeps its default (strict
    enough to protect the live model) and is logged, so a typo never opens the gates."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        logger.warning("studio.gates.unreadable", extra={"path": str(path), "error": str(exc)})
        loaded = {}
    gates = loaded.get("gates") if isinstance(loaded, dict) else None
    settings = dict(DEFAULT_GATES)
    for key, value in (gates if isinstance(gates, dict) else {}).items():
        if key not in DEFAULT_GATES:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            settings[key] = float(value)
        else:
            logger.warning("studio.gates.bad_setting", extra={"setting": key, "value": repr(value)})
    return settings


def _file_info(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"name": path.name, "size_bytes": stat.st_size, "modified": stat.st_mtime}


class ModelStore:
    """Reads and changes which model is live. File work runs in a thread: a copy is tens of megabytes."""

    def __init__(self, redis: Redis, paths: ModelPaths, keep_candidates: int = KEEP_CANDIDATES) -> None:
        self._redis: Any = redis
        self.paths = paths
        self.keep_candidates = keep_candidates
        self._release = redis.register_script(_RELEASE)

    # -- reading

    def active(self) -> Path | None:
        models = newest_first(self.paths.models_dir)
        return models[0] if models else None

    def report(self, name: str) -> dict[str, Any] | None:
        path = self.paths.candidates_dir / (name.removesuffix(SUFFIX) + ".json")
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return report if isinstance(report, dict) else None

    def gate_settings(self) -> dict[str, float]:
        return read_gate_settings(self.paths.gates_path)

    def verdict(self, name: str, active: str | None) -> dict[str, Any]:
        """Whether candidate `name` may become live now: {"activatable", "reason", "message", "gates",
        "compared_with"}; `reason` is a stable code when it may not (no_report, already_active,
        stale_evaluation, gates_failed)."""
        report = self.report(name)
        if report is None or "scores" not in report:
            return self._refusal(
                "no_report", "the candidate has no evaluation report (its run did not finish)"
            )
        if name == active:
            return self._refusal("already_active", f"{name} is already the live model")
        baseline, compared_with = self._baseline(report, active)
        if baseline is False:
            return self._refusal(
                "stale_evaluation",
                f"the live model is now {active}, and this candidate was compared with "
                f"{report.get('live_model')}: train again to compare it with the live model",
            )
        gates = check_gates(report["scores"]["candidate"], baseline or None, self.gate_settings())
        verdict = {
            "activatable": gates["passed"],
            "reason": None if gates["passed"] else "gates_failed",
            "message": None if gates["passed"] else "a gate failed: " + _failing_text(gates),
            "gates": gates,
            "compared_with": compared_with,
        }
        return verdict

    def _refusal(self, reason: str, message: str) -> dict[str, Any]:
        return {
            "activatable": False,
            "reason": reason,
            "message": message,
            "gates": None,
            "compared_with": None,
        }

    def _baseline(self, report: Mapping[str, Any], active: str | None) -> tuple[Any, str | None]:
        """The live model's scores to gate against: those in the report when it was compared with the
        model live now, else that model's own report's (same held-out sets); False when there are none."""
        if active is None:
            return None, None
        if report.get("live_model") == active:
            return report["scores"].get("live"), active
        own = self.report(active)
        same_sets = own is not None and own.get("held_out", {}).get("sha256") == report.get(
            "held_out", {}
        ).get("sha256")
        if own is not None and same_sets and "scores" in own:
            return own["scores"]["candidate"], active
        return False, None

    def _listing(self) -> dict[str, Any]:
        models = newest_first(self.paths.models_dir)
        active = models[0].name if models else None
        previous = models[1].name if len(models) > 1 else None
        candidates = []
        for path in newest_first(self.paths.candidates_dir):
            info = _file_info(path)
            candidates.append(
                {
                    **info,
                    "active": path.name == active,
                    "report": self.report(path.name),
                    **self.verdict(path.name, active),
                }
            )
        return {
            "active": _file_info(models[0]) if models else None,
            "previous": _file_info(models[1]) if previous else None,
            "models": [
                {**_file_info(p), "active": p.name == active, "previous": p.name == previous} for p in models
            ],
            "candidates": candidates,
            "gate_settings": self.gate_settings(),
        }

    async def listing(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._listing)

    # -- changing

    @contextlib.asynccontextmanager
    async def _locked(self) -> Any:
        token = secrets.token_hex(16)
        if not await self._redis.set(models_lock_key(), token, nx=True, px=LOCK_MS):
            raise Conflict(
                "models_busy", "another activation or rollback is under way; try again in a moment"
            )
        try:
            yield
        finally:
            await self._release(keys=[models_lock_key()], args=[token])

    def _check_expected(self, expected_active: str | None, active: Path | None) -> None:
        current = active.name if active else None
        if expected_active is not None and expected_active != current:
            raise Conflict(
                "active_changed",
                f"the live model is now {current}, not {expected_active}",
                current={"active": current},
            )

    async def activate(self, name: str, actor: str, expected_active: str | None = None) -> dict[str, Any]:
        """Make candidate `name` the live model; Conflict with the failing gates when one fails."""
        name = check_name(name)
        source = self.paths.candidates_dir / name
        if not source.is_file():
            raise NotFoundError("unknown_model", f"there is no candidate model {name}")
        async with self._locked():
            active = self.active()
            self._check_expected(expected_active, active)
            verdict = self.verdict(name, active.name if active else None)
            if not verdict["activatable"]:
                current = {"gates": verdict["gates"]} if verdict["gates"] is not None else None
                raise Conflict(verdict["reason"], verdict["message"], current=current)
            await asyncio.to_thread(self._install, source, active)
        result = {"active": name, "previous": active.name if active else None, "gates": verdict["gates"]}
        await audit.record(
            self._redis,
            actor,
            "model.activated",
            {
                "model": name,
                "previous": result["previous"],
                "compared_with": verdict["compared_with"],
                "gates_passed": True,
            },
        )
        return result

    def _install(self, source: Path, active: Path | None) -> None:
        """Copy a candidate into models/ (atomically), newest of all."""
        target = self.paths.models_dir / source.name
        if not target.is_file():
            self.paths.models_dir.mkdir(parents=True, exist_ok=True)
            partial = self.paths.models_dir / f".{source.name}.partial"
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        _make_newest(target, active)

    async def rollback(self, actor: str, expected_active: str | None = None) -> dict[str, Any]:
        """Make the previous model live again (the model it replaces becomes the previous one)."""
        async with self._locked():
            models = newest_first(self.paths.models_dir)
            self._check_expected(expected_active, models[0] if models else None)
            if len(models) < 2:
                raise Conflict("no_previous_model", "there is no previous model to go back to")
            active, previous = models[0], models[1]
            await asyncio.to_thread(_make_newest, previous, active)
        result = {"active": previous.name, "previous": active.name}
        await audit.record(
            self._redis, actor, "model.rolled_back", {"model": previous.name, "previous": active.name}
        )
        return result

    def prune(self) -> list[str]:
        """Delete candidate archives beyond the newest `keep_candidates` (reports stay: they are the
        baseline when such a model is live). Copies in models/ are never touched."""
        removed = []
        for path in newest_first(self.paths.candidates_dir)[self.keep_candidates :]:
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path.name)
        return removed


def _make_newest(path: Path, than: Path | None) -> None:
    """Give `path` a modification time after every other model's (the watcher and bot/serve.py pick the
    newest), even on a clock that has not moved since the last change."""
    stamp = time.time()
    if than is not None and than != path:
        with contextlib.suppress(OSError):
            stamp = max(stamp, than.stat().st_mtime + 1.0)
    os.utime(path, (stamp, stamp))


def _failing_text(gates: Mapping[str, Any]) -> str:
    parts = []
    for check in gates["checks"]:
        if check["passed"]:
            continue
        if check["gate"] == "overall_accuracy":
            parts.append(
                f"{check['language']} overall accuracy {check['change_points']:+.2f} points "
                f"(at most -{check['limit_points']:g} allowed)"
            )
        else:
            names = ", ".join(f"{f['intent']} {f['change_points']:+.2f}" for f in check["failing"])
            parts.append(f"{check['language']} intents {names} (at most -{check['limit_points']:g} each)")
    return "; ".join(parts)
