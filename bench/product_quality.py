"""Product questions and recommendations measured on the real catalogue with the real encoders.

Reads data/eval/products_{en,zh}.yml (or the files given), each `questions: [{text, product_id, attribute,
expected}]`: a question names the product and the attribute it asks about (a spec's name, or one of
in_the_box, compatibility, warnings, materials, care, colors, sizes, price, stock); a recommendation has
`attribute: null` and `expected: [product ids]`, any of which is a right pick. Reported per language:

- recommendations: top-3 hit rate (a right product among the picks, or the option offered when nothing
  fits the budget), and the same for relevance alone (no budget, category or stock filter);
- questions: the product in the top 1 / top 3 (named, then by meaning), the attribute in the top 1 / top 3
  for the right product, and what the assistant would do: answer right, answer wrong, or hand over.

The encoders are the knowledge base's (its current index under KB_INDEX_DIR, default var/kb_index: run
`make index` first), so the figures are what the action server does.

    PYTHONPATH=. .venv/bin/python bench/product_quality.py [--eval-dir DIR | --eval FILE ...]
        [--catalog PATH] [--json out.json] [--verbose]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kb_index.products.catalog import Catalog, load_catalog
from kb_index.products.search import ProductSearch, product_attributes
from kb_index.settings import DEFAULT_EVAL_DIR, ROOT

DEFAULT_CATALOG = ROOT / "data" / "catalog" / "products.yml"
# Other names an evaluation file may give an attribute.
ATTRIBUTE_ALIASES = {
    "size": "sizes", "size guide": "sizes", "sizing": "sizes", "in stock": "stock",
    "availability": "stock", "colour": "colors", "colours": "colors", "color": "colors",
    "material": "materials", "warning": "warnings", "box": "in_the_box", "in the box": "in_the_box",
    "included": "in_the_box", "compatible": "compatibility",
}  # fmt: skip


@dataclass
class Question:
    text: str
    product_id: str | None
    attribute: str | None
    expected: list[str]

    @property
    def is_recommendation(self) -> bool:
        return self.attribute is None


@dataclass
class LanguageReport:
    language: str
    recommendations: int = 0
    recommended_hits: int = 0
    relevance_hits: int = 0
    questions: int = 0
    product_top1: int = 0
    product_top3: int = 0
    attribute_top1: int = 0
    attribute_top3: int = 0
    answered_right: int = 0
    answered_wrong: int = 0
    handed_over: int = 0
    misses: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def rate(hits: int, total: int) -> float | None:
            return round(hits / total, 3) if total else None

        return {
            "language": self.language,
            "recommendations": self.recommendations,
            "recommendation_top3": rate(self.recommended_hits, self.recommendations),
            "relevance_top3": rate(self.relevance_hits, self.recommendations),
            "questions": self.questions,
            "product_top1": rate(self.product_top1, self.questions),
            "product_top3": rate(self.product_top3, self.questions),
            "attribute_top1": rate(self.attribute_top1, self.questions),
            "attribute_top3": rate(self.attribute_top3, self.questions),
            "answered_right": rate(self.answered_right, self.questions),
            "answered_wrong": rate(self.answered_wrong, self.questions),
            "handed_over": rate(self.handed_over, self.questions),
        }


def load_questions(path: Path) -> list[Question]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for i, raw in enumerate(data.get("questions") or []):
        if not isinstance(raw, dict) or not str(raw.get("text") or "").strip():
            raise SystemExit(f"{path}: questions[{i}] needs a text")
        attribute = raw.get("attribute")
        product = raw.get("product_id")
        expected = [str(x) for x in raw.get("expected") or []]
        if attribute is None and not expected and product:
            expected = [str(product)]
        out.append(
            Question(
                str(raw["text"]),
                str(product) if product else None,
                str(attribute) if attribute else None,
                expected,
            )
        )
    return out


def normal_attribute(name: str) -> str:
    """ "specs.battery_life", "Battery life" and "battery life" are one name; "colours" is colors."""
    name = re.sub(r"^specs?[.:]", "", name.strip().lower())
    name = re.sub(r"[\s_-]+", " ", name).strip()
    return ATTRIBUTE_ALIASES.get(name, name).replace("_", " ")


def attribute_names(catalog: Catalog, product_id: str, key: str, language: str) -> set[str]:
    """Every name the attribute `key` of the product goes by: its key and its spec's names."""
    names = {normal_attribute(key)}
    product = catalog.get(product_id)
    if product is not None:
        for attribute in product_attributes(product, language, "USD"):
            if attribute.key == key:
                names |= {normal_attribute(a) for a in attribute.aliases}
    return names


#: The eval's label for "any technical or physical detail": every spec of the product answers it.
ANY_SPEC = "spec"


