"""FAISS indexes for normalised vectors: exact inner product while small, HNSW once that is too slow.

faiss is imported inside the functions so that importing kb_index (and the up-to-date check of `build`)
stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kb_index.encoders import Matrix
from kb_index.settings import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, HNSW_MIN_PASSAGES
from kb_index.storage import atomic_write_bytes

INDEX_TYPES = ("auto", "flat", "hnsw")


def choose_index_type(passages: int, requested: str = "auto") -> str:
    if requested not in INDEX_TYPES:
        raise ValueError(f"index type must be one of {', '.join(INDEX_TYPES)}")
    if requested != "auto":
        return requested
    return "hnsw" if passages >= HNSW_MIN_PASSAGES else "flat"


def hnsw_parameters() -> dict[str, int]:
    return {"M": HNSW_M, "ef_search": HNSW_EF_SEARCH, "ef_construction": HNSW_EF_CONSTRUCTION}


def build_index(vectors: Matrix, index_type: str) -> Any:
    import faiss

    dimension = int(vectors.shape[1])
    index: Any
    if index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(dimension)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def write_index(index: Any, path: Path) -> None:
    import faiss

    atomic_write_bytes(path, faiss.serialize_index(index).tobytes())


def read_index(path: Path) -> Any:
    import faiss

    index = faiss.deserialize_index(np.fromfile(path, dtype=np.uint8))
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def set_single_thread() -> None:
    """One OpenMP thread: on two shared cores, more threads make single queries several times slower."""
    import faiss

    faiss.omp_set_num_threads(1)
