"""The windowed Redis tracker store (bot/tracker_store.py), run in the Rasa virtualenv against a real
Redis with Rasa's own event classes by tests/unit/tracker_store_checks.py: a 40-turn conversation whose
every turn is retrieved, extended and saved as Rasa's processor does it."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


@pytest.fixture(scope="module")
def observed(redis_url: str) -> dict[str, Any]:
    url = redis_url.rsplit("/", 1)[0] + "/5"
    done = subprocess.run(
        [str(RASA_PYTHON), str(ROOT / "tests" / "unit" / "tracker_store_checks.py")],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "REDIS_URL": url,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "3",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


pytestmark = pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs the Rasa virtualenv (.venv-rasa)")


def test_every_turn_sees_the_state_the_whole_history_gives(observed: dict[str, Any]) -> None:
    # slots (one set in the first turn), a form answered on its happy path while the window would move
    # (Rasa folds those runs), its trigger, the pause, the last 8 policy states
    assert observed["mismatched_turns"] == []
    assert observed["full_history_kept"]


def test_a_turn_loads_and_writes_a_bounded_amount(observed: dict[str, Any]) -> None:
    loaded, written = observed["loaded_events"], observed["bytes_written"]
    assert len(loaded) == 40
    # window 6 turns + 3 of slack, about 4-5 events a turn: the load stops growing after ~10 turns,
    # except while a form runs (the window waits for it to end, turns 3-20), and shrinks again after it
    assert max(loaded[-10:]) <= max(loaded[:13])
    assert max(loaded) < 120
    # only the turn's own events are written: no turn writes much more than an early one
    assert max(written[-10:]) <= 1.5 * max(written[1:10])


def test_conversations_expire_after_the_retention(observed: dict[str, Any]) -> None:
    assert 3500 < observed["ttl"] <= 3600
    assert 3500 < observed["head_ttl"] <= 3600
    assert observed["keys"] == ["long-chat"]


def test_a_new_session_starts_the_latest_tracker(observed: dict[str, Any]) -> None:
    assert observed["session_first_event"] == "action_session_start"
    assert observed["session_matches"]


def test_conversations_saved_by_rasas_own_store_move_over(observed: dict[str, Any]) -> None:
    assert observed["legacy_read"]
    assert observed["legacy_moved"]
    assert not observed["legacy_key_left"]
    assert observed["legacy_then_appended"]


def test_no_events_are_lost(observed: dict[str, Any]) -> None:
    assert observed["both_kept"]  # two processes saving the same conversation
    assert observed["late_writer_state_kept"]
    assert observed["posted_merged"]  # a tracker Rasa rebuilt, as the HTTP API's event replacement does


def test_a_window_of_nothing_is_refused(observed: dict[str, Any]) -> None:
    assert "window_turns" in observed["bad_window"]
