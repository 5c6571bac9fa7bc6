"""Accept-to-active time of the studio for a one-example change: train a candidate, evaluate it beside the
live model on the held-out sets, activate it, and have a Rasa server serve it.

Works on a copy of the project's training inputs (the checkout is never written), with a Rasa server of its
own. First a base model is trained in full and made live, as the studio would have done it; then one English
example is added to an existing intent (no entity markup), and each path is measured from that moment:

- `full`: the candidate is trained in full (`--full`), as `make train` would;
- `finetune`: the live model is fine-tuned with the configured fraction of DIET's epochs (what the studio
  does after a `make train` model, whose training data it does not know);
- `finetune-same-entities`: the same, with the studio knowing that no entity annotation changed since the
  live model (it came from the studio): one epoch of DIET.

Each path: bot/studio_train.py (train, evaluate the candidate, the live model's evaluation from its cache),
activation with handoff/studio/models.py (copy into models/), then what the model watcher does: PUT /model
on the Rasa server until it answers (scripts/model_watch.py's own `load`). The watcher's polling adds up to
MODEL_WATCH_INTERVAL + 2 s (7 s by default) before that; it is reported, not waited for. Between paths the
base model is made live again (rollback), so every path starts from the same live model.

Run from the repository root with .venv's Python (the trainer runs in .venv-rasa):
    nice -n 10 .venv/bin/python -m bench.studio_cycle --json var/bench/studio_cycle.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
import yaml

from bench.machine import cpu_model
from bench.stack import free_port, git_state
from handoff.studio.models import ModelPaths, ModelStore
from scripts.model_watch import load as watcher_load
from scripts.model_watch import newest as watcher_newest
from tests.redis_server import running_redis

ROOT = Path(__file__).resolve().parents[1]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
INPUTS = ("config.yml", "bot/domain", "data/nlu", "data/rules", "data/stories", "data/affect", "data/policy")
LINKED = ("var/spacy", "var/encoders")
CHANGED_FILE = "data/nlu/en/orders.yml"
CHANGED_INTENT = "order_status"
NEW_EXAMPLE = "any news on where my parcel has got to"
WATCH_DELAY_SECONDS = 5 + 2  # MODEL_WATCH_INTERVAL's default, and the watcher's wait for a complete file
PATHS = ("finetune-same-entities", "finetune", "full")
TRAINER_ENV = {
    "PYTHONPATH": str(ROOT),
    "RASA_TELEMETRY_ENABLED": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONUNBUFFERED": "1",
}


def log(message: str) -> None:
    print(f"[studio_cycle] {message}", flush=True)


def make_project(work: Path) -> Path:
    """A copy of the training inputs, the pipeline's encoders linked, and gates naming the held-out sets
    of the checkout (read by the trainer only, by absolute path)."""
    root = work / "project"
    for rel in INPUTS:
        source, target = ROOT / rel, root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    for rel in LINKED:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to((ROOT / rel).resolve(), target_is_directory=True)
    gates = yaml.safe_load((ROOT / "handoff" / "studio" / "gates.yml").read_text(encoding="utf-8"))
    gates["held_out"] = {lang: str(ROOT / rel) for lang, rel in gates["held_out"].items()}
    (root / "gates.yml").write_text(yaml.safe_dump(gates), encoding="utf-8")
    (root / "models" / "candidates").mkdir(parents=True)
    return root


def add_example(root: Path) -> None:
    """One more example of an existing intent, without entity markup: the editor's accepted annotation."""
    path = root / CHANGED_FILE
    text = path.read_text(encoding="utf-8")
    marker = f"- intent: {CHANGED_INTENT}\n  examples: |\n"
    if marker not in text:
        raise SystemExit(f"{CHANGED_FILE} has no block for {CHANGED_INTENT} in the expected layout")
    path.write_text(text.replace(marker, marker + f"    - {NEW_EXAMPLE}\n", 1), encoding="utf-8")


