"""The studio's training runner with a fake trainer (a tiny script speaking bot/studio_train.py's progress
protocol), against a real redis-server: states, one run at a time across workers, cancelling from another
worker, an owner that died, failures, the event stream, and what reaches the trainer."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from handoff.errors import Conflict
from handoff.studio import audit
from handoff.studio.models import ModelPaths
from handoff.studio.training import (
    TrainingRunner,
    TrainingSettings,
    cancel_key,
    lease_key,
    log_key,
    run_key,
)

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 8  # this module and test_studio_models.py flush it before each test that uses it

# Speaks the trainer's protocol: JSON progress lines on stdout, other output as a log, the candidate and its
# report in --out. What it does is read from <root>/fake_trainer.json, since the runner passes the trainer a
# bare environment.
FAKE_TRAINER = textwrap.dedent(
    """
    import argparse, json, os, sys, time
    from pathlib import Path

    from bot import studio_train

    parser = argparse.ArgumentParser()
    for flag in ("--root", "--out", "--name", "--gates", "--base-model"):
        parser.add_argument(flag)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--watch-parent", action="store_true")
    args = parser.parse_args()
    control = json.loads((Path(args.root) / "fake_trainer.json").read_text())
    Path(args.root, "trainer_seen.json").write_text(
        json.dumps(
            {"argv": sys.argv[1:], "env": sorted(os.environ), "pid": os.getpid(), "pgid": os.getpgrp()}
        )
    )
    started = time.monotonic()

    def emit(stage, **detail):
        line = {"stage": stage, "elapsed": round(time.monotonic() - started, 1), **detail}
        print(json.dumps(line), flush=True)

    pause = control.get("pause", 0.05)
    emit("snapshot")
    time.sleep(pause)
    emit("train", mode="full" if args.full or not args.base_model else "finetune")
    print("Epochs:  10%|#  | 1/10\\rEpochs:  20%|## | 2/10\\rdone", flush=True)
    print("a log line", file=sys.stderr, flush=True)
    print("\\x1b[92mYour model is trained\\x1b[0m", flush=True)
    for epoch in range(1, 4):
        emit("train", step="epochs", epoch=epoch, epochs=3)
        time.sleep(pause)
    if control.get("hang"):
        time.sleep(3600)
    if control.get("fail"):
        emit("failed", error="Rasa could not read data/nlu/en/orders.yml")
        sys.exit(1)
    if control.get("crash"):
        sys.exit(7)
    emit("evaluate_candidate", sizes={"en": 20})
    time.sleep(pause)
    def scores(spec):
        pairs = [(i, i) for i, (right, wrong) in spec.items() for _ in range(right)]
        pairs += [(i, "nlu_fallback") for i, (right, wrong) in spec.items() for _ in range(wrong)]
        return {"en": studio_train.intent_metrics(pairs)}
    live = scores(control.get("live", {"a": [9, 1], "b": [9, 1]})) if args.base_model else None
    if args.base_model:
        emit("evaluate_live", model=Path(args.base_model).name)
    emit("report")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.tar.gz").write_bytes(b"model " + args.name.encode())
    report = studio_train.build_report(
        name=args.name,
        live_model=Path(args.base_model).name if args.base_model else None,
        training={"mode": "finetune" if args.base_model and not args.full else "full"},
        candidate_scores=scores(control.get("candidate", {"a": [10, 0], "b": [9, 1]})),
        live_scores=live,
        held_out={"sha256": "fake", "sizes": {"en": 20}},
        gate_settings=studio_train.read_gates(Path(args.gates))["gates"],
        timings={"total": round(time.monotonic() - started, 1)},
    )
    (out / f"{args.name}.json").write_text(json.dumps(report))
    emit("done", candidate=f"{args.name}.tar.gz", passed=report["passed"])
    """
)


def make_project(root: Path, **control: Any) -> TrainingSettings:
    """A project root with a live model and a fake trainer; `control` says what the trainer does."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "fake_trainer.json").write_text(json.dumps(control), encoding="utf-8")
    trainer = root / "fake_trainer.py"
    trainer.write_text(FAKE_TRAINER, encoding="utf-8")
    models = root / "models"
    models.mkdir(exist_ok=True)
    live = models / "live.tar.gz"
    if not live.exists():
        live.write_bytes(b"live model")
        os.utime(live, (time.time() - 100, time.time() - 100))
    return TrainingSettings(
        root=root,
        python=Path(sys.executable),
        models=ModelPaths(models, ROOT / "handoff" / "studio" / "gates.yml"),
        trainer=(sys.executable, str(trainer)),
        code_root=ROOT,
        lease_seconds=1.5,
        heartbeat_seconds=0.2,
        cancel_wait_seconds=5.0,
    )


