"""The store's own Chinese vocabulary (products, policies) for jieba, which spaCy's zh tokenizer uses."""

from __future__ import annotations

from pathlib import Path

USER_DICT = Path(__file__).resolve().parents[1] / "data" / "vocabulary" / "jieba_userdict.txt"
_loaded = False


def load_store_vocabulary() -> None:
    global _loaded
    if _loaded:
        return
    import jieba

    jieba.load_userdict(str(USER_DICT))
    _loaded = True
