"""The studio's activation gates, shared by the trainer (bot/studio_train.py, in the Rasa environment),
which writes them into its report, and the hub (handoff/studio/models.py), which applies them again at
activation with the current settings and live model. Standard library only: both environments import it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TOLERANCE = 1e-9  # float noise in a difference of accuracies never fails a gate


def check_gates(
    candidate: Mapping[str, Mapping[str, Any]],
    live: Mapping[str, Mapping[str, Any]] | None,
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """The activation gates, per language: overall accuracy may drop by at most `max_overall_drop_points`
    and no intent's accuracy by more than `max_intent_drop_points`, among intents with at least
    `min_intent_messages` held-out messages (one message of three is 33 points: those count in the overall
    gate only). Without a live evaluation of a language there is nothing to compare with: its gates are
    skipped (passed)."""
    overall_limit = float(settings.get("max_overall_drop_points", 0.0))
    intent_limit = float(settings.get("max_intent_drop_points", 10.0))
    min_messages = int(settings.get("min_intent_messages", 0))
    checks: list[dict[str, Any]] = []
    for lang in sorted(candidate):
        cand, base = candidate[lang], (live or {}).get(lang)
        if base is None:
            for gate, limit in (("overall_accuracy", overall_limit), ("intent_accuracy", intent_limit)):
                checks.append(
                    {
                        "gate": gate,
                        "language": lang,
                        "limit_points": limit,
                        "passed": True,
                        "skipped": "no evaluation of the live model to compare with",
                    }
                )
            continue
        change = 100 * (cand["accuracy"] - base["accuracy"])
        checks.append(
            {
                "gate": "overall_accuracy",
                "language": lang,
                "limit_points": overall_limit,
                "live": base["accuracy"],
                "candidate": cand["accuracy"],
                "change_points": round(change, 2),
                "passed": change >= -overall_limit - TOLERANCE,
            }
        )
        changes: list[tuple[float, dict[str, Any]]] = []
        for intent, scores in sorted(cand["intents"].items()):
            before = base["intents"].get(intent)
            if before is None:
                continue  # an intent the live model's evaluation did not have: nothing to lose
            delta = 100 * (scores["accuracy"] - before["accuracy"])
            entry = {
                "intent": intent,
                "n": scores["n"],
                "live": before["accuracy"],
                "candidate": scores["accuracy"],
                "change_points": round(delta, 2),
            }
            changes.append((delta, entry))
        failing = [
            entry
            for delta, entry in changes
            if delta < -intent_limit - TOLERANCE and entry["n"] >= min_messages
        ]
        worst = min(changes, key=lambda c: (c[0], c[1]["intent"]))[1] if changes else None
        checks.append(
            {
                "gate": "intent_accuracy",
                "language": lang,
                "limit_points": intent_limit,
                "min_messages": min_messages,
                "worst": worst,
                "failing": failing,
                "passed": not failing,
            }
        )
    return {"passed": all(c["passed"] for c in checks), "checks": checks}