def set_control(settings: TrainingSettings, **control: Any) -> None:
    (settings.root / "fake_trainer.json").write_text(json.dumps(control), encoding="utf-8")


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}", decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


async def finished(runner: TrainingRunner, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await runner.current()
        if state is not None and state["state"] != "running":
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"the run did not finish: {await runner.current()}")


async def training_in_progress(runner: TrainingRunner) -> None:
    """Until the trainer announced its first epoch (it is then past its start-up)."""
    for _ in range(400):
        if (await runner.current() or {}).get("progress") is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the trainer announced no epoch")


async def test_a_run_goes_through_its_stages_and_ends_with_the_reports_summary(
    tmp_path: Path, redis_client: aioredis.Redis
) -> None:
    settings = make_project(tmp_path / "project")
    runner = TrainingRunner(redis_client, settings, owner="worker-a")
    started = await runner.start("ed")
    assert started["state"] == "running" and started["who"] == "ed" and started["owner"] == "worker-a"
    assert started["base_model"] == "live.tar.gz" and started["mode"] == "auto"
    assert await redis_client.get(lease_key()) == started["id"]

    state = await finished(runner)
    assert state["state"] == "succeeded" and state["stage"] == "done"
    assert state["candidate"] == f"{started['id']}.tar.gz"
    assert [s["stage"] for s in state["stages"]] == [
        "snapshot",
        "train",
        "evaluate_candidate",
        "evaluate_live",
        "report",
    ]
    assert state["training_mode"] == "finetune"
    result = state["result"]
    assert result["passed"] is True and result["live_model"] == "live.tar.gz"
    assert result["overall"]["en"]["change_points"]["accuracy"] == 5.0
    assert state["elapsed"] > 0 and state["finished"] >= state["started"]
    # The trainer's other output is the log, progress bars split at their carriage returns.
    assert "a log line" in state["log_tail"] and "Epochs:  20%|## | 2/10" in state["log_tail"]
    assert "Your model is trained" in state["log_tail"]  # without its colour codes
    assert await redis_client.get(lease_key()) is None  # released
    assert (settings.models.candidates_dir / state["candidate"]).is_file()
    assert 0 < await redis_client.ttl(run_key(started["id"])) <= 30 * 86400

    entries = await audit.recent(redis_client, action_prefix="training.")
    assert [e["action"] for e in entries] == ["training.finished", "training.started"]
    assert entries[0]["actor"] == "ed" and entries[0]["detail"]["outcome"] == "succeeded"
    assert entries[0]["detail"]["passed"] is True and entries[1]["detail"]["base_model"] == "live.tar.gz"
    assert [r["id"] for r in await runner.recent()] == [started["id"]]

    seen = json.loads((settings.root / "trainer_seen.json").read_text())
    argv = seen["argv"]
    assert argv[argv.index("--base-model") + 1] == str(settings.models.models_dir / "live.tar.gz")
    assert argv[argv.index("--out") + 1] == str(settings.models.candidates_dir)
    assert "--watch-parent" in argv and "--full" not in argv
    assert seen["pgid"] == seen["pid"]  # a process group of its own


async def test_only_one_run_at_a_time_across_workers(tmp_path: Path, redis_client: aioredis.Redis) -> None:
    settings = make_project(tmp_path / "project", pause=0.3)
    first = TrainingRunner(redis_client, settings, owner="worker-a")
    other_worker = TrainingRunner(redis_client, settings, owner="worker-b")
    run = await first.start("ed")
    for runner in (first, other_worker):
        with pytest.raises(Conflict) as refused:
            await runner.start("kim", full=True)
        assert refused.value.code == "training_running" and run["id"] in str(refused.value)
        assert "by ed" in str(refused.value) and refused.value.current["id"] == run["id"]
    # The other worker sees the same run, with its progress.
    seen = await other_worker.current()
    assert seen is not None and seen["id"] == run["id"] and seen["state"] == "running"
    await finished(first)
    second = await other_worker.start("kim", full=True)
    assert second["mode"] == "full"
    await finished(other_worker)
    argv = json.loads((settings.root / "trainer_seen.json").read_text())["argv"]
    assert "--full" in argv


