"""Version history: list, compare and roll back (a rollback only moves the CURRENT pointer)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kb_index import storage
from kb_index.articles import content_hash
from kb_index.loaded import load_version
from kb_index.manifest import Changes, IndexLoadError, Manifest, read_manifest


@dataclass(frozen=True)
class VersionInfo:
    version: str
    current: bool
    manifest: Manifest | None
    problem: str | None = None


def history(index_dir: Path) -> list[VersionInfo]:
    current = storage.read_current(index_dir)
    out = []
    for version in storage.list_versions(index_dir):
        try:
            manifest: Manifest | None = read_manifest(storage.version_dir(index_dir, version))
            problem = None
        except IndexLoadError as exc:
            manifest, problem = None, str(exc)
        out.append(VersionInfo(version, version == current, manifest, problem))
    return out


def diff(index_dir: Path, a: str, b: str) -> Changes:
    """What changed from version a to version b: articles by content hash, and settings."""
    old = read_manifest(_existing(index_dir, a))
    new = read_manifest(_existing(index_dir, b))
    settings = []
    for lang in sorted(set(old.languages) | set(new.languages)):
        before, after = old.languages.get(lang), new.languages.get(lang)
        if before is None or after is None:
            settings.append(f"{lang} {'added' if before is None else 'removed'}")
            continue
        if before.encoder.identity != after.encoder.identity:
            settings.append(f"{lang} encoder {before.encoder.spec} -> {after.encoder.spec}")
        if before.retrieval != after.retrieval:
            settings.append(f"{lang} retrieval {before.retrieval.to_json()} -> {after.retrieval.to_json()}")
        if before.index_type != after.index_type:
            settings.append(f"{lang} index {before.index_type} -> {after.index_type}")
    if old.chunking != new.chunking:
        settings.append("chunking")
    return Changes(
        added=sorted(set(new.articles) - set(old.articles)),
        changed=sorted(
            k for k, v in new.articles.items() if k in old.articles and old.articles[k].hash != v.hash
        ),
        removed=sorted(set(old.articles) - set(new.articles)),
        settings=settings,
    )


def rollback(index_dir: Path, version: str, before_switch: Callable[[], None] | None = None) -> str | None:
    """Serve `version` (after checking it loads); returns the version served before. `before_switch` runs
    once the version is known to load and before the pointer moves (the studio restores the article files
    there, so a damaged version changes nothing)."""
    _existing(index_dir, version)
    load_version(index_dir, version)  # refuse a damaged version before switching to it
    previous = storage.read_current(index_dir)
    if before_switch is not None:
        before_switch()
    storage.write_current(index_dir, version)
    return previous


@dataclass(frozen=True)
class ArticleSource:
    language: str
    text: str


def article_sources(index_dir: Path, version: str) -> dict[str, ArticleSource] | None:
    """The text of every article file `version` was built from, by article id; None for versions built
    before the sources were kept. Each text is checked against the manifest's hash of its article."""
    directory = _existing(index_dir, version)
    manifest = read_manifest(directory)
    path = directory / storage.SOURCES
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexLoadError(f"{path}: not valid JSON ({exc})") from None
    try:
        sources = {
            article_id: ArticleSource(str(entry["language"]), str(entry["text"]))
            for article_id, entry in data["articles"].items()
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise IndexLoadError(f"{path}: malformed ({exc!r})") from None
    expected = {article_id: entry.hash for article_id, entry in manifest.articles.items()}
    found = {article_id: content_hash(s.text.encode("utf-8")) for article_id, s in sources.items()}
    if found != expected:
        raise IndexLoadError(
            f"{path}: the article texts do not match the manifest (corrupt or replaced file)"
        )
    return sources


def _existing(index_dir: Path, version: str) -> Path:
    directory = storage.version_dir(index_dir, version)
    if not directory.is_dir():
        known = ", ".join(storage.list_versions(index_dir)) or "none"
        raise IndexLoadError(f"no version {version} in {index_dir} (versions: {known})")
    return directory
