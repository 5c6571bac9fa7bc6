"""The product catalogue (data/catalog/products.yml) as plain frozen data, loaded and validated.

Every text a customer may read comes in English and Chinese. Validation collects every problem in the file
and names the file, the product (its position and id) and the key, so an editor fixes them all at once; a
key the schema does not know is an error too, because a misspelt key would silently hide what it holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("en", "zh")
CURRENCIES = ("USD", "CNY")
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,39}\Z")
REQUIRED = ("id", "category", "name", "summary", "description", "price", "in_stock")
TEXTS = ("name", "summary", "description")
OPTIONAL_TEXTS = ("size_guide", "materials", "care")
LISTS = ("colors", "uses", "audience", "compatibility", "in_the_box", "warnings")
REFERENCES = ("fits", "related")
KNOWN = frozenset({*REQUIRED, *OPTIONAL_TEXTS, *LISTS, *REFERENCES, "variants", "sizes", "specs"})


class CatalogError(ValueError):
    """The catalogue cannot be used; `problems` lists each one with its product and key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{source}: {len(problems)} problem(s) in the catalogue:\n{shown}{more}")


@dataclass(frozen=True)
class Text:
    """One text in both languages."""

    en: str
    zh: str

    def get(self, language: str) -> str:
        return self.zh if language == "zh" else self.en


@dataclass(frozen=True)
class Texts:
    """A list of short texts per language (the two lists need not pair up item by item)."""

    en: tuple[str, ...] = ()
    zh: tuple[str, ...] = ()

    def get(self, language: str) -> tuple[str, ...]:
        return self.zh if language == "zh" else self.en

    def __bool__(self) -> bool:
        return bool(self.en or self.zh)


@dataclass(frozen=True)
class Specs:
    """Named attributes per language, in the file's order (editors keep the two languages in step)."""

    en: tuple[tuple[str, str], ...] = ()
    zh: tuple[tuple[str, str], ...] = ()

    def get(self, language: str) -> tuple[tuple[str, str], ...]:
        return self.zh if language == "zh" else self.en


@dataclass(frozen=True)
class Price:
    usd: float
    cny: float

    def amount(self, currency: str) -> float:
        return self.cny if currency == "CNY" else self.usd


@dataclass(frozen=True)
class Product:
    id: str
    category: str
    name: Text
    summary: Text
    description: Text
    price: Price
    in_stock: bool
    variants: tuple[str, ...] = ()  # order SKUs of its colours and sizes
    sizes: tuple[str, ...] = ()
    size_guide: Text | None = None
    colors: Texts = Texts()
    materials: Text | None = None
    uses: Texts = Texts()
    audience: Texts = Texts()
    compatibility: Texts = Texts()
    in_the_box: Texts = Texts()
    warnings: Texts = Texts()
    care: Text | None = None
    specs: Specs = Specs()
    fits: tuple[str, ...] = ()  # products this accessory fits
    related: tuple[str, ...] = ()

    @property
    def skus(self) -> tuple[str, ...]:
        return (self.id, *self.variants)


@dataclass(frozen=True)
class Catalog:
    products: tuple[Product, ...]
    source: str = ""
    _by_id: dict[str, Product] = field(init=False, repr=False, compare=False)
    _by_sku: dict[str, Product] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {p.id: p for p in self.products})
        object.__setattr__(self, "_by_sku", {sku: p for p in self.products for sku in p.skus})

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products)

    def __len__(self) -> int:
        return len(self.products)

    def get(self, product_id: str) -> Product | None:
        return self._by_id.get(product_id)

    def by_sku(self, sku: str) -> Product | None:
        """The product an order line's SKU belongs to: its id, one of its variants, or failing those the
        longest product id the SKU extends ("SWTR-WOOL-GR-M" is a colour and size of "SWTR-WOOL")."""
        sku = sku.strip().upper()
        found = self._by_sku.get(sku)
        if found is not None:
            return found
        prefixes = [p for p in self.products if sku.startswith(p.id.upper() + "-")]
        return max(prefixes, key=lambda p: len(p.id)) if prefixes else None

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(sorted({p.category for p in self.products}))


