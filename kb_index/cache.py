"""Passage embeddings kept between builds, keyed by a hash of the encoder identity and the passage text.

An edit re-embeds only the passages whose text changed; a model change misses the cache entirely because the
identity is part of the key. The file is plain .npz (no pickle) and may be deleted at any time.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import numpy as np

from kb_index.encoders import Matrix
from kb_index.storage import CACHE, atomic_write_bytes


def passage_key(identity: str, text: str) -> str:
    return hashlib.sha256(f"{identity}\n{text}".encode()).hexdigest()


class EmbeddingCache:
    def __init__(self, index_dir: Path, identity: str) -> None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", identity)[-48:]
        digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
        self.path = index_dir / CACHE / f"{slug}-{digest}.npz"
        self._rows: dict[str, Matrix] = {}
        self._dirty = False
        if self.path.is_file():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    keys, vectors = data["keys"], data["vectors"].astype(np.float32)
                self._rows = {k.decode("ascii"): vectors[i] for i, k in enumerate(keys)}
            except (OSError, ValueError, KeyError):
                self._rows = {}  # an unreadable cache only costs time: start a new one

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: str) -> Matrix | None:
        return self._rows.get(key)

    def put(self, keys: list[str], vectors: Matrix) -> None:
        for key, row in zip(keys, vectors, strict=True):
            self._rows[key] = row
        self._dirty = self._dirty or bool(keys)

    def save(self) -> None:
        if not self._dirty:
            return
        keys = np.array([k.encode("ascii") for k in self._rows], dtype="S64")
        vectors = np.stack(list(self._rows.values())).astype(np.float32)
        buffer = io.BytesIO()
        np.savez(buffer, keys=keys, vectors=vectors)
        atomic_write_bytes(self.path, buffer.getvalue())
        self._dirty = False
