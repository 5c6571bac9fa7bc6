"""Builds the blank spaCy pipeline the assistant tokenises with: Chinese with the jieba segmenter.

No packaged pretrained spaCy model matches the spaCy version Rasa 3.6 needs, and pkuseg downloads at run
time, so a blank `zh` pipeline with jieba is saved to disk once. jieba splits mixed text sensibly
(我的order怎么还没到 → 我 / 的 / order / 怎么 / 还 / 没到), so one tokenizer serves both languages.

Usage: python -m bot.spacy_model OUTPUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path


def build(output: Path) -> None:
    import spacy

    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    nlp.meta["name"] = "zh_jieba_blank"
    nlp.meta["description"] = "Blank Chinese pipeline, jieba word segmentation, no vectors"
    output.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bot.spacy_model OUTPUT_DIR")
    build(Path(sys.argv[1]))
    print(f"spaCy pipeline written to {sys.argv[1]}")
