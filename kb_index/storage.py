"""On-disk layout of the index directory, atomic writes and the "current version" pointer.

    <index_dir>/CURRENT            the version being served, e.g. "v3" (switched by an atomic rename)
    <index_dir>/versions/v3/       manifest.json, articles.json, <lang>.faiss, <lang>.passages.json,
                                   sources.json (the article files' text, for text diffs and restoring them)
    <index_dir>/cache/             passage embeddings by model and text hash, reused by later builds

A version directory is written under a temporary name and renamed into place when complete, so a reader
never sees half a version, and a crashed build leaves nothing that looks like one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from common import atomic_files

CURRENT = "CURRENT"
VERSIONS = "versions"
MODELS = "models"  # encoders exported for this index (ONNX), shared by all its versions
CACHE = "cache"
LOCK = ".build.lock"
# The text of every article file a version was built from, checked against the manifest's article hashes
# when read (not listed in the manifest's files: versions from before it existed stay intact).
SOURCES = "sources.json"
_VERSION = re.compile(r"^v([1-9][0-9]*)$")


class StorageError(Exception):
    """The index directory is not in the expected shape."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_files.replace_file(path, data)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(
        path, (json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def version_number(version: str) -> int:
    match = _VERSION.match(version)
    if not match:
        raise StorageError(f"'{version}' is not a version name (v1, v2, ...)")
    return int(match.group(1))


def models_dir(index_dir: Path) -> Path:
    return index_dir / MODELS


def versions_dir(index_dir: Path) -> Path:
    return index_dir / VERSIONS


def version_dir(index_dir: Path, version: str) -> Path:
    version_number(version)
    return versions_dir(index_dir) / version


def list_versions(index_dir: Path) -> list[str]:
    """Complete versions, oldest first (temporary directories of running builds are skipped)."""
    root = versions_dir(index_dir)
    if not root.is_dir():
        return []
    names = [p.name for p in root.iterdir() if p.is_dir() and _VERSION.match(p.name)]
    return sorted(names, key=version_number)


def next_version(index_dir: Path) -> str:
    existing = list_versions(index_dir)
    return f"v{version_number(existing[-1]) + 1 if existing else 1}"


def read_current(index_dir: Path) -> str | None:
    try:
        text = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def write_current(index_dir: Path, version: str) -> None:
    if not version_dir(index_dir, version).is_dir():
        raise StorageError(f"version {version} does not exist in {index_dir}")
    atomic_write_bytes(index_dir / CURRENT, f"{version}\n".encode())


def staging_dir(index_dir: Path) -> Path:
    root = versions_dir(index_dir)
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=root))


def publish(staging: Path, index_dir: Path, version: str) -> Path:
    """Move a complete staging directory to its version name (a rename, so readers see all or nothing)."""
    target = version_dir(index_dir, version)
    if target.exists():
        raise StorageError(f"version {version} already exists")
    os.replace(staging, target)
    return target


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def build_lock(index_dir: Path) -> contextlib.AbstractContextManager[None]:
    """One build at a time per index directory; a second waits for the first instead of racing it."""
    return atomic_files.exclusive_lock(index_dir / LOCK)
