"""bot.rasa_fixes validates action-server responses exactly as Rasa does, only without re-checking the schema
on every call. Rasa lives in its own virtualenv (.venv-rasa), so the check runs there in a subprocess."""

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"

SCRIPT = r"""
import json, time
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
original = RemoteAction._validate_action_result
from bot.rasa_fixes import install
install()
install()  # idempotent
action = RemoteAction("action_x", None)
good = {"events": [{"event": "slot", "name": "language", "value": "en"}],
        "responses": [{"text": "hi"}]}
bad = {"events": [{"event": "slot", "name": 3}], "responses": "nope"}

def outcome(fn, result):
    try:
        return ["ok", fn(action, result)]
    except ValidationError as e:
        return ["error", e.message, list(e.absolute_path)]

out = {"patched": RemoteAction._validate_action_result is not original}
out["good"] = [outcome(original, good), outcome(RemoteAction._validate_action_result, good)]
out["bad"] = [outcome(original, bad), outcome(RemoteAction._validate_action_result, bad)]
began = time.process_time()
for _ in range(20):
    RemoteAction._validate_action_result(action, good)
out["ms_per_call"] = (time.process_time() - began) / 20 * 1000
print(json.dumps(out))
"""


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs the Rasa virtualenv (.venv-rasa)")
def test_action_results_are_validated_as_rasa_does_but_cheaply() -> None:
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", SCRIPT],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["patched"]
    assert out["good"][0] == out["good"][1] == ["ok", True]
    original, fixed = out["bad"]
    assert original == fixed
    assert fixed[0] == "error" and "Failed to validate Action server response" in fixed[1]
    assert out["ms_per_call"] < 10  # Rasa's own check of the schema alone costs about 60 ms per call
