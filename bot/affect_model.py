"""Frustration and risk flags of a customer message, beside its intent.

Two kinds of evidence, both in both languages:
- logistic heads over the message's multilingual sentence vector (one softmax over calm / annoyed / angry,
  one balanced binary head per risk flag), trained on data/affect/{en,zh}.yml;
- cue words (data/affect/cues.yml) that a reviewer accepts as nearly always meaning the flag; a cue sets
  the flag whatever the heads say, because a missed injury or fraud report costs far more than a needless
  handoff.

Kept free of Rasa so it can be tested alone; `bot.components.affect_classifier` wraps it. Saved as arrays
and JSON (no pickles), like the intent model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from common.affect import FRUSTRATION_LEVELS, RISK_FLAGS
from common.data_files import read_mapping
from common.phrases import normalised, phrase_pattern

Matrix = npt.NDArray[np.float32]
WEIGHTS_FILE = "affect.npz"
META_FILE = "affect.json"


class AffectDataError(ValueError):
    """Training data, cues or saved weights that cannot make the model; the message names the file."""


@dataclass(frozen=True)
class AffectExample:
    text: str
    frustration: str
    risk: tuple[str, ...]


@dataclass(frozen=True)
class Affect:
    frustration: str
    risk: tuple[str, ...]
    scores: dict[str, float] = field(default_factory=dict)
    cues: tuple[str, ...] = ()  # the cue words that fired, for the agent and for audits

    def as_dict(self) -> dict[str, Any]:
        return {
            "frustration": self.frustration,
            "risk": list(self.risk),
            "scores": {k: round(v, 3) for k, v in self.scores.items()},
            "cues": list(self.cues),
        }


def read_examples(path: Path) -> list[AffectExample]:
    """Labelled messages of one language file; errors name the file and the message's position."""
    messages = read_mapping(path, AffectDataError, "a mapping with a `messages` list").get("messages")
    if not isinstance(messages, list):
        raise AffectDataError(f"{path}: expected a mapping with a `messages` list")
    examples = []
    for number, item in enumerate(messages, 1):
        where = f"{path}: message {number}"
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
            raise AffectDataError(f"{where}: needs a non-empty `text`")
        level = item.get("frustration", "calm")
        if level not in FRUSTRATION_LEVELS:
            raise AffectDataError(f"{where}: frustration {level!r} is not one of {FRUSTRATION_LEVELS}")
        risk = item.get("risk") or []
        unknown = [r for r in risk if r not in RISK_FLAGS] if isinstance(risk, list) else [risk]
        if unknown:
            raise AffectDataError(f"{where}: unknown risk flags {unknown}; known: {RISK_FLAGS}")
        examples.append(AffectExample(item["text"].strip(), level, tuple(risk)))
    return examples


@dataclass(frozen=True)
class CueLexicon:
    """Words per flag (risk flags and `angry`) and language; English matched on word boundaries. A flag may
    also have `expressions`: regular expressions for what no word list covers, such as a contact word
    next to a count ("asked three times", "问了好几次")."""

    words: dict[str, dict[str, tuple[str, ...]]]
    expressions: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    _patterns: dict[str, re.Pattern[str]] = field(default_factory=dict, compare=False, repr=False)
    _compiled: dict[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = "cues") -> CueLexicon:
        words: dict[str, dict[str, tuple[str, ...]]] = {}
        sections = {**(raw.get("risk") or {}), **(raw.get("frustration") or {})}
        for flag, by_language in sections.items():
            if flag not in (*RISK_FLAGS, "angry"):
                raise AffectDataError(f"{source}: unknown flag {flag!r}")
            if not isinstance(by_language, Mapping):
                raise AffectDataError(f"{source}: {flag} must map languages to word lists")
            words[flag] = {
                lang: tuple(str(w).lower().strip() for w in ws if str(w).strip())
                for lang, ws in by_language.items()
            }
        expressions: dict[str, dict[str, tuple[str, ...]]] = {}
        for flag, by_language in (raw.get("expressions") or {}).items():
            if flag not in (*RISK_FLAGS, "angry"):
                raise AffectDataError(f"{source}: expressions: unknown flag {flag!r}")
            if not isinstance(by_language, Mapping):
                raise AffectDataError(f"{source}: expressions: {flag} must map languages to lists")
            expressions[flag] = {lang: tuple(str(e) for e in es) for lang, es in by_language.items()}
        lexicon = cls(words, expressions)
        for flag, by_language in words.items():
            pattern = phrase_pattern(w for ws in by_language.values() for w in ws)
            if pattern is not None:
                lexicon._patterns[flag] = pattern
        for flag, by_language in expressions.items():
            compiled = []
            for lang, sources in by_language.items():
                for number, expression in enumerate(sources, 1):
                    try:
                        compiled.append(re.compile(expression))
                    except re.error as exc:
                        raise AffectDataError(
                            f"{source}: expressions: {flag}.{lang} #{number} is not a regular expression "
                            f"({exc})"
                        ) from None
            lexicon._compiled[flag] = tuple(compiled)
        return lexicon

    @classmethod
    def from_file(cls, path: Path) -> CueLexicon:
        raw = read_mapping(path, AffectDataError, "a mapping with `risk` and `frustration`")
        return cls.from_dict(raw, str(path))

    def matches(self, text: str) -> dict[str, str]:
        """Flag -> the first cue found (either language's cues count: customers mix them)."""
        lowered = normalised(text)
        found = {}
        for flag, pattern in self._patterns.items():
            hit = pattern.search(lowered)
            if hit:
                found[flag] = hit.group(0)
        for flag, expressions in self._compiled.items():
            if flag in found:
                continue
            for expression in expressions:
                hit = expression.search(lowered)
                if hit:
                    found[flag] = hit.group(0)
                    break
        return found


