"""The affect training data: enough of every label, and no cue firing on a message without its flag."""

from collections import Counter
from pathlib import Path

from bot.affect_model import CueLexicon, read_examples
from common.affect import RISK_FLAGS

DATA = Path(__file__).resolve().parents[2] / "data" / "affect"


def test_every_label_has_enough_examples_and_no_cue_misfires() -> None:
    cues = CueLexicon.from_file(DATA / "cues.yml")
    for language in ("en", "zh"):
        examples = read_examples(DATA / f"{language}.yml")
        assert len(examples) >= 700
        flags = Counter(flag for e in examples for flag in e.risk)
        assert all(flags[flag] >= 25 for flag in RISK_FLAGS), flags
        for e in examples:
            for flag, cue in cues.matches(e.text).items():
                carried = e.frustration == "angry" if flag == "angry" else flag in e.risk
                assert carried, f"{language}: cue {cue!r} ({flag}) in {e.text!r}"


def test_repeat_contact_is_told_by_the_customer_not_by_lateness() -> None:
    cues = CueLexicon.from_file(DATA / "cues.yml")
    for said in ("third time asking where my order is", "第四次问了！退款呢", "联系了好几次都没人管"):
        assert "repeat_contact" in cues.matches(said), said
    for said in ("my lamp was meant to arrive a few days ago, any news?", "说好周一到的，今天都周四了"):
        assert "repeat_contact" not in cues.matches(said), said
