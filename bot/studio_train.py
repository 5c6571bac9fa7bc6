"""`python -m bot.studio_train`: the studio's training run (docs/studio.md).

Trains a candidate model from a project root, evaluates it and the live model on the held-out sets, and
writes `<out>/<name>.tar.gz` with its report `<out>/<name>.json`: overall and per-intent accuracy of both
models per language, the differences, and each activation gate with pass or fail. Every stage is announced
as one JSON line on stdout (`{"stage": ..., "elapsed": ...}`); Rasa's own log goes to stderr.

Training is fast when it can be: with a base model (the live one) Rasa fine-tunes it (`--finetune`), so
the entity DIET, which is most of a full training, runs a fraction of its epochs from its trained weights
(one epoch when no entity annotation changed since the live model), while the intent classifier and the
other components are trained on all the data as always. Rasa refuses to fine-tune when the pipeline, the
domain's dialogue part or the set of intents and entities changed; training then starts again in full,
and the report says why. `--full` asks for a full training.

The inputs are copied first, so an edit made while training neither reaches this model halfway nor goes
unrecorded: the report names the hash of the data it was trained on. The held-out sets are read from the
root and never copied; only aggregate numbers about them are written.

The evaluation and gate functions need neither Rasa nor TensorFlow (tests import them on Python 3.11).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from common.studio_gates import check_gates

REPORT_VERSION = 1
FALLBACK = "nlu_fallback"
# What the pipeline reads while training, relative to the root (scripts/train.sh lists the same).
INPUT_DIRS = ("bot/domain", "data/nlu", "data/rules", "data/stories", "data/affect", "data/policy")
INPUT_FILES = ("config.yml",)
LINKED = ("var/spacy", "var/encoders")  # read-only models the pipeline loads by relative path
DEFAULT_GATES: dict[str, Any] = {
    "held_out": {"en": "data/eval/nlu_en.yml", "zh": "data/eval/nlu_zh.yml"},
    "gates": {"max_overall_drop_points": 0.0, "max_intent_drop_points": 10.0, "min_intent_messages": 5},
    "finetune_epoch_fraction": 0.2,
    "finetune_epochs_when_entities_unchanged": 1,
}
EVAL_CACHE_VERSION = "2"  # part of the cache key: a change in how predictions are made invalidates it
EVAL_BATCH = 64  # messages per pass through the NLU graph

logger = logging.getLogger("bot.studio_train")


class TrainError(Exception):
    """A run that cannot go on; the message is for the editor."""


# ---------------------------------------------------------------- progress


class Progress:
    """One JSON line per stage on stdout, with the seconds since the run started."""

    def __init__(self, out: Any = None) -> None:
        self.started = time.monotonic()
        self.out = out or sys.stdout
        self.stage_started: dict[str, float] = {}
        self.timings: dict[str, float] = {}
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def emit(self, stage: str, **detail: Any) -> None:
        line = json.dumps({"stage": stage, "elapsed": self.elapsed(), **detail}, ensure_ascii=False)
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def begin(self, stage: str, **detail: Any) -> None:
        self.stage_started[stage] = time.monotonic()
        self.emit(stage, **detail)

    def end(self, stage: str) -> float:
        seconds = round(time.monotonic() - self.stage_started.get(stage, self.started), 1)
        self.timings[stage] = seconds
        return seconds


# ---------------------------------------------------------------- metrics and gates (no Rasa needed)


def intent_metrics(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Overall and per-intent scores from (gold, predicted) pairs. Intents are the gold labels; a
    prediction outside them (nlu_fallback) is a miss, never a class (as in bench/nlu_quality.py)."""
    pairs = list(pairs)
    golds = sorted({g for g, _ in pairs})
    intents: dict[str, dict[str, Any]] = {}
    for label in golds:
        tp = sum(g == label and p == label for g, p in pairs)
        fp = sum(g != label and p == label for g, p in pairs)
        n = sum(g == label for g, _ in pairs)
        fn = n - tp
        intents[label] = {
            "n": n,
            "correct": tp,
            "accuracy": tp / n,
            "precision": tp / (tp + fp) if tp + fp else 0.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        }
    n = len(pairs)
    return {
        "n": n,
        "correct": sum(g == p for g, p in pairs),
        "accuracy": sum(g == p for g, p in pairs) / n if n else 0.0,
        "macro_f1": sum(i["f1"] for i in intents.values()) / len(intents) if intents else 0.0,
        "intents": intents,
    }