def same_attribute(catalog: Catalog, question: Question, key: str, language: str) -> bool:
    if question.product_id is None or question.attribute is None:
        return False
    if question.attribute.strip().lower() == ANY_SPEC:
        return key.startswith("specs:")
    return normal_attribute(question.attribute) in attribute_names(
        catalog, question.product_id, key, language
    )


async def evaluate(search: ProductSearch, language: str, questions: list[Question]) -> LanguageReport:
    report = LanguageReport(language)
    catalog = search.catalog
    for question in questions:
        if question.is_recommendation:
            report.recommendations += 1
            recommendation = await search.recommend(question.text, language)
            shown = [p.product.id for p in recommendation.picks]
            if recommendation.closest is not None:
                shown.append(recommendation.closest.product.id)
            ranked = [p.product.id for p in (await search.rank_products(question.text, language))[:3]]
            hit = any(i in question.expected for i in shown[:3])
            report.recommended_hits += hit
            report.relevance_hits += any(i in question.expected for i in ranked)
            if not hit:
                report.misses.append(f"recommend  {question.text!r}: {shown} (relevance {ranked})")
            continue
        report.questions += 1
        identified = await search.identify(question.text, language)
        ranking = [identified.product] if identified.product else list(identified.candidates)
        ranking += [p.product for p in await search.rank_products(question.text, language)]
        ids = list(dict.fromkeys(p.id for p in ranking if p is not None))
        report.product_top1 += ids[:1] == [question.product_id]
        report.product_top3 += question.product_id in ids[:3]
        product = catalog.get(question.product_id or "")
        keys: list[str] = []
        if product is not None:
            keys = await search.rank_attributes(product, question.text, language)
        matches = [same_attribute(catalog, question, k, language) for k in keys]
        report.attribute_top1 += any(matches[:1])
        report.attribute_top3 += any(matches[:3])
        outcome = "handed over"
        if identified.product is not None:
            answer = await search.answer(identified.product, question.text, language, "USD")
            if answer.attribute is not None:
                right = identified.product.id == question.product_id and same_attribute(
                    catalog, question, answer.attribute.key, language
                )
                outcome = "right" if right else "wrong"
                detail = f"{identified.product.id}/{answer.attribute.key} ({identified.how}, {answer.how})"
            else:
                detail = f"{identified.product.id}/- ({identified.how}, {answer.how} {answer.score:.2f})"
        else:
            detail = f"no product ({identified.how}: {[p.id for p in identified.candidates]})"
        report.answered_right += outcome == "right"
        report.answered_wrong += outcome == "wrong"
        report.handed_over += outcome == "handed over"
        if outcome != "right":
            report.misses.append(
                f"question   {question.text!r}: {outcome}: {detail}; "
                f"expected {question.product_id}/{question.attribute}; attributes {keys[:3]}"
            )
    return report


def eval_files(args: argparse.Namespace) -> list[tuple[str, Path]]:
    if args.eval:
        files = []
        for path in args.eval:
            match = re.search(r"_(en|zh)\.ya?ml$", path.name)
            if match is None:
                raise SystemExit(f"{path}: the name must end in _en.yml or _zh.yml")
            files.append((match.group(1), path))
        return files
    return [
        (language, args.eval_dir / f"products_{language}.yml")
        for language in ("en", "zh")
        if (args.eval_dir / f"products_{language}.yml").exists()
    ]


async def run(args: argparse.Namespace) -> list[LanguageReport]:
    from kb_index.service import KnowledgeBase

    catalog = load_catalog(args.catalog)
    kb = KnowledgeBase.from_env()
    search = ProductSearch(catalog, kb.embed, space=kb.version)
    reports = []
    for language, path in eval_files(args):
        reports.append(await evaluate(search, language, load_questions(path)))
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR, help="holds products_{en,zh}.yml")
    parser.add_argument("--eval", type=Path, nargs="+", help="evaluation files (named *_en.yml / *_zh.yml)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--verbose", action="store_true", help="list every miss")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the models load from packages only
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not eval_files(args):
        sys.exit(f"no evaluation files: expected products_en.yml / products_zh.yml in {args.eval_dir}")
    reports = asyncio.run(run(args))
    for report in reports:
        data = report.to_json()
        print(
            f"{report.language}: recommendations {data['recommendations']}: top-3 hit "
            f"{data['recommendation_top3']} (relevance alone {data['relevance_top3']}); "
            f"questions {data['questions']}: product top-1 {data['product_top1']} "
            f"top-3 {data['product_top3']}, "
            f"attribute top-1 {data['attribute_top1']} top-3 {data['attribute_top3']}; answered right "
            f"{data['answered_right']}, wrong {data['answered_wrong']}, handed over {data['handed_over']}"
        )
        if args.verbose:
            for miss in report.misses:
                print(f"  {miss}")
    if args.json:
        payload = {"languages": [r.to_json() for r in reports]}
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