async def test_a_cancel_served_by_another_worker_ends_the_process_group(
    tmp_path: Path, redis_client: aioredis.Redis
) -> None:
    settings = make_project(tmp_path / "project", hang=True)
    owner = TrainingRunner(redis_client, settings, owner="worker-a")
    other_worker = TrainingRunner(redis_client, settings, owner="worker-b")
    run = await owner.start("ed")
    await training_in_progress(owner)
    pid = json.loads((settings.root / "trainer_seen.json").read_text())["pid"]

    state = await other_worker.cancel("kim")
    assert state["state"] == "cancelled" and state["error"] == "cancelled by kim"
    assert state["cancel_requested_by"] == "kim"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert await redis_client.get(lease_key()) is None
    actions = [(e["action"], e["actor"]) for e in await audit.recent(redis_client, action_prefix="training.")]
    assert actions == [("training.finished", "ed"), ("training.cancelled", "kim"), ("training.started", "ed")]
    assert (await audit.recent(redis_client, action_prefix="training.finished"))[0]["detail"][
        "outcome"
    ] == "cancelled"
    with pytest.raises(Conflict) as nothing:
        await other_worker.cancel("kim")
    assert nothing.value.code == "not_running" and nothing.value.current["id"] == run["id"]
    assert await redis_client.exists(cancel_key(run["id"]))  # harmless: the run is over


async def test_a_run_whose_owner_died_reads_as_interrupted(
    tmp_path: Path, redis_client: aioredis.Redis
) -> None:
    settings = make_project(tmp_path / "project")
    # What a worker killed mid-run leaves behind: a running state and a lease nobody renews.
    state = {
        "id": "20261206-120000-abcdef",
        "state": "running",
        "mode": "auto",
        "stage": "train",
        "stages": [],
        "started": time.time() - 60,
        "finished": None,
        "who": "ed",
        "result": None,
        "error": None,
    }
    await redis_client.set(run_key(state["id"]), json.dumps(state))
    await redis_client.set("hub:studio:training:current", state["id"])
    await redis_client.set(lease_key(), state["id"], px=300)
    runner = TrainingRunner(redis_client, settings, owner="worker-b")
    assert (await runner.current() or {})["state"] == "running"  # the lease still lives
    await asyncio.sleep(0.4)
    seen = await runner.current()
    assert seen is not None and seen["state"] == "interrupted" and "stopped" in seen["error"]
    assert seen["elapsed"] < 65  # it stopped counting
    stored = json.loads(await redis_client.get(run_key(state["id"])))
    assert stored["state"] == "interrupted"
    # and a new run may start.
    assert (await runner.start("kim"))["state"] == "running"
    await finished(runner)


async def test_a_stopping_worker_interrupts_its_run(tmp_path: Path, redis_client: aioredis.Redis) -> None:
    settings = make_project(tmp_path / "project", hang=True)
    runner = TrainingRunner(redis_client, settings)
    await runner.start("ed")
    await training_in_progress(runner)
    await runner.shutdown()
    state = await runner.current()
    assert state is not None and state["state"] == "interrupted" and "stopped" in state["error"]
    assert await redis_client.get(lease_key()) is None


async def test_failures_say_why(tmp_path: Path, redis_client: aioredis.Redis) -> None:
    settings = make_project(tmp_path / "project", fail=True)
    runner = TrainingRunner(redis_client, settings)
    await runner.start("ed")
    state = await finished(runner)
    assert state["state"] == "failed" and state["error"] == "Rasa could not read data/nlu/en/orders.yml"
    assert state["candidate"] is None and state["result"] is None

    set_control(settings, crash=True)
    await runner.start("ed")
    state = await finished(runner)
    assert state["state"] == "failed" and "exit code 7" in state["error"]
    finished_entries = await audit.recent(redis_client, action_prefix="training.finished")
    assert [e["detail"]["outcome"] for e in finished_entries] == ["failed", "failed"]


async def test_a_trainer_that_cannot_start_fails_the_run_and_frees_the_lease(
    tmp_path: Path, redis_client: aioredis.Redis
) -> None:
    settings = make_project(tmp_path / "project")
    missing = TrainingSettings(
        root=settings.root, python=tmp_path / "no-python", models=settings.models, code_root=ROOT
    )
    runner = TrainingRunner(redis_client, missing)
    state = await runner.start("ed")
    assert state["state"] == "failed" and "could not be started" in state["error"]
    assert str(tmp_path / "no-python") in state["error"]
    assert await redis_client.get(lease_key()) is None


