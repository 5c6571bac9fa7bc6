"""The studio's training runs: one at a time across the cluster, their state in Redis, progress streamed
(docs/studio.md).

A run is `python -m bot.studio_train` (in the Rasa environment) started by the hub worker that took the
request, in a process group of its own. That worker owns the run: it holds a Redis lease with a heartbeat,
so a second start anywhere in the cluster is refused while the lease lives, and it is the only writer of the
run's state (every write checks the lease). Each stage the trainer announces goes into the state and onto a
Redis stream, so any worker can answer GET and serve the event stream, and a page reload finds the run.

Cancelling sets a flag in Redis that the owner checks on every heartbeat, so a DELETE served by any worker
ends the process group. A run whose owner died (its lease expired without a final state) reads as
"interrupted", never as running for ever; the trainer ends itself when its parent is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import signal
import socket
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from handoff import keys
from handoff.errors import Conflict
from handoff.studio import audit
from handoff.studio.models import ROOT, ModelPaths, ModelStore

logger = logging.getLogger(__name__)

RUNNING = "running"
FINAL_STATES = ("succeeded", "failed", "cancelled", "interrupted")
LOG_KEPT = 200  # lines of the trainer's output kept in Redis
LOG_SHOWN = 50  # of which a state shows the last
LINE_MAX = 500  # characters of one log line
RUNS_KEPT = 20
RUN_RETENTION_SECONDS = 30 * 86400
EVENTS_KEPT = 2000
KILL_GRACE_SECONDS = 10.0  # SIGTERM, then SIGKILL
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # Rasa colours some lines; the page shows plain text
# Only what the trainer needs: no secret of the hub's environment reaches it.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")

_OWNER_WRITE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
end
return 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def _key(*parts: str) -> str:
    return ":".join((keys.PREFIX, "studio", "training", *parts))


def lease_key() -> str:
    """The running run's id, with a TTL its owner renews: one run at a time across the cluster."""
    return _key("lease")


def current_key() -> str:
    """The id of the latest run (running or finished)."""
    return _key("current")


def runs_key() -> str:
    """List of recent run ids, newest first."""
    return _key("runs")


def run_key(run_id: str) -> str:
    """JSON of a run's state; written by its owner only."""
    return _key("run", run_id)


def log_key(run_id: str) -> str:
    return _key("run", run_id, "log")


def cancel_key(run_id: str) -> str:
    """Set (to who asked) when a run should be cancelled; its owner checks it on every heartbeat."""
    return _key("run", run_id, "cancel")


def events_key() -> str:
    """Stream of run events (state changes and stages) for the event stream of any worker."""
    return _key("events")