def train(
    root: Path, name: str, base: Path | None, *extra: str, nice: int = 10
) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """bot/studio_train.py as the studio starts it; its report, its progress lines and its wall time."""
    command = [
        str(RASA_PYTHON), "-m", "bot.studio_train", "--root", str(root),
        "--out", str(root / "models" / "candidates"), "--name", name, "--gates", str(root / "gates.yml"),
        "--nice", str(nice), *extra,
    ]  # fmt: skip
    if base is not None:
        command += ["--base-model", str(base)]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")} | TRAINER_ENV
    started = time.monotonic()
    stages = []
    logfile = root / f"{name}.log"
    with open(logfile, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{"):
                event = json.loads(line)
                stages.append(event)
                if event.get("step") != "epochs" or event.get("epoch") == event.get("epochs"):
                    log(f"{name}: {line.strip()[:200]}")
        proc.wait()
    seconds = round(time.monotonic() - started, 1)
    if proc.returncode != 0:
        raise SystemExit(f"training {name} failed (exit {proc.returncode}); log: {logfile}")
    report = json.loads((root / "models" / "candidates" / f"{name}.json").read_text(encoding="utf-8"))
    return report, stages, seconds


def start_rasa(root: Path, model: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    """A Rasa server with its HTTP API (in-memory trackers: only the model is of interest here)."""
    port = free_port()
    command = [
        str(ROOT / ".venv-rasa" / "bin" / "rasa"), "run", "--enable-api", "--model", str(model),
        "--port", str(port), "--interface", "127.0.0.1", f"--auth-token={token}",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")} | TRAINER_ENV
    log_path = root / "rasa.log"
    with open(log_path, "wb") as out:  # the server keeps its own copy of the descriptor
        proc = subprocess.Popen(
            command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the Rasa server stopped; see {log_path}")
        try:
            if httpx.get(f"{url}/status", params={"token": token}, timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit("the Rasa server did not start within 10 minutes")


def served_model(url: str, token: str) -> str | None:
    body = httpx.get(f"{url}/status", params={"token": token}, timeout=5).json()
    model = body.get("model_file")
    return Path(model).name if isinstance(model, str) else None


async def activate(store: ModelStore, name: str) -> tuple[dict[str, Any], float]:
    """The studio's activation: the candidate copied into models/ as the newest model."""
    started = time.monotonic()
    result = await store.activate(name, "bench")
    return result, round(time.monotonic() - started, 2)


async def roll_back_to(store: ModelStore, name: str) -> None:
    active = store.active()
    if active is not None and active.name != name:
        await store.rollback("bench", expected_active=active.name)


def stage_seconds(stages: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per stage from the progress lines (each stage until the next one)."""
    firsts: dict[str, float] = {}
    for event in stages:
        firsts.setdefault(event["stage"], float(event["elapsed"]))
    names = list(firsts)
    return {
        name: round((firsts[names[i + 1]] if i + 1 < len(names) else firsts[name]) - firsts[name], 1)
        for i, name in enumerate(names)
        if name not in ("done", "failed")
    }


async def measure_path(
    path: str, root: Path, pristine: Path, store: ModelStore, base: Path, rasa: tuple[str, str], nice: int
) -> dict[str, Any]:
    """One path, from the accepted example to the Rasa server serving the candidate."""
    url, token = rasa
    candidates = store.paths.candidates_dir
    await roll_back_to(store, base.name)
    if path == "finetune":  # the studio does not know what a model from `make train` was trained on
        (candidates / "base.json").rename(candidates / "base.json.hidden")
    try:
        shutil.rmtree(root / "data")  # the base's data again, then the one-example change
        shutil.copytree(pristine, root / "data", symlinks=True)
        accepted = time.monotonic()
        add_example(root)
        extra = ("--full",) if path == "full" else ()
        report, stages, train_seconds = train(root, path.replace("-", "_"), base, *extra, nice=nice)
    finally:
        if (candidates / "base.json.hidden").exists():
            (candidates / "base.json.hidden").rename(candidates / "base.json")
    activation_seconds = 0.0
    if report["passed"]:
        _, activation_seconds = await activate(store, report["candidate"])
    else:
        log(f"{path}: a gate failed, so the studio would refuse it; loaded without activation")
    installed = watcher_newest(store.paths.models_dir) if report["passed"] else None
    installed = installed or candidates / report["candidate"]
    load_started = time.monotonic()
    loaded = watcher_load(url, token, installed)
    load_seconds = round(time.monotonic() - load_started, 1)
    total = round(time.monotonic() - accepted, 1)
    log(f"{path}: accept-to-active {total} s (+ up to {WATCH_DELAY_SECONDS} s of the watcher's polling)")
    training = report["training"]
    return {
        "mode": training["mode"],
        "epoch_fraction": training["epoch_fraction"],
        "entities_unchanged": training["entities_unchanged"],
        "finetune_refused": training["finetune_refused"],
        "trainer_seconds": train_seconds,
        "stages": stage_seconds(stages),
        "trainer_timings": report["timings"],
        "gates_passed": report["passed"],
        "overall": {
            lang: {key: c[key] for key in ("candidate", "live", "change_points")}
            for lang, c in report["comparison"].items()
        },
        "activation_seconds": activation_seconds,
        "rasa_load_seconds": load_seconds,
        "rasa_loaded": loaded,
        "rasa_serves": served_model(url, token),
        "accept_to_active_seconds": total,
        "with_watcher_poll_seconds": round(total + WATCH_DELAY_SECONDS, 1),
    }


async def measure(args: argparse.Namespace, work: Path, redis_url: str) -> dict[str, Any]:
    root = make_project(work)
    paths = ModelPaths(root / "models", root / "gates.yml")
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    store = ModelStore(redis, paths)
    result: dict[str, Any] = {"paths": {}}
    try:
        log("training the base model in full (not measured)")
        base_report, _, base_seconds = train(root, "base", None, nice=args.nice)
        await store.activate(base_report["candidate"], "bench")
        base = paths.models_dir / base_report["candidate"]
        result["base"] = {"train_seconds": base_seconds, "timings": base_report["timings"]}
        pristine = work / "base-data"
        shutil.copytree(root / "data", pristine, symlinks=True)
        token = secrets.token_urlsafe(24)
        server, url = start_rasa(root, base, token)
        try:
            for path in args.paths:
                measured = await measure_path(path, root, pristine, store, base, (url, token), args.nice)
                result["paths"][path] = measured
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    finally:
        await redis.aclose()
    return result


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--nice", type=int, default=10, help="the trainer's niceness (the studio's default)")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary directory)")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "command": "python -m bench.studio_cycle " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {cpu_model()}, {platform.machine()}",
        "git": git_state(ROOT),
        "change": {"file": CHANGED_FILE, "intent": CHANGED_INTENT, "added": NEW_EXAMPLE},
        "load_average_before": load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="studio-cycle-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        with running_redis(Path(tmp)) as redis_url:
            report.update(asyncio.run(measure(args, work / "run", redis_url)))
    report["load_average_after"] = load_average()
    text = json.dumps(report, indent=1, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