class AffectModel:
    """The trained heads plus the cue lexicon."""

    def __init__(
        self,
        frustration: tuple[Matrix, Matrix],
        risk: dict[str, tuple[Matrix, float]],
        thresholds: dict[str, float],
        cues: CueLexicon,
        angry_threshold: float = 0.0,
    ) -> None:
        self.frustration_weights, self.frustration_bias = frustration
        self.risk = risk  # flag -> (weights, bias)
        self.thresholds = thresholds
        self.cues = cues
        self.angry_threshold = angry_threshold  # 0: the likeliest level, whatever its probability

    @property
    def dimension(self) -> int:
        return int(self.frustration_weights.shape[0])

    @classmethod
    def fit(
        cls,
        features: Matrix,
        examples: Sequence[AffectExample],
        cues: CueLexicon,
        c: float = 2.0,
        threshold: float = 0.5,
        flag_thresholds: Mapping[str, float] | None = None,
        angry_threshold: float = 0.0,
    ) -> AffectModel:
        from sklearn.linear_model import LogisticRegression  # heavy: only when training

        if len(features) != len(examples) or not len(examples):
            raise AffectDataError(f"{len(features)} feature rows for {len(examples)} examples")
        levels = [FRUSTRATION_LEVELS.index(e.frustration) for e in examples]
        if len(set(levels)) < len(FRUSTRATION_LEVELS):
            raise AffectDataError("the affect data needs examples of calm, annoyed and angry messages")
        head = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=0)
        head.fit(features, levels)
        frustration = (np.asarray(head.coef_.T, np.float32), np.asarray(head.intercept_, np.float32))
        risk = {}
        for flag in RISK_FLAGS:
            y = np.array([flag in e.risk for e in examples])
            if y.sum() < 5:
                raise AffectDataError(f"the affect data needs at least 5 examples flagged {flag}")
            binary = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=0)
            binary.fit(features, y)
            risk[flag] = (np.asarray(binary.coef_[0], np.float32), float(binary.intercept_[0]))
        thresholds = {flag: float((flag_thresholds or {}).get(flag, threshold)) for flag in RISK_FLAGS}
        return cls(frustration, risk, thresholds, cues, angry_threshold)

    def predict(self, features: Matrix, texts: Sequence[str]) -> list[Affect]:
        if features.ndim != 2 or features.shape[1] != self.dimension or len(features) != len(texts):
            raise AffectDataError(f"features of shape {features.shape} for {len(texts)} texts")
        logits = features @ self.frustration_weights + self.frustration_bias
        logits -= logits.max(axis=1, keepdims=True)
        levels = np.exp(logits)
        levels /= levels.sum(axis=1, keepdims=True)
        risk_scores = {
            flag: 1.0 / (1.0 + np.exp(-(features @ weights + bias)))
            for flag, (weights, bias) in self.risk.items()
        }
        results = []
        for row, text in enumerate(texts):
            cues = self.cues.matches(text)
            scores = {level: float(levels[row, i]) for i, level in enumerate(FRUSTRATION_LEVELS)}
            scores.update({flag: float(s[row]) for flag, s in risk_scores.items()})
            risk = tuple(f for f in RISK_FLAGS if f in cues or scores[f] >= self.thresholds[f])
            level = FRUSTRATION_LEVELS[int(np.argmax(levels[row]))]
            if level == "angry" and scores["angry"] < self.angry_threshold:
                # A plurality of 0.4 is not anger: a terse "bought two by mistake" must not count
                # towards offering a person. The likelier of calm and annoyed stands instead.
                level = "calm" if scores["calm"] >= scores["annoyed"] else "annoyed"
            if "angry" in cues:
                level = "angry"
            results.append(Affect(level, risk, scores, tuple(cues.values())))
        return results

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {"frustration_weights": self.frustration_weights, "frustration_bias": self.frustration_bias}
        for flag, (weights, _) in self.risk.items():
            arrays[f"risk_{flag}"] = weights
        np.savez(directory / WEIGHTS_FILE, **arrays)  # type: ignore[arg-type]
        meta = {
            "risk_bias": {flag: bias for flag, (_, bias) in self.risk.items()},
            "thresholds": self.thresholds,
            "angry_threshold": self.angry_threshold,
            "cues": {
                flag: {lang: list(ws) for lang, ws in by.items()} for flag, by in self.cues.words.items()
            },
            "cue_expressions": {
                flag: {lang: list(es) for lang, es in by.items()}
                for flag, by in self.cues.expressions.items()
            },
        }
        (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> AffectModel:
        try:
            meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
            with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as arrays:
                frustration = (arrays["frustration_weights"], arrays["frustration_bias"])
                risk = {flag: (arrays[f"risk_{flag}"], float(meta["risk_bias"][flag])) for flag in RISK_FLAGS}
            cue_words = meta["cues"]
            risk_cues = {f: w for f, w in cue_words.items() if f != "angry"}
            angry = {"angry": cue_words["angry"]} if "angry" in cue_words else {}
            cues = CueLexicon.from_dict(
                {"risk": risk_cues, "frustration": angry, "expressions": meta.get("cue_expressions") or {}},
                str(directory),
            )
            thresholds = {flag: float(meta["thresholds"][flag]) for flag in RISK_FLAGS}
            angry_threshold = float(meta.get("angry_threshold", 0.0))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AffectDataError(f"{directory}: unreadable affect model ({exc})") from None
        return cls(frustration, risk, thresholds, cues, angry_threshold)
