"""Where the index lives, which encoder each language uses, and how search scores and decides a miss.

The retrieval settings live in kb_index/retrieval.yml beside this module, so a threshold change is a reviewed
file change; a build copies them into the manifest, so every version records how it answers.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from kb_index.articles import LANGUAGES
from kb_index.encoders import DEFAULT_EN, DEFAULT_ZH

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KB_DIR = ROOT / "data" / "kb"
DEFAULT_INDEX_DIR = ROOT / "var" / "kb_index"
DEFAULT_EVAL_DIR = ROOT / "data" / "eval"
DEFAULT_CALIBRATION_DIR = ROOT / "data" / "kb_calibration"
RETRIEVAL_FILE = Path(__file__).with_name("retrieval.yml")
MODES = ("dense", "lexical", "hybrid")
ENCODER_ENV = {"en": "KB_EN_MODEL", "zh": "KB_ZH_MODEL"}
DEFAULT_ENCODERS = {"en": DEFAULT_EN, "zh": DEFAULT_ZH}
# Exact search is fast and perfect below this many passages; above it HNSW keeps a query within milliseconds.
HNSW_MIN_PASSAGES = 20_000
HNSW_M = 32
HNSW_EF_SEARCH = 64
HNSW_EF_CONSTRUCTION = 80


class SettingsError(Exception):
    """A setting has a bad value; the message names it."""


@dataclass(frozen=True)
class LanguageRetrieval:
    """How one language is searched and when its best article is answered rather than handed over.

    The answer is accepted when `score + margin_weight * margin` reaches `threshold` (the confidence); the
    margin is how far the best article's support stands above the runner-up's (kb_index/retriever.py). A
    weight of 0 is a plain score threshold, which is also what versions built before the margin existed do.
    """

    mode: str
    lexical_weight: float
    threshold: float
    calibrated_for: str  # the encoder spec the threshold was chosen with
    margin_weight: float = 0.0
    # Below `threshold` but at or above this, the best articles are offered for the customer to pick
    # ("did you mean …?") instead of a handoff; None offers nothing.
    suggest_threshold: float | None = None

    def confidence(self, score: float, margin: float) -> float:
        return score + self.margin_weight * margin

    def accepts(self, score: float, margin: float) -> bool:
        return self.confidence(score, margin) >= self.threshold

    def suggests(self, score: float, margin: float) -> bool:
        """Not answered, but close enough that the best articles are worth offering."""
        if self.suggest_threshold is None:
            return False
        return self.suggest_threshold <= self.confidence(score, margin) < self.threshold

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LanguageRetrieval:
        return cls(
            str(data["mode"]),
            float(data["lexical_weight"]),
            float(data["threshold"]),
            str(data["calibrated_for"]),
            float(data.get("margin_weight", 0.0)),
            None if data.get("suggest_threshold") is None else float(data["suggest_threshold"]),
        )


def index_dir_from_env() -> Path:
    return Path(os.environ.get("KB_INDEX_DIR") or DEFAULT_INDEX_DIR)


def encoder_specs(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Encoder spec per language: an explicit override, then KB_EN_MODEL / KB_ZH_MODEL, then the default."""
    overrides = overrides or {}
    specs = {}
    for language in LANGUAGES:
        specs[language] = (
            overrides.get(language) or os.environ.get(ENCODER_ENV[language]) or DEFAULT_ENCODERS[language]
        )
    return specs


def load_retrieval(path: Path = RETRIEVAL_FILE) -> dict[str, LanguageRetrieval]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"{path}: cannot read retrieval settings: {exc}") from None
    out: dict[str, LanguageRetrieval] = {}
    for language in LANGUAGES:
        section = (data or {}).get(language)
        if not isinstance(section, dict):
            raise SettingsError(f"{path}: missing section '{language}'")
        try:
            settings = LanguageRetrieval.from_json(section)
        except (KeyError, TypeError, ValueError) as exc:
            raise SettingsError(
                f"{path}: section '{language}' needs mode, lexical_weight, threshold: {exc}"
            ) from None
        if settings.mode not in MODES:
            raise SettingsError(
                f"{path}: {language}.mode must be one of {', '.join(MODES)}, not '{settings.mode}'"
            )
        if not 0.0 <= settings.lexical_weight <= 1.0:
            raise SettingsError(f"{path}: {language}.lexical_weight must be between 0 and 1")
        if settings.margin_weight < 0.0:
            raise SettingsError(f"{path}: {language}.margin_weight must not be negative")
        if settings.suggest_threshold is not None and settings.suggest_threshold > settings.threshold:
            raise SettingsError(f"{path}: {language}.suggest_threshold must not be above threshold")
        out[language] = settings
    return out
