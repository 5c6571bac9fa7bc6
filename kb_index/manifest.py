"""The JSON manifest beside each index version: what was built, with what, and the hash of every file.

Loading checks it before trusting anything else in the directory, so a truncated file, a file copied from
another build or an index built with another model is refused with a message instead of answering wrongly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kb_index.settings import LanguageRetrieval
from kb_index.storage import file_sha256

FORMAT = 1
MANIFEST = "manifest.json"
METRIC = "inner_product"


class IndexLoadError(Exception):
    """An index version is missing, corrupt or does not match its manifest or the configured encoders."""


@dataclass(frozen=True)
class EncoderEntry:
    spec: str
    model: str
    path: str | None
    identity: str
    dimension: int


@dataclass(frozen=True)
class LanguageEntry:
    encoder: EncoderEntry
    index_type: str  # "flat" | "hnsw"
    passages: int
    retrieval: LanguageRetrieval
    hnsw: dict[str, int] | None = None


@dataclass(frozen=True)
class ArticleEntry:
    hash: str
    language: str
    path: str
    passages: int


@dataclass(frozen=True)
class Changes:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed", f"{len(self.removed)} removed"]
        if self.settings:
            parts.append("settings changed: " + ", ".join(self.settings))
        return ", ".join(parts)


@dataclass(frozen=True)
class Manifest:
    version: str
    parent: str | None
    built_at: str
    fingerprint: str
    libraries: dict[str, str]
    chunking: dict[str, Any]
    languages: dict[str, LanguageEntry]
    articles: dict[str, ArticleEntry]
    changes: Changes
    files: dict[str, str]
    format: int = FORMAT
    metric: str = METRIC

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        languages = {
            lang: LanguageEntry(
                encoder=EncoderEntry(**entry["encoder"]),
                index_type=entry["index_type"],
                passages=int(entry["passages"]),
                retrieval=LanguageRetrieval.from_json(entry["retrieval"]),
                hnsw=entry.get("hnsw"),
            )
            for lang, entry in data["languages"].items()
        }
        return cls(
            version=data["version"],
            parent=data.get("parent"),
            built_at=data["built_at"],
            fingerprint=data["fingerprint"],
            libraries=dict(data["libraries"]),
            chunking=dict(data["chunking"]),
            languages=languages,
            articles={k: ArticleEntry(**v) for k, v in data["articles"].items()},
            changes=Changes(**data["changes"]),
            files=dict(data["files"]),
            format=int(data["format"]),
            metric=data["metric"],
        )


def read_manifest(directory: Path) -> Manifest:
    """The manifest of a version directory, or IndexLoadError saying what is wrong with it."""
    path = directory / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexLoadError(f"{path}: missing manifest") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexLoadError(f"{path}: manifest is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise IndexLoadError(
            f"{path}: manifest format {found!r}, this code reads format {FORMAT}: rebuild the index"
        )
    try:
        manifest = Manifest.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexLoadError(f"{path}: manifest is incomplete or malformed ({exc!r})") from None
    if manifest.metric != METRIC:
        raise IndexLoadError(f"{path}: metric '{manifest.metric}' is not supported (expected {METRIC})")
    if manifest.version != directory.name:
        raise IndexLoadError(
            f"{path}: manifest says version {manifest.version} but the directory is {directory.name}"
        )
    return manifest


def verify_files(directory: Path, manifest: Manifest) -> None:
    """Every file the manifest lists exists and has the recorded SHA-256."""
    for name, expected in sorted(manifest.files.items()):
        path = directory / name
        if not path.is_file():
            raise IndexLoadError(f"{path}: missing file listed in the manifest")
        if file_sha256(path) != expected:
            raise IndexLoadError(
                f"{path}: content hash does not match the manifest (corrupt or replaced file)"
            )