def _points(new: float, old: float) -> float:
    return round(100 * (new - old), 2)


def compare(
    candidate: Mapping[str, Mapping[str, Any]], live: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, Any]:
    """Per language: both models' overall scores, per-intent scores and the changes in points (candidate
    minus live); `live` None (no live model) leaves the live side and the changes null."""
    out: dict[str, Any] = {}
    for lang, cand in candidate.items():
        base = (live or {}).get(lang)
        intents = {}
        for intent, c in cand["intents"].items():
            b = base["intents"].get(intent) if base else None
            intents[intent] = {
                "n": c["n"],
                "candidate": {k: c[k] for k in ("accuracy", "precision", "f1")},
                "live": {k: b[k] for k in ("accuracy", "precision", "f1")} if b else None,
                "change_points": (
                    {k: _points(c[k], b[k]) for k in ("accuracy", "precision", "f1")} if b else None
                ),
            }
        out[lang] = {
            "n": cand["n"],
            "candidate": {k: cand[k] for k in ("accuracy", "macro_f1")},
            "live": {k: base[k] for k in ("accuracy", "macro_f1")} if base else None,
            "change_points": (
                {k: _points(cand[k], base[k]) for k in ("accuracy", "macro_f1")} if base else None
            ),
            "intents": intents,
        }
    return out


def read_gates(path: Path | None) -> dict[str, Any]:
    """The gate settings (handoff/studio/gates.yml), defaults for what the file leaves out."""
    loaded: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise TrainError(f"the gate settings {path} cannot be read: {exc}") from None
        if not isinstance(loaded, dict):
            raise TrainError(f"the gate settings {path} must be a mapping")
    return {
        "held_out": {**DEFAULT_GATES["held_out"], **(loaded.get("held_out") or {})},
        "gates": {**DEFAULT_GATES["gates"], **(loaded.get("gates") or {})},
        "finetune_epoch_fraction": float(
            loaded.get("finetune_epoch_fraction", DEFAULT_GATES["finetune_epoch_fraction"])
        ),
        "finetune_epochs_when_entities_unchanged": int(
            loaded.get(
                "finetune_epochs_when_entities_unchanged",
                DEFAULT_GATES["finetune_epochs_when_entities_unchanged"],
            )
        ),
    }


# ---------------------------------------------------------------- inputs


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(root: Path, relative: Iterable[str]) -> str:
    """sha256 over the files (path and content) under the given paths of `root`, in a stable order."""
    digest = hashlib.sha256()
    for rel in sorted(relative):
        base = root / rel
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def snapshot_inputs(root: Path, work: Path) -> str:
    """Copy the training inputs of `root` into `work` (the pipeline's models are linked); returns the
    hash of the copied data."""
    for rel in INPUT_FILES:
        if not (root / rel).is_file():
            raise TrainError(f"{rel} is missing under {root}")
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, work / rel)
    for rel in INPUT_DIRS:
        if (root / rel).is_dir():
            shutil.copytree(root / rel, work / rel)
    for rel in LINKED:
        if (root / rel).exists():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).symlink_to((root / rel).resolve(), target_is_directory=True)
    present = [r for r in (*INPUT_FILES, *INPUT_DIRS) if (work / r).exists()]
    return tree_digest(work, present)


