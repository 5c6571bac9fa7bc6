"""`python -m bot.validate`: Rasa's data validation, strict, plus checks Rasa cannot do.

Rasa's `--fail-on-warnings` also fails on responses that only custom actions send, which it cannot
see. This runs the same validation, then fails on every warning except those, and additionally checks
that every response the actions name exists in the domain.
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_PATHS = ["data/nlu", "data/rules", "data/stories"]
UNUSED = re.compile(r"The utterance '(utter_[a-z0-9_]+)' is not used in any story or rule")
# Any string literal naming a response, and f-string prefixes such as f"utter_order_status_{...}".
ACTION_RESPONSE = re.compile(r"""f?["'](utter_[a-z0-9_]+)(\{)?""")


def responses_sent_by_actions(actions_dir: Path) -> set[str]:
    """Response names (or prefixes, for f-strings such as utter_order_status_{status}) used in actions."""
    names: set[str] = set()
    for path in actions_dir.rglob("*.py"):
        for match in ACTION_RESPONSE.finditer(path.read_text(encoding="utf-8")):
            names.add(match.group(1) + ("*" if match.group(2) else ""))
    return names


def sent_by_actions(response: str, names: set[str]) -> bool:
    return response in names or any(n.endswith("*") and response.startswith(n[:-1]) for n in names)


def misaligned_entities(nlu_dir: Path, spacy_model: Path) -> list[str]:
    """Annotated entities whose edges fall inside a token: DIET cannot learn them. Reported as file:line."""
    import spacy
    from rasa.shared.nlu.training_data.entities_parser import parse_training_example

    import bot.components  # noqa: F401 - registers the store vocabulary with jieba, as training does

    nlp = spacy.load(spacy_model)
    problems = []
    for path in sorted(nlu_dir.rglob("*.yml")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            stripped = line.strip()
            if not stripped.startswith("- ") or ("](" not in stripped and "]{" not in stripped):
                continue
            message = parse_training_example(stripped[2:])
            doc = nlp(message.get("text"))
            for entity in message.get("entities") or []:
                if doc.char_span(entity["start"], entity["end"], alignment_mode="strict") is None:
                    tokens = " / ".join(t.text for t in doc)
                    problems.append(
                        f"{path.relative_to(ROOT)}:{number}: entity '{entity['entity']}' does not match "
                        f"token boundaries ({tokens}); add the word to "
                        "data/vocabulary/jieba_userdict.txt or rephrase"
                    )
    return problems


def main() -> int:
    from rasa.cli.utils import validate_files
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.utils.common import EXPECTED_WARNINGS

    importer = TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"), str(ROOT / "bot" / "domain"), [str(ROOT / p) for p in DATA_PATHS]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate_files(fail_on_warnings=False, max_history=None, importer=importer)
    action_responses = responses_sent_by_actions(ROOT / "actions")
    domain = importer.get_domain()
    # Forms ask for each required slot with utter_ask_<slot>, which Rasa's check does not count as used.
    form_questions = {
        f"utter_ask_{slot}" for form in domain.forms.values() for slot in form["required_slots"]
    }
    problems: list[str] = []
    for warning in caught:
        text = str(warning.message)
        unused = UNUSED.search(text)
        if unused and sent_by_actions(unused.group(1), action_responses | form_questions):
            continue
        if any(issubclass(warning.category, cat) and re.match(pat, text) for cat, pat in EXPECTED_WARNINGS):
            continue  # the warnings Rasa itself silences as known noise
        if warning.category is UserWarning:
            problems.append(text.strip())
    domain_responses = set(domain.responses)
    for name in sorted(action_responses):
        if name.endswith("*"):
            if not any(r.startswith(name[:-1]) for r in domain_responses):
                problems.append(f"actions send responses named {name} but the domain has none")
        elif name not in domain_responses:
            problems.append(f"actions send the response '{name}' but the domain does not define it")
    problems += misaligned_entities(ROOT / "data" / "nlu", ROOT / "var" / "spacy" / "zh_jieba")
    for problem in dict.fromkeys(problems):
        print(f"validation: {problem}", file=sys.stderr)
    if problems:
        print(f"validation failed: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("validation passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
