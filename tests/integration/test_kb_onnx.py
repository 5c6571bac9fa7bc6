"""The packaged MiniLM exported to ONNX with int8 weights: close to sentence-transformers' vectors, kept in
the index's models directory, reused, and refused with a clear message when damaged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kb_index.encoder_loading import load_encoder
from kb_index.encoders import EncoderError, describe
from kb_index.onnx_encoder import model_file

pytestmark = [pytest.mark.model, pytest.mark.integration]

SPEC = "onnx-int8:sentence-transformers/all-MiniLM-L6-v2"
TEXTS = [
    "where is my refund",
    "my parcel arrived damaged, the mug inside is broken",
    "Can I change the delivery address after I paid?",
    "how long do I have to send back a jacket",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    target = tmp_path_factory.mktemp("models")
    load_encoder(SPEC, threads=1, model_dir=target)  # exports
    return target


def test_int8_vectors_stay_close_to_the_model_and_keep_its_ranking(model_dir: Path) -> None:
    onnx = load_encoder(SPEC, threads=1, model_dir=model_dir)
    torch_model = load_encoder("sentence-transformers/all-MiniLM-L6-v2", threads=1)
    fast, exact = onnx.encode(TEXTS, query=True), torch_model.encode(TEXTS, query=True)
    assert fast.shape == exact.shape == (4, 384)
    assert onnx.dimension == torch_model.dimension == 384  # what the index allocates for
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(fast * exact, axis=1)
    assert cosines.min() > 0.95, cosines
    # the same nearest neighbour for every text, whichever model embeds the candidates
    assert list(np.argmax(fast @ exact.T, axis=1)) == [0, 1, 2, 3]
    # a text gets the same vector alone as among others (int8 ranges are per input), as passage or query
    alone = np.stack([onnx.encode([t])[0] for t in TEXTS])
    assert np.allclose(onnx.encode(TEXTS), alone, atol=1e-6)
    assert np.allclose(onnx.encode(TEXTS, query=True), alone, atol=1e-6)


def test_the_export_is_reused_and_searching_needs_no_torch(model_dir: Path) -> None:
    path = model_file(model_dir, describe(SPEC))
    before = path.stat().st_mtime_ns
    code = (
        "import sys; from pathlib import Path; from kb_index.encoder_loading import load_encoder; "
        f"e = load_encoder({SPEC!r}, model_dir=Path({str(model_dir)!r})); e.encode(['hi'], query=True); "
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert out.stdout.strip() == "[]"
    assert path.stat().st_mtime_ns == before


def test_a_damaged_model_or_settings_file_is_refused_clearly(model_dir: Path, tmp_path: Path) -> None:
    spec = describe(SPEC)
    source = model_file(model_dir, spec)
    copy = model_file(tmp_path, spec)
    for suffix in (".json", ".tokenizer.json"):
        copy.with_suffix(suffix).write_bytes(source.with_suffix(suffix).read_bytes())
    copy.write_bytes(b"not an onnx model")
    with pytest.raises(EncoderError, match=r"cannot load the ONNX model .* delete it to export again"):
        load_encoder(SPEC, model_dir=tmp_path)
    copy.write_bytes(source.read_bytes())
    settings = json.loads(copy.with_suffix(".json").read_text())
    copy.with_suffix(".json").write_text(json.dumps({**settings, "identity": "something else"}))
    with pytest.raises(EncoderError, match="was exported for something else"):
        load_encoder(SPEC, model_dir=tmp_path)
    del settings["pooling"]
    copy.with_suffix(".json").write_text(json.dumps(settings))
    with pytest.raises(EncoderError, match=r"unreadable .*pooling.* delete .* to export again"):
        load_encoder(SPEC, model_dir=tmp_path)


def test_searching_never_exports_a_missing_model(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match=r"is missing .* run `python -m kb_index build`"):
        load_encoder(SPEC, model_dir=tmp_path, export=False)
    assert not any(tmp_path.iterdir())


def test_export_encoder_writes_a_model_the_nlu_can_run_and_then_reuses_it(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kb_index.cli import main
    from kb_index.onnx_encoder import ExportedModel

    target = tmp_path / "encoders" / "minilm-int8.onnx"
    assert main(["export-encoder", str(target)]) == 0
    exported = ExportedModel(target)
    same = load_encoder(SPEC, threads=1, model_dir=model_dir).encode(TEXTS, query=True)
    np.testing.assert_allclose(exported.encode(TEXTS, query=True), same, atol=1e-6)
    written = target.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["export-encoder", str(target)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert target.stat().st_mtime_ns == written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model.bin"], "must end in .onnx"),
        (["model.onnx", "--encoder", "usem3"], "only onnx-int8: encoders are exported"),
    ],
)
def test_export_encoder_refuses_what_it_cannot_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from kb_index.cli import main

    assert main(["export-encoder", str(tmp_path / args[0]), *args[1:]]) == 1
    assert message in capsys.readouterr().err
