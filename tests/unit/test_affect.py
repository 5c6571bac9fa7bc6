"""Frustration and risk beside the intent: the model's heads, its cue words, and the escalation rule."""

from pathlib import Path

import numpy as np
import pytest

from bot.affect_model import AffectDataError, AffectExample, AffectModel, CueLexicon, read_examples
from bot.escalation import (
    HANDOFF_ACTION,
    OFFER_ACTION,
    EscalationSettings,
    EscalationSettingsError,
    Step,
    next_action,
)
from common.affect import ordered_flags, risk_flags

CUES = CueLexicon.from_dict(
    {
        "risk": {"injury": {"en": ["electric shock", "rash"], "zh": ["触电"]}, "legal": {"en": ["sue"]}},
        "frustration": {"angry": {"en": ["unacceptable"], "zh": ["太离谱"]}},
    }
)


def _examples() -> tuple[np.ndarray, list[AffectExample]]:
    """Separable toy vectors: axis 0 = anger, 1 = annoyance, 2..6 = one per risk flag."""
    rng = np.random.default_rng(0)
    rows, examples = [], []
    flags = ["injury", "fraud", "legal", "counterfeit", "repeat_contact"]
    for i in range(120):
        vector = rng.normal(0, 0.05, 8)
        level = ("calm", "annoyed", "angry")[i % 3]
        if level != "calm":
            vector[0 if level == "angry" else 1] += 1
        risk: tuple[str, ...] = ()
        if i % 4 == 0:
            flag = flags[(i // 4) % 5]
            vector[2 + flags.index(flag)] += 1
            risk = (flag,)
        rows.append(vector)
        examples.append(AffectExample(f"message {i}", level, risk))
    return np.asarray(rows, np.float32), examples


def test_heads_learn_frustration_and_flags_and_survive_a_save(tmp_path: Path) -> None:
    features, examples = _examples()
    model = AffectModel.fit(features, examples, CUES)
    injured = np.zeros((1, 8), np.float32)
    injured[0, 0], injured[0, 2] = 1.0, 1.0
    calm = np.zeros((1, 8), np.float32)
    before = model.predict(np.vstack([injured, calm]), ["x", "y"])
    assert (before[0].frustration, before[0].risk) == ("angry", ("injury",))
    assert (before[1].frustration, before[1].risk) == ("calm", ())
    model.save(tmp_path)
    loaded = AffectModel.load(tmp_path)
    after = loaded.predict(np.vstack([injured, calm]), ["x", "y"])
    assert [a.as_dict() for a in after] == [b.as_dict() for b in before]


def test_per_flag_and_anger_thresholds_raise_the_bar_and_survive_a_save(tmp_path: Path) -> None:
    features, examples = _examples()
    plain = AffectModel.fit(features, examples, CUES)
    strict = AffectModel.fit(
        features, examples, CUES, flag_thresholds={"repeat_contact": 0.999}, angry_threshold=0.99
    )
    chasing = np.zeros((1, 8), np.float32)
    chasing[0, 6] = 1.0  # a repeat-contact signal that passes 0.5, not 0.999
    assert plain.predict(chasing, ["x"])[0].risk == ("repeat_contact",)
    assert strict.predict(chasing, ["x"])[0].risk == ()
    hot = np.zeros((1, 8), np.float32)
    hot[0, 0] = 0.7  # angry is the likeliest level, short of 0.99
    assert plain.predict(hot, ["x"])[0].frustration == "angry"
    assert strict.predict(hot, ["x"])[0].frustration in ("calm", "annoyed")
    assert strict.predict(hot, ["this is unacceptable"])[0].frustration == "angry"  # a cue still counts
    strict.save(tmp_path)
    loaded = AffectModel.load(tmp_path)
    assert (loaded.thresholds["repeat_contact"], loaded.angry_threshold) == (0.999, 0.99)


def test_a_cue_sets_its_flag_whatever_the_heads_say() -> None:
    features, examples = _examples()
    model = AffectModel.fit(features, examples, CUES)
    neutral = np.zeros((3, 8), np.float32)
    said = ["The kettle gave me an ELECTRIC SHOCK", "水壶漏电，我触电了", "this is unacceptable"]
    shock, chinese, angry = model.predict(neutral, said)
    assert shock.risk == ("injury",) and shock.cues == ("electric shock",)
    assert chinese.risk == ("injury",)
    assert angry.frustration == "angry" and angry.risk == ()


def test_english_cues_match_whole_words_only() -> None:
    assert CUES.matches("I will sue you") == {"legal": "sue"}
    assert CUES.matches("is it suede or leather?") == {}  # "sue" inside a word
    assert CUES.matches("a rash on my arm") == {"injury": "rash"}


def test_cue_expressions_set_their_flag_and_survive_a_save(tmp_path: Path) -> None:
    cues = CueLexicon.from_dict(
        {
            "risk": {"legal": {"en": ["sue"]}},
            "expressions": {
                "repeat_contact": {"en": [r"\basked (?:you )?(?:twice|\d+ times)\b"], "zh": ["问了[两三]次"]}
            },
        }
    )
    assert cues.matches("I asked you twice already") == {"repeat_contact": "asked you twice"}
    assert cues.matches("这个问题问了三次了") == {"repeat_contact": "问了三次"}
    assert cues.matches("I asked my husband twice") == {}
    features, examples = _examples()
    AffectModel.fit(features, examples, cues).save(tmp_path)
    [loaded] = AffectModel.load(tmp_path).predict(np.zeros((1, 8), np.float32), ["asked 3 times now"])
    assert "repeat_contact" in loaded.risk and loaded.cues == ("asked 3 times",)
    with pytest.raises(AffectDataError, match=r"cues.yml: expressions: fraud.en #1 is not a regular"):
        CueLexicon.from_dict({"expressions": {"fraud": {"en": ["(unclosed"]}}}, "cues.yml")


def test_training_data_errors_name_the_file_and_message(tmp_path: Path) -> None:
    path = tmp_path / "en.yml"
    path.write_text(
        "version: 1\nmessages:\n  - text: hi\n  - text: ouch\n    risk: [burns]\n", encoding="utf-8"
    )
    with pytest.raises(AffectDataError, match=r"en.yml: message 2: unknown risk flags \['burns'\]"):
        read_examples(path)
    path.write_text("version: 1\nmessages:\n  - text: hi\n    frustration: furious\n", encoding="utf-8")
    with pytest.raises(AffectDataError, match="message 1: frustration 'furious'"):
        read_examples(path)
    with pytest.raises(AffectDataError, match="unknown flag 'rage'"):
        CueLexicon.from_dict({"frustration": {"rage": {"en": ["x"]}}})


def _user(frustration: str = "calm", risk: list[str] | None = None) -> Step:
    return Step(affect={"frustration": frustration, "risk": risk or []})


def test_a_risk_flag_hands_off_at_once_unless_configured_out() -> None:
    settings = EscalationSettings()
    assert next_action([_user(risk=["injury"])], settings) == HANDOFF_ACTION
    assert next_action([_user(risk=["injury"]), Step(action="action_handoff")], settings) == "action_listen"
    assert next_action([_user(), Step(action="action_handoff")], settings) is None  # not ours: rules decide
    only_injury = EscalationSettings.from_config({"risk_flags": ["injury"]})
    assert next_action([_user(risk=["repeat_contact"])], only_injury) is None
    assert next_action([Step(affect=None)], settings) is None  # a button payload carries no affect


def test_lasting_anger_is_offered_a_person_once_per_run() -> None:
    settings = EscalationSettings()
    angry = _user("angry")
    assert next_action([angry], settings) is None  # one angry turn: the assistant keeps helping
    assert next_action([angry, Step(action="utter_x"), angry], settings) == OFFER_ACTION
    assert next_action([angry, _user("calm"), angry], settings) is None  # not in a row
    assert next_action([angry, angry, Step(action=OFFER_ACTION)], settings) == "action_listen"
    offered = [angry, angry, Step(action=OFFER_ACTION), _user("angry")]
    assert next_action(offered, settings) is None
    annoyed_counts = EscalationSettings.from_config({"high_frustration": ["annoyed", "angry"]})
    assert next_action([_user("annoyed"), angry], annoyed_counts) == OFFER_ACTION
    # An angry "get me a person" is handed off by its rule, not offered what it asked for.
    asks = Step(affect={"frustration": "angry", "risk": []}, intent="request_human")
    assert next_action([angry, Step(action="utter_x"), asks], settings) is None


@pytest.mark.parametrize(
    "config",
    [
        {"risk_flags": ["burns"]},
        {"high_frustration": ["calm"]},
        {"frustrated_turns": 0},
        {"frustrated_turns": True},
    ],
)
def test_bad_settings_are_refused_by_name(config: dict) -> None:
    with pytest.raises(EscalationSettingsError, match=next(iter(config))):
        EscalationSettings.from_config(config)


def test_the_most_serious_flag_decides_the_reason() -> None:
    assert ordered_flags(["repeat_contact", "legal", "injury"])[0] == "injury"
    assert risk_flags({"risk": ["counterfeit", "bogus", "fraud"]}) == ["fraud", "counterfeit"]
    assert risk_flags({"risk": "injury"}) == [] and risk_flags(None) == []