def entity_digest(nlu_dir: Path) -> str:
    """sha256 of the examples that carry entity annotations (text and entities): when it is the live
    model's, the entity DIET has nothing new to learn."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(nlu_dir))
    rows = sorted(
        json.dumps([m.get("text"), m.get("entities")], sort_keys=True, ensure_ascii=False)
        for m in data.training_examples
        if m.get("entities")
    )
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def diet_epochs(config: Path) -> int | None:
    """The epochs the config gives the (entity) DIET, None without one."""
    loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    for component in loaded.get("pipeline") or []:
        if str(component.get("name", "")).rsplit(".", 1)[-1] in ("EntityDIETClassifier", "DIETClassifier"):
            return int(component.get("epochs", 300))
    return None


def epoch_fraction(
    settings: Mapping[str, Any], base_report: Path | None, entities_sha: str, epochs: int | None
) -> tuple[float, bool]:
    """The fine-tuning epoch fraction, and whether the entity annotations are the live model's (known when
    the live model came from the studio: its report says what it was trained on). Rasa rounds epochs x
    fraction up, so the fraction for k epochs is (k - 0.5) / epochs."""
    unchanged = False
    if base_report is not None and base_report.is_file():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            previous = json.loads(base_report.read_text(encoding="utf-8"))
            unchanged = previous.get("training", {}).get("entities_sha256") == entities_sha
    wanted = int(settings["finetune_epochs_when_entities_unchanged"])
    if unchanged and epochs and 0 < wanted < epochs:
        return (wanted - 0.5) / epochs, True
    return float(settings["finetune_epoch_fraction"]), unchanged


# ---------------------------------------------------------------- training (Rasa)


def _watch_components(progress: Progress) -> logging.Handler:
    """Rasa logs the start of each component's training: announce it as progress of the train stage."""

    class Announce(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if message.startswith("Starting to train component"):
                progress.emit("train", step=message.split("'")[1] if "'" in message else message)

    handler = Announce(logging.INFO)
    hooks = logging.getLogger("rasa.engine.training.hooks")
    hooks.setLevel(logging.INFO)
    hooks.addHandler(handler)
    return handler


def _announce_epochs(progress: Progress) -> None:
    """DIET's epochs as progress lines instead of a progress bar: Rasa builds its training callbacks in one
    function, looked up when DIET trains, so wrapping it adds an epoch callback without touching DIET."""
    import tensorflow as tf
    from rasa.utils import train_utils

    original = train_utils.create_common_callbacks
    if getattr(original, "_studio", False):
        return

    class EpochProgress(tf.keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self, epochs: int) -> None:
            super().__init__()
            self.epochs = epochs
            self.last = 0.0

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            now = time.monotonic()
            if now - self.last >= 2.0 or epoch + 1 == self.epochs:  # a line every few seconds at most
                self.last = now
                progress.emit("train", step="epochs", epoch=epoch + 1, epochs=self.epochs)

    def create_common_callbacks(epochs: int, *args: Any, **kwargs: Any) -> list[Any]:
        callbacks = [c for c in original(epochs, *args, **kwargs) if type(c).__name__ != "RasaTrainingLogger"]
        return [EpochProgress(epochs), *callbacks]

    create_common_callbacks._studio = True  # type: ignore[attr-defined]
    train_utils.create_common_callbacks = create_common_callbacks


def train_model(
    work: Path,
    out_dir: Path,
    name: str,
    base_model: Path | None,
    epoch_fraction: float,
    progress: Progress,
) -> tuple[Path, str, str | None]:
    """Train into `out_dir/<name>.tar.gz`; returns the path, the mode used ("finetune" or "full") and why a
    fine-tuning was not possible (None when it was, or was not asked for)."""
    from rasa.model_training import train

    _announce_epochs(progress)
    handler = _watch_components(progress)
    staging = out_dir / f".{name}.training"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    reason: str | None = None
    cwd = Path.cwd()
    os.chdir(work)  # the pipeline reads its models and data by paths relative to the project
    try:
        common: dict[str, Any] = {
            "domain": "bot/domain",
            "config": "config.yml",
            "training_files": ["data/nlu", "data/rules", "data/stories"],
            "output": str(staging),
            "fixed_model_name": name,
            "force_training": True,
        }
        mode = "finetune" if base_model is not None else "full"
        result = None
        if base_model is not None:
            progress.emit("train", mode="finetune", epoch_fraction=epoch_fraction)
            try:
                result = train(
                    **common, model_to_finetune=str(base_model), finetuning_epoch_fraction=epoch_fraction
                )
            except Exception as exc:  # refused (new intents, ...) or failed: a full training decides
                reason = _first_line(exc)
                logger.warning("fine-tuning is not possible, training in full: %s", reason)
                mode = "full"
                shutil.rmtree(staging, ignore_errors=True)
                staging.mkdir(parents=True)
        if result is None or mode == "full":
            progress.emit("train", mode="full", reason=reason)
            result = train(**common)
        if result.code != 0 or not result.model:
            raise TrainError(f"Rasa could not train the model (code {result.code}); see the log")
        target = out_dir / f"{name}.tar.gz"
        os.replace(result.model, target)
        return target, mode, reason
    finally:
        os.chdir(cwd)
        logging.getLogger("rasa.engine.training.hooks").removeHandler(handler)
        shutil.rmtree(staging, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    """The useful line of a Rasa error: the innermost cause's message."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:500]


# ---------------------------------------------------------------- evaluation (Rasa)


def read_held_out(root: Path, held_out: Mapping[str, str]) -> tuple[dict[str, list[tuple[str, str]]], str]:
    """(text, gold intent) per language from Rasa NLU YAML files under `root`, and a hash of the files.
    The texts stay in this process: only aggregate numbers leave it."""
    from rasa.shared.nlu.training_data.loading import load_data

    sets: dict[str, list[tuple[str, str]]] = {}
    digest = hashlib.sha256()
    for lang, rel in sorted(held_out.items()):
        path = root / rel
        if not path.is_file():
            continue
        digest.update(lang.encode() + b"\0" + path.read_bytes() + b"\0")
        data = load_data(str(path))
        sets[lang] = [(m.get("text"), m.get("intent")) for m in data.intent_examples]
    if not sets:
        raise TrainError("no held-out set was found: " + ", ".join(held_out.values()))
    return sets, digest.hexdigest()


def predict(model: Path, sets: Mapping[str, list[tuple[str, str]]], workdir: Path) -> dict[str, Any]:
    """(gold, predicted) pairs per language with `model` loaded as the server loads it; a predicted
    nlu_fallback counts as a wrong intent. Messages go through the model's NLU graph in batches, as
    `parse_message` sends them one by one (the components process lists; the results are the same)."""
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.shared.core.trackers import DialogueStateTracker

    cwd = Path.cwd()
    os.chdir(workdir)  # components resolve var/ paths relative to the working directory
    try:
        started = time.monotonic()
        agent = Agent.load(str(model))
        processor = agent.processor
        if processor is None:
            raise TrainError(f"the model {model.name} could not be loaded")
        target = processor.model_metadata.nlu_target
        tracker = DialogueStateTracker.from_events("studio-evaluation", [])
        out: dict[str, list[tuple[str, str]]] = {}
        for lang, examples in sets.items():
            pairs = []
            for start in range(0, len(examples), EVAL_BATCH):
                batch = examples[start : start + EVAL_BATCH]
                messages = [UserMessage(text, sender_id="studio-evaluation") for text, _ in batch]
                results = processor.graph_runner.run(
                    inputs={PLACEHOLDER_MESSAGE: messages, PLACEHOLDER_TRACKER: tracker}, targets=[target]
                )
                for parsed, (_, gold) in zip(results[target], batch, strict=True):
                    pairs.append((gold, str((parsed.get("intent") or {}).get("name"))))
            out[lang] = pairs
        seconds = round(time.monotonic() - started, 1)
    finally:
        os.chdir(cwd)
    return {"pairs": out, "seconds": seconds}


def evaluate(
    model: Path,
    sets: Mapping[str, list[tuple[str, str]]],
    sets_digest: str,
    cache_dir: Path | None,
    workdir: Path,
) -> tuple[dict[str, Any], bool, str]:
    """Scores per language, whether they came from the cache, and the model file's sha256. The cache
    (keyed by model hash, held-out hash and EVAL_CACHE_VERSION) keeps (gold, predicted) pairs only."""
    model_sha = file_digest(model)
    key = hashlib.sha256(f"{model_sha}:{sets_digest}:{EVAL_CACHE_VERSION}".encode()).hexdigest()[:32]
    cached = cache_dir / f"{key}.json" if cache_dir else None
    if cached is not None and cached.is_file():
        with contextlib.suppress(ValueError, OSError, KeyError):
            stored = json.loads(cached.read_text(encoding="utf-8"))
            pairs = {lang: [tuple(p) for p in ps] for lang, ps in stored["pairs"].items()}
            return {lang: intent_metrics(ps) for lang, ps in pairs.items()}, True, model_sha
    result = predict(model, sets, workdir)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        partial.write_text(
            json.dumps({"model_sha256": model_sha, "pairs": result["pairs"]}), encoding="utf-8"
        )
        os.replace(partial, cached)
    return {lang: intent_metrics(ps) for lang, ps in result["pairs"].items()}, False, model_sha


# ---------------------------------------------------------------- the run


def build_report(
    *,
    name: str,
    live_model: str | None,
    training: dict[str, Any],
    candidate_scores: dict[str, Any],
    live_scores: dict[str, Any] | None,
    held_out: dict[str, Any],
    gate_settings: Mapping[str, Any],
    timings: dict[str, float],
) -> dict[str, Any]:
    gates = check_gates(candidate_scores, live_scores, gate_settings)
    return {
        "version": REPORT_VERSION,
        "candidate": f"{name}.tar.gz",
        "live_model": live_model,
        "created": time.time(),
        "training": training,
        "held_out": held_out,
        "scores": {"candidate": candidate_scores, "live": live_scores},
        "comparison": compare(candidate_scores, live_scores),
        "gates": {**gates, "settings": dict(gate_settings)},
        "passed": gates["passed"],
        "timings": timings,
    }


def watch_parent(parent: int) -> None:
    """End this run's process group when the process that started it is gone (a hub worker that died
    cannot cancel it any more, and nobody would collect its result)."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                with contextlib.suppress(OSError):
                    os.killpg(os.getpgrp(), signal.SIGTERM)
                os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    root = Path(args.root).resolve()
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    base_model = Path(args.base_model).resolve() if args.base_model else None
    if base_model is not None and not base_model.is_file():
        raise TrainError(f"the live model {base_model} does not exist")
    settings = read_gates(Path(args.gates) if args.gates else root / "handoff" / "studio" / "gates.yml")
    if args.epoch_fraction is not None and not 0 < args.epoch_fraction <= 1:
        raise TrainError(f"the epoch fraction must be in (0, 1], not {args.epoch_fraction}")
    name = args.name or time.strftime("%Y%m%d-%H%M%S") + "-studio"
    for stale in out_dir.glob(".*.training"):  # left by a run killed outright; only one runs at a time
        shutil.rmtree(stale, ignore_errors=True)
    cache_dir = Path(args.eval_cache).resolve() if args.eval_cache else out_dir / ".eval-cache"
    finetune_from = None if args.full else base_model

    with tempfile.TemporaryDirectory(prefix="studio-train-") as tmp:
        work = Path(tmp)
        progress.begin("snapshot")
        data_sha = snapshot_inputs(root, work)
        entities_sha = entity_digest(work / "data" / "nlu")
        progress.end("snapshot")

        base_report = out_dir / f"{base_model.name.removesuffix('.tar.gz')}.json" if base_model else None
        fraction, entities_unchanged = epoch_fraction(
            settings, base_report, entities_sha, diet_epochs(work / "config.yml")
        )
        if args.epoch_fraction is not None:
            fraction = args.epoch_fraction
        progress.begin("train", mode="finetune" if finetune_from else "full")
        model, mode, reason = train_model(work, out_dir, name, finetune_from, fraction, progress)
        train_seconds = progress.end("train")
        training = {
            "mode": mode,
            "requested": "full" if args.full else "auto",
            "finetune_refused": reason,
            "epoch_fraction": fraction if mode == "finetune" else None,
            "entities_unchanged": entities_unchanged,
            "base_model": base_model.name if base_model else None,
            "data_sha256": data_sha,
            "entities_sha256": entities_sha,
            "seconds": train_seconds,
        }

        sets, sets_digest = read_held_out(root, settings["held_out"])
        held_out = {
            "sha256": sets_digest,
            "sizes": {lang: len(examples) for lang, examples in sets.items()},
            "files": settings["held_out"],
        }
        progress.begin("evaluate_candidate", sizes=held_out["sizes"])
        candidate_scores, _, candidate_sha = evaluate(model, sets, sets_digest, cache_dir, work)
        progress.end("evaluate_candidate")

        live_scores = None
        if base_model is not None:
            progress.begin("evaluate_live", model=base_model.name)
            live_scores, cached, _ = evaluate(base_model, sets, sets_digest, cache_dir, work)
            progress.end("evaluate_live")
            progress.emit("evaluate_live", cached=cached)

    progress.begin("report")
    progress.timings["total"] = progress.elapsed()
    training["model_sha256"] = candidate_sha
    report = build_report(
        name=name,
        live_model=base_model.name if base_model else None,
        training=training,
        candidate_scores=candidate_scores,
        live_scores=live_scores,
        held_out=held_out,
        gate_settings=settings["gates"],
        timings=dict(progress.timings),
    )
    path = out_dir / f"{name}.json"
    partial = out_dir / f".{name}.json.partial"
    partial.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return report


def quiet_logging() -> None:
    """Warnings and up only: Rasa's debug lines would flood the log, and some of them quote the messages
    being parsed, which for the held-out sets must stay in this process."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    with contextlib.suppress(ImportError):
        from rasa.utils.common import configure_logging_and_warnings
        from rasa.utils.log_utils import configure_structlog

        configure_logging_and_warnings(logging.WARNING)
        configure_structlog(logging.WARNING)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="project root with config.yml, bot/domain and data/")
    parser.add_argument("--out", required=True, help="directory for the candidate and its report")
    parser.add_argument("--base-model", help="the live model: fine-tuned and evaluated beside the candidate")
    parser.add_argument("--full", action="store_true", help="train in full even with a base model")
    parser.add_argument("--name", help="candidate name without .tar.gz (default: a timestamp)")
    parser.add_argument("--gates", help="gate settings (default: <root>/handoff/studio/gates.yml)")
    parser.add_argument("--eval-cache", help="where evaluations are cached (default: <out>/.eval-cache)")
    parser.add_argument(
        "--epoch-fraction", type=float, help="fine-tuning epochs as a fraction of the config's"
    )
    parser.add_argument("--nice", type=int, default=10, help="lower this process's priority by this much")
    parser.add_argument("--watch-parent", action="store_true", help="stop when the starting process is gone")
    return parser.parse_args(argv)


def _stop_on_sigterm() -> None:
    """A cancelled run (SIGTERM to its process group) exits through Python, so its temporary copies and
    Rasa's temporary model directory are removed on the way out."""

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None, out: Any = None) -> int:
    args = parse_args(argv)
    progress = Progress(out)
    _stop_on_sigterm()
    if args.watch_parent:
        watch_parent(os.getppid())
    if args.nice > 0:
        with contextlib.suppress(OSError):
            os.nice(args.nice)  # serving customers comes first on a shared machine
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Every node is trained anyway (force_training): a cache would only fill the disk.
    os.environ.setdefault("RASA_MAX_CACHE_SIZE", "0")
    quiet_logging()
    try:
        report = run(args, progress)
    except TrainError as exc:
        progress.emit("failed", error=str(exc))
        return 1
    except Exception as exc:  # Rasa's errors: the editor gets the reason, the log the traceback
        logger.exception("training failed")
        progress.emit("failed", error=_first_line(exc))
        return 1
    progress.emit(
        "done",
        candidate=report["candidate"],
        report=f"{Path(report['candidate']).name.removesuffix('.tar.gz')}.json",
        passed=report["passed"],
        mode=report["training"]["mode"],
        timings=report["timings"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