@dataclass(frozen=True)
class TrainingSettings:
    root: Path  # the project root whose inputs are trained on (config.yml, bot/domain, data/)
    python: Path  # the Rasa environment's interpreter
    models: ModelPaths
    # The trainer's command before its arguments (tests use a stand-in); default: python -m bot.studio_train
    trainer: tuple[str, ...] = ()
    code_root: Path = ROOT  # where the trainer's code is imported from (PYTHONPATH)
    lease_seconds: float = 20.0
    heartbeat_seconds: float = 2.0
    cancel_wait_seconds: float = 5.0  # a DELETE waits this long for the run to end before answering

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TrainingSettings:
        """STUDIO_ROOT (default: this checkout), STUDIO_TRAIN_PYTHON (default <root>/.venv-rasa/bin/python,
        else this checkout's), RASA_MODELS_DIR and STUDIO_GATES (handoff.studio.models.ModelPaths)."""
        root = Path(env.get("STUDIO_ROOT") or ROOT).resolve()
        python = root / ".venv-rasa" / "bin" / "python"
        if not python.exists():
            python = ROOT / ".venv-rasa" / "bin" / "python"
        python = Path(env.get("STUDIO_TRAIN_PYTHON") or python)
        return cls(root=root, python=python, models=ModelPaths.from_env(env, root))

    def command(self, name: str, base_model: Path | None, full: bool) -> list[str]:
        command = [*(self.trainer or (str(self.python), "-m", "bot.studio_train"))]
        command += ["--root", str(self.root), "--out", str(self.models.candidates_dir), "--name", name]
        command += ["--gates", str(self.models.gates_path), "--watch-parent"]
        if base_model is not None:
            command += ["--base-model", str(base_model)]
        if full:
            command.append("--full")
        return command

    def environment(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
        env.update(
            PYTHONPATH=str(self.code_root),
            PYTHONUNBUFFERED="1",
            RASA_TELEMETRY_ENABLED="false",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        return env


def public(state: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    """A run's state as the API shows it: with the seconds it has run (or ran)."""
    end = state.get("finished") or (now if now is not None else time.time())
    return {**state, "elapsed": round(max(0.0, end - float(state["started"])), 1)}


@dataclass
class _Local:
    """What the owning worker keeps of a run it started."""

    state: dict[str, Any]
    process: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    cancelled_by: str | None = None
    stopping: str | None = None  # why the owner itself ends it (shutdown, lost lease)
    final: dict[str, Any] | None = None  # the trainer's "done" line
    failure: str | None = None  # the trainer's "failed" line
    pending: list[str] = field(default_factory=list)


class TrainingRunner:
    """Starts, watches, cancels and reports training runs. One per worker process; the state is Redis's."""

    def __init__(self, redis: Redis, settings: TrainingSettings, owner: str | None = None) -> None:
        # decode_responses=True: replies are str, which redis-py's stubs (bytes | str) cannot express.
        self._redis: Any = redis
        self.settings = settings
        self.models = ModelStore(redis, settings.models)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._write = redis.register_script(_OWNER_WRITE)
        self._renew = redis.register_script(_RENEW)
        self._local: dict[str, _Local] = {}

    # -- reading

    async def _load(self, run_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(run_key(run_id))
        if not raw:
            return None
        state: dict[str, Any] = json.loads(raw)
        return state

    async def _settle(self, state: dict[str, Any]) -> dict[str, Any]:
        """A run that reads as running although nobody holds its lease lost its owner: it is interrupted."""
        if state["state"] != RUNNING or await self._redis.get(lease_key()) == state["id"]:
            return state
        key = run_key(state["id"])
        async with self._redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key, lease_key())
                raw, lease = await pipe.get(key), await pipe.get(lease_key())
                if not raw or lease == state["id"]:
                    return state
                current = json.loads(raw)
                if current["state"] != RUNNING:
                    return dict(current)
                current.update(
                    state="interrupted",
                    finished=time.time(),
                    error="the hub worker running it stopped before it finished",
                )
                pipe.multi()
                pipe.set(key, json.dumps(current, ensure_ascii=False), ex=RUN_RETENTION_SECONDS)
                await pipe.execute()
            except WatchError:
                again = await self._load(state["id"])
                return again or state
        await self._event("state", public(current))
        return dict(current)

    async def run_state(self, run_id: str, with_log: bool = True) -> dict[str, Any] | None:
        state = await self._load(run_id)
        if state is None:
            return None
        state = public(await self._settle(state))
        if with_log:
            state["log_tail"] = await self._redis.lrange(log_key(run_id), -LOG_SHOWN, -1)
        return state

    async def current(self, with_log: bool = True) -> dict[str, Any] | None:
        """The latest run, running or not (None before the first)."""
        run_id = await self._redis.get(current_key())
        return await self.run_state(run_id, with_log) if run_id else None

    async def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """The latest runs, newest first, without their logs."""
        ids = await self._redis.lrange(runs_key(), 0, max(limit, 1) - 1)
        found = [await self.run_state(run_id, with_log=False) for run_id in ids]
        return [state for state in found if state is not None]

    # -- starting

    async def start(self, who: str, full: bool = False) -> dict[str, Any]:
        """Start a run; Conflict("training_running") with the running one while another runs."""
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        lease_ms = int(self.settings.lease_seconds * 1000)
        if not await self._redis.set(lease_key(), run_id, nx=True, px=lease_ms):
            running_id = await self._redis.get(lease_key())
            running = await self.run_state(running_id) if running_id else None
            by = f" by {running['who']}" if running else ""
            raise Conflict(
                "training_running",
                f"a training run ({running_id}) started{by} is still running; cancel it or wait",
                current=running,
            )
        base = await asyncio.to_thread(self.models.active)
        state: dict[str, Any] = {
            "id": run_id,
            "state": RUNNING,
            "mode": "full" if full else "auto",
            "stage": "starting",
            "step": None,
            "progress": None,
            "stages": [],
            "started": time.time(),
            "finished": None,
            "who": who,
            "owner": self.owner,
            "base_model": base.name if base else None,
            "candidate": None,
            "cancel_requested_by": None,
            "result": None,
            "error": None,
        }
        local = _Local(state)
        self._local[run_id] = local
        await self._store(local)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(current_key(), run_id)
            pipe.lpush(runs_key(), run_id)
            pipe.ltrim(runs_key(), 0, RUNS_KEPT - 1)
            await pipe.execute()
        await audit.record(
            self._redis,
            who,
            "training.started",
            {"run": run_id, "mode": state["mode"], "base_model": state["base_model"]},
        )
        await self._event("state", public(state))
        command = self.settings.command(run_id, base, full)
        try:
            local.process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=str(self.settings.root),
                env=self.settings.environment(),
                start_new_session=True,  # its own process group: a cancel ends Rasa's helpers too
            )
        except OSError as exc:
            local.failure = f"the trainer could not be started ({command[0]}): {exc.strerror or exc}"
            await self._finish(local, None)
            return public(local.state)
        local.task = asyncio.create_task(self._supervise(local))
        return public(state)

    # -- cancelling

    async def cancel(self, who: str) -> dict[str, Any]:
        """Ask the running run to stop; answers with its state once it has (or after cancel_wait_seconds)."""
        run_id = await self._redis.get(lease_key())
        state = await self.run_state(run_id) if run_id else None
        if state is None or state["state"] != RUNNING:
            raise Conflict("not_running", "no training run is running", current=await self.current())
        await self._redis.set(cancel_key(run_id), who, ex=3600)
        await audit.record(
            self._redis, who, "training.cancelled", {"run": run_id, "started_by": state["who"]}
        )
        await self._event("cancel_requested", {"id": run_id, "by": who})
        if run_id in self._local:
            await self._check_cancel(self._local[run_id])
        deadline = time.monotonic() + self.settings.cancel_wait_seconds
        while time.monotonic() < deadline:
            state = await self.run_state(run_id)
            if state is None or state["state"] != RUNNING:
                break
            await asyncio.sleep(0.2)
        if state is not None and state["state"] == RUNNING:
            state["cancel_requested_by"] = who
        return state or {}

    # -- the owner's side

    async def _store(self, local: _Local, final: bool = False) -> bool:
        """Write the state if this worker still holds the run's lease (and release it with a final one)."""
        written = await self._write(
            keys=[lease_key(), run_key(local.state["id"])],
            args=[
                local.state["id"],
                json.dumps(local.state, ensure_ascii=False),
                "1" if final else "0",
                RUN_RETENTION_SECONDS,
            ],
        )
        return bool(written)

    async def _event(self, kind: str, data: Mapping[str, Any]) -> None:
        with contextlib.suppress(
            RedisError
        ):  # the state is what counts; a lost event is seen on the next tick
            await self._redis.xadd(
                events_key(),
                {"type": kind, "data": json.dumps(data, ensure_ascii=False)},
                maxlen=EVENTS_KEPT,
                approximate=True,
            )

    async def _supervise(self, local: _Local) -> None:
        process = local.process
        assert process is not None
        reader = asyncio.create_task(self._read_output(local, process))
        try:
            while process.returncode is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(process.wait()), self.settings.heartbeat_seconds)
                if process.returncode is not None:
                    break
                try:
                    await self._heartbeat(local)
                except RedisError:
                    logger.warning("studio.training.heartbeat_failed", extra={"run": local.state["id"]})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader, 10.0)
            await self._finish(local, process.returncode)
        except asyncio.CancelledError:
            await self._kill(process)
            raise
        except Exception:
            logger.exception("studio.training.supervisor_failed", extra={"run": local.state["id"]})
            await self._kill(process)
            local.stopping = local.stopping or "the hub worker running it failed; see its log"
            with contextlib.suppress(Exception):
                await self._finish(local, process.returncode)
        finally:
            reader.cancel()
            self._local.pop(local.state["id"], None)

    async def _heartbeat(self, local: _Local) -> None:
        run_id = local.state["id"]
        lease_ms = int(self.settings.lease_seconds * 1000)
        if not await self._renew(keys=[lease_key()], args=[run_id, lease_ms]):
            local.stopping = "the run lost its lease (Redis was unreachable for too long)"
            await self._kill(local.process)
            return
        await self._check_cancel(local)

    async def _check_cancel(self, local: _Local) -> None:
        if local.cancelled_by is not None:
            return
        by = await self._redis.get(cancel_key(local.state["id"]))
        if by:
            local.cancelled_by = by
            local.state["cancel_requested_by"] = by
            await self._store(local)
            await self._kill(local.process)

    async def _kill(self, process: asyncio.subprocess.Process | None) -> None:
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), KILL_GRACE_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    async def _read_output(self, local: _Local, process: asyncio.subprocess.Process) -> None:
        """Progress lines (JSON with a "stage") update the state; every other line goes to the log. Progress
        bars rewrite their line with carriage returns, so those end a line too."""
        assert process.stdout is not None
        buffer = ""
        while True:
            chunk = await process.stdout.read(65536)
            if not chunk:
                break
            buffer += chunk.decode("utf-8", errors="replace")
            *lines, buffer = re.split(r"[\r\n]", buffer)
            for line in lines:
                await self._line(local, line)
            if len(buffer) > 8 * LINE_MAX:
                await self._line(local, buffer)
                buffer = ""
        if buffer:
            await self._line(local, buffer)
        await self._flush_log(local)

    async def _line(self, local: _Local, line: str) -> None:
        line = ANSI_ESCAPE.sub("", line).strip()
        if not line:
            return
        event = _progress(line)
        if event is None:
            local.pending.append(line[:LINE_MAX])
            if len(local.pending) >= 20:
                await self._flush_log(local)
            return
        await self._flush_log(local)
        stage = str(event["stage"])
        if stage == "done":
            local.final = event
            return
        if stage == "failed":
            local.failure = str(event.get("error") or "the training failed")
            return
        state = local.state
        if stage != state["stage"]:
            state["stages"].append({"stage": stage, "at": event.get("elapsed")})
            state["step"] = None
            state["progress"] = None
        state["stage"] = stage
        if "step" in event:
            state["step"] = event["step"]
        if "epoch" in event and "epochs" in event:
            state["progress"] = {"epoch": event["epoch"], "epochs": event["epochs"]}
        if event.get("mode") in ("finetune", "full"):
            state["training_mode"] = event["mode"]
        if await self._store(local):
            await self._event("stage", {"id": state["id"], **event})

    async def _flush_log(self, local: _Local) -> None:
        if not local.pending:
            return
        lines, local.pending = local.pending, []
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(log_key(local.state["id"]), *lines)
            pipe.ltrim(log_key(local.state["id"]), -LOG_KEPT, -1)
            pipe.expire(log_key(local.state["id"]), RUN_RETENTION_SECONDS)
            await pipe.execute()

    async def _finish(self, local: _Local, returncode: int | None) -> None:
        state = local.state
        state["finished"] = time.time()
        if local.cancelled_by is not None:
            state.update(state="cancelled", error=f"cancelled by {local.cancelled_by}")
        elif local.stopping is not None:
            state.update(state="interrupted", error=local.stopping)
        elif returncode == 0 and local.final is not None:
            state.update(state="succeeded", stage="done", candidate=local.final.get("candidate"))
            state["result"] = await asyncio.to_thread(self._result, str(local.final.get("candidate") or ""))
            removed = await asyncio.to_thread(self.models.prune)
            if removed:
                logger.info("studio.training.pruned", extra={"candidates": removed})
        else:
            state["state"] = "failed"
            state["error"] = local.failure or f"the trainer stopped with exit code {returncode}; see its log"
        written = await self._store(local, final=True)
        if not written and state["state"] != "interrupted":
            # The lease went (Redis unreachable for a while): the run's own outcome still counts.
            await self._redis.set(
                run_key(state["id"]), json.dumps(state, ensure_ascii=False), ex=RUN_RETENTION_SECONDS
            )
        await self._event("state", public(state))
        outcome = {"run": state["id"], "outcome": state["state"], "candidate": state["candidate"]}
        if state["result"]:
            outcome.update(passed=state["result"].get("passed"), mode=state["result"].get("mode"))
        if state["error"]:
            outcome["error"] = state["error"]
        await audit.record(self._redis, state["who"], "training.finished", outcome)

    def _result(self, candidate: str) -> dict[str, Any] | None:
        """The summary of a finished run's report: the full report is in GET /api/studio/models."""
        report = self.models.report(candidate) if candidate else None
        if report is None:
            return None
        comparison = report.get("comparison") or {}
        return {
            "candidate": report.get("candidate"),
            "live_model": report.get("live_model"),
            "passed": report.get("passed"),
            "mode": (report.get("training") or {}).get("mode"),
            "finetune_refused": (report.get("training") or {}).get("finetune_refused"),
            "timings": report.get("timings"),
            "overall": {
                lang: {k: c.get(k) for k in ("n", "candidate", "live", "change_points")}
                for lang, c in comparison.items()
            },
            "gates": report.get("gates"),
        }

    async def shutdown(self) -> None:
        """The worker is stopping: its runs end as interrupted (nobody would be left to collect them)."""
        for local in list(self._local.values()):
            local.stopping = "the hub worker running it was stopped"
            await self._kill(local.process)
            if local.task is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(local.task, KILL_GRACE_SECONDS + 5)

    # -- the event stream

    async def follow(self, last_id: str | None, block_ms: int = 2000) -> AsyncIterator[tuple[str, str, Any]]:
        """(stream id, type, data) of the run events after `last_id` (None: from now on); yields
        ("", "tick", state) when nothing happened for `block_ms`, so a reader sees time pass and an
        interrupted run as such."""
        if last_id is None:
            newest = await self._redis.xrevrange(events_key(), count=1)
            last_id = newest[0][0] if newest else "0-0"
        while True:
            found = await self._redis.xread({events_key(): last_id}, count=100, block=block_ms)
            if not found:
                yield "", "tick", await self.current(with_log=False)
                continue
            for entry_id, fields in found[0][1]:
                last_id = entry_id
                try:
                    data = json.loads(fields.get("data") or "null")
                except ValueError:
                    continue
                yield entry_id, str(fields.get("type") or "state"), data


def _progress(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("stage"), str) else None


def valid_event_id(value: str) -> bool:
    return re.fullmatch(r"[0-9]{1,20}-[0-9]{1,20}", value) is not None
