"""Reading the YAML files editors maintain, with errors that name the file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def read_mapping(path: Path, error: type[Exception], expected: str = "a mapping") -> Mapping[str, Any]:
    """The file's top-level mapping. An unreadable file, bad YAML or another shape raises `error` with the
    path in its message (`expected` says what the file should hold)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"{path}: {exc}") from None
    if not isinstance(raw, Mapping):
        raise error(f"{path}: expected {expected}")
    return raw