async def test_the_trainer_gets_no_secret_of_the_hub(
    tmp_path: Path, redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_ADMIN_TOKEN", "admin-secret-0123456789")
    monkeypatch.setenv("REDIS_URL", "redis://:password@127.0.0.1:6379/0")
    settings = make_project(tmp_path / "project")
    runner = TrainingRunner(redis_client, settings)
    await runner.start("ed")
    await finished(runner)
    env = json.loads((settings.root / "trainer_seen.json").read_text())["env"]
    assert "HUB_ADMIN_TOKEN" not in env and "REDIS_URL" not in env
    assert {"PYTHONPATH", "RASA_TELEMETRY_ENABLED", "TF_CPP_MIN_LOG_LEVEL"} <= set(env)


async def test_the_event_stream_follows_a_run_from_any_worker(
    tmp_path: Path, redis_client: aioredis.Redis
) -> None:
    settings = make_project(tmp_path / "project")
    owner = TrainingRunner(redis_client, settings)
    reader = TrainingRunner(redis_client, settings)
    events: list[tuple[str, str, Any]] = []

    async def follow() -> None:
        async for event_id, kind, data in reader.follow(None, block_ms=200):
            events.append((event_id, kind, data))
            if kind == "state" and data["state"] != "running":
                return

    following = asyncio.create_task(follow())
    await asyncio.sleep(0.1)
    run = await owner.start("ed")
    await asyncio.wait_for(following, 20)
    kinds = [kind for _, kind, _ in events if kind != "tick"]
    assert kinds[0] == "state" and kinds[-1] == "state" and "stage" in kinds
    stages = [d["stage"] for _, k, d in events if k == "stage"]
    assert stages[0] == "snapshot" and "evaluate_candidate" in stages
    assert all(d["id"] == run["id"] for _, k, d in events if k in ("stage", "state"))
    epochs = [d["epoch"] for _, k, d in events if k == "stage" and d.get("step") == "epochs"]
    assert epochs == [1, 2, 3]
    # Resuming after an event replays exactly what came after it.
    middle = next(i for i, (_, k, _) in enumerate(events) if k == "stage")
    replay: list[str] = []
    async for event_id, _kind, _data in reader.follow(events[middle][0], block_ms=100):
        if not event_id:
            break
        replay.append(event_id)
    assert replay == [e for e, k, _ in events[middle + 1 :] if k != "tick"]


async def test_a_long_log_keeps_its_last_lines(tmp_path: Path, redis_client: aioredis.Redis) -> None:
    settings = make_project(tmp_path / "project")
    runner = TrainingRunner(redis_client, settings)
    run = await runner.start("ed")
    await finished(runner)
    await redis_client.rpush(log_key(run["id"]), *[f"line {i}" for i in range(300)])
    state = await runner.current()
    assert state is not None and len(state["log_tail"]) == 50 and state["log_tail"][-1] == "line 299"


def test_the_trainer_ends_itself_when_its_parent_is_gone(tmp_path: Path) -> None:
    """bot/studio_train.py --watch-parent: a hub worker killed outright leaves no training behind."""
    marker = tmp_path / "child.pid"
    child = (
        "import os, time; from bot.studio_train import watch_parent; "
        f"watch_parent(os.getppid()); open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    parent = (
        "import subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', {child!r}], start_new_session=True); time.sleep(1.0)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", parent], check=True, env=env, timeout=30)
    pid = int(marker.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    raise AssertionError("the trainer outlived its parent")


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = TrainingSettings.from_env({})
    assert settings.root == ROOT and settings.models.models_dir == ROOT / "models"
    assert settings.models.candidates_dir == ROOT / "models" / "candidates"
    assert settings.python == ROOT / ".venv-rasa" / "bin" / "python"
    assert settings.command("run-1", None, full=False)[:3] == [str(settings.python), "-m", "bot.studio_train"]
    other = TrainingSettings.from_env(
        {
            "STUDIO_ROOT": str(tmp_path),
            "STUDIO_TRAIN_PYTHON": "/opt/rasa/bin/python",
            "RASA_MODELS_DIR": str(tmp_path / "shared-models"),
            "STUDIO_GATES": str(tmp_path / "gates.yml"),
        }
    )
    assert other.root == tmp_path and other.python == Path("/opt/rasa/bin/python")
    command = other.command("run-1", tmp_path / "shared-models" / "live.tar.gz", full=True)
    assert command[command.index("--root") + 1] == str(tmp_path)
    assert command[command.index("--out") + 1] == str(tmp_path / "shared-models" / "candidates")
    assert command[command.index("--gates") + 1] == str(tmp_path / "gates.yml")
    assert command[-1] == "--full" and "--watch-parent" in command