def load_catalog(path: Path) -> Catalog:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(str(path), [f"cannot read: {exc}"]) from None
    return parse_catalog(data, str(path))


def parse_catalog(data: Any, source: str = "<catalogue>") -> Catalog:
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise CatalogError(source, ["the file must be a mapping with `version` and `products`"])
    if data.get("version") != 1:
        problems.append(f"version: must be 1, not {data.get('version')!r}")
    raw_products = data.get("products")
    if not isinstance(raw_products, list) or not raw_products:
        raise CatalogError(source, [*problems, "products: must be a non-empty list"])
    products: list[Product] = []
    for position, raw in enumerate(raw_products):
        reader = _ProductReader(position, raw, problems)
        product = reader.read()
        if product is not None:
            products.append(product)
    _check_references(products, problems)
    if problems:
        raise CatalogError(source, problems)
    return Catalog(tuple(products), source)


def _check_references(products: list[Product], problems: list[str]) -> None:
    seen: dict[str, str] = {}  # id or variant SKU -> the product that owns it
    for product in products:
        for sku in product.skus:
            owner = seen.get(sku.upper())
            if owner is not None:
                what = "id" if sku == product.id else f"variant {sku}"
                problems.append(f"{product.id}: {what} is already used by {owner}")
            else:
                seen[sku.upper()] = product.id
    ids = {p.id for p in products}
    for product in products:
        for key in REFERENCES:
            for other in getattr(product, key):
                if other == product.id:
                    problems.append(f"{product.id}: {key}: names the product itself")
                elif other not in ids:
                    problems.append(f"{product.id}: {key}: unknown product id {other!r}")


class _ProductReader:
    """Reads one product, adding a problem (prefixed with its position and id) for each bad key."""

    def __init__(self, position: int, raw: Any, problems: list[str]) -> None:
        self.raw = raw if isinstance(raw, Mapping) else {}
        self.problems = problems
        name = self.raw.get("id")
        self.where = f"products[{position}]" + (f" ({name})" if isinstance(name, str) else "")
        if not isinstance(raw, Mapping):
            self.problem("", "must be a mapping")

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.where}{': ' + key if key else ''}: {message}")

    def read(self) -> Product | None:
        if not self.raw:
            return None
        before = len(self.problems)
        for key in sorted(set(self.raw) - KNOWN, key=str):
            self.problem(str(key), "unknown key")
        for key in REQUIRED:
            if key not in self.raw:
                self.problem(key, "missing")
        product_id = self.raw.get("id")
        if not isinstance(product_id, str) or not ID.match(product_id):
            self.problem("id", "must be letters, digits, '-', '_' or '.' (at most 64)")
        category = self.raw.get("category")
        if "category" in self.raw and (not isinstance(category, str) or not CATEGORY.match(category)):
            self.problem("category", "must be a lowercase code such as `electronics`")
        in_stock = self.raw.get("in_stock")
        if "in_stock" in self.raw and not isinstance(in_stock, bool):
            self.problem("in_stock", "must be true or false")
        texts = {key: self.text(key, required=True) for key in TEXTS}
        optional = {key: self.text(key, required=False) for key in OPTIONAL_TEXTS}
        lists = {key: self.texts(key) for key in LISTS}
        product = Product(
            id=str(product_id),
            category=str(category),
            name=texts["name"] or Text("", ""),
            summary=texts["summary"] or Text("", ""),
            description=texts["description"] or Text("", ""),
            price=self.price(),
            in_stock=bool(in_stock),
            variants=self.variants(),
            sizes=tuple(self.scalars("sizes", self.raw.get("sizes"))),
            size_guide=optional["size_guide"],
            materials=optional["materials"],
            care=optional["care"],
            specs=self.specs(),
            fits=self.ids("fits"),
            related=self.ids("related"),
            **lists,
        )
        return product if len(self.problems) == before else None

    def text(self, key: str, *, required: bool) -> Text | None:
        value = self.raw.get(key)
        if value is None:
            return None  # a missing required key was reported already
        if not isinstance(value, Mapping):
            self.problem(key, "must be a mapping with `en` and `zh` texts")
            return None
        out = {}
        for language in LANGUAGES:
            item = value.get(language)
            if isinstance(item, list) and all(isinstance(i, str) for i in item):
                item = "; ".join(i.strip() for i in item if i.strip())
            if not isinstance(item, str) or not item.strip():
                self.problem(f"{key}.{language}", "must be a non-empty text")
                continue
            out[language] = item.strip()
        self.unknown_languages(key, value)
        return Text(out["en"], out["zh"]) if len(out) == len(LANGUAGES) else None

    def texts(self, key: str) -> Texts:
        value = self.raw.get(key)
        if value is None:
            return Texts()
        if not isinstance(value, Mapping):
            self.problem(key, "must be a mapping with `en` and `zh` lists")
            return Texts()
        lists = {lang: tuple(self.scalars(f"{key}.{lang}", value.get(lang, []))) for lang in LANGUAGES}
        if bool(lists["en"]) != bool(lists["zh"]):
            self.problem(key, "has items in one language only: give both `en` and `zh`")
        self.unknown_languages(key, value)
        return Texts(lists["en"], lists["zh"])

    def scalars(self, key: str, value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            value = [value]  # a single item written without brackets
        if not isinstance(value, list):
            self.problem(key, "must be a list")
            return []
        out = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, str | int | float) or not str(item).strip():
                self.problem(key, f"items must be non-empty texts or numbers, not {item!r}")
            else:
                out.append(str(item).strip())
        return out

    def unknown_languages(self, key: str, value: Mapping[str, Any]) -> None:
        for language in sorted(set(value) - set(LANGUAGES), key=str):
            self.problem(f"{key}.{language}", "unknown language (use `en` and `zh`)")

    def price(self) -> Price:
        value = self.raw.get("price")
        amounts = {}
        if value is not None and not isinstance(value, Mapping):
            self.problem("price", "must be a mapping of USD and CNY amounts")
            value = {}
        for currency in CURRENCIES:
            amount = (value or {}).get(currency)
            if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
                if value is not None:
                    self.problem(f"price.{currency}", "must be a number of at least 0")
                amount = 0.0
            amounts[currency] = float(amount)
        for extra in sorted(set(value or {}) - set(CURRENCIES), key=str):
            self.problem(f"price.{extra}", "unknown currency (use USD and CNY)")
        return Price(amounts["USD"], amounts["CNY"])

    def variants(self) -> tuple[str, ...]:
        value = self.raw.get("variants") or []
        if not isinstance(value, list):
            self.problem("variants", "must be a list of SKUs")
            return ()
        skus = []
        for item in value:
            sku = item.get("sku") if isinstance(item, Mapping) else item
            if not isinstance(sku, str) or not ID.match(sku):
                self.problem("variants", f"{item!r} is not a SKU (or a mapping with `sku`)")
            else:
                skus.append(sku)
        return tuple(skus)

    def specs(self) -> Specs:
        value = self.raw.get("specs")
        if value is None:
            return Specs()
        if not isinstance(value, Mapping):
            self.problem("specs", "must be a mapping with `en` and `zh` mappings")
            return Specs()
        out: dict[str, tuple[tuple[str, str], ...]] = {}
        for language in LANGUAGES:
            table = value.get(language) or {}
            if not isinstance(table, Mapping):
                self.problem(f"specs.{language}", "must be a mapping of attribute: value")
                table = {}
            pairs = []
            for name, item in table.items():
                if not isinstance(name, str) or not name.strip():
                    self.problem(f"specs.{language}", f"attribute name {name!r} must be a text")
                elif (
                    isinstance(item, bool) or not isinstance(item, str | int | float) or not str(item).strip()
                ):
                    self.problem(f"specs.{language}.{name}", "must be a non-empty text or number")
                else:
                    pairs.append((name.strip(), str(item).strip()))
            out[language] = tuple(pairs)
        if bool(out["en"]) != bool(out["zh"]):
            self.problem("specs", "has attributes in one language only: give both `en` and `zh`")
        self.unknown_languages("specs", value)
        return Specs(out["en"], out["zh"])

    def ids(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
            self.problem(key, "must be a list of product ids")
            return ()
        return tuple(value)
