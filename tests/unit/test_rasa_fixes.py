"""bot.rasa_fixes validates action-server responses exactly as Rasa does, only without re-checking the schema
on every call. Rasa lives in its own virtualenv (.venv-rasa), so the check runs there in a subprocess."""

import json
import subprocess
from pathlib import Path
from typing import Any

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


def run_in_rasa(script: str) -> dict[str, Any]:
    """Runs `script` with the Rasa virtualenv's Python; its last line of output is a JSON object."""
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", script],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs the Rasa virtualenv (.venv-rasa)")
def test_action_results_are_validated_as_rasa_does_but_cheaply() -> None:
    out = run_in_rasa(SCRIPT)
    assert out["patched"]
    assert out["good"][0] == out["good"][1] == ["ok", True]
    original, fixed = out["bad"]
    assert original == fixed
    assert fixed[0] == "error" and "Failed to validate Action server response" in fixed[1]
    assert out["ms_per_call"] < 10  # Rasa's own check of the schema alone costs about 60 ms per call


SESSION_SCRIPT = r"""
import asyncio, json
from aiohttp import web
from rasa.utils.endpoints import EndpointConfig
from bot.rasa_fixes import install
install()

async def main():
    peers, auth = [], []

    async def webhook(request):
        peers.append(request.transport.get_extra_info("peername")[1])
        auth.append(request.headers.get("Authorization"))
        return web.json_response({"events": [], "n": len(peers)})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", headers={"Authorization": "Bearer t"})
    answers = [await endpoint.request(json={"i": i}, method="post") for i in range(5)]
    other = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
    await other.request(json={}, method="post")
    await runner.cleanup()  # the server goes away: the next call fails as a call, not as a broken session
    try:
        await endpoint.request(json={}, method="post")
        after = "answered"
    except Exception as exc:
        after = type(exc).__name__
    print(json.dumps({"answers": [a["n"] for a in answers], "peers": peers, "auth": auth, "after": after}))

asyncio.run(main())
"""


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs the Rasa virtualenv (.venv-rasa)")
def test_endpoint_calls_keep_one_connection_per_endpoint() -> None:
    out = run_in_rasa(SESSION_SCRIPT)
    assert out["answers"] == [1, 2, 3, 4, 5]
    first, *rest = out["peers"][:5]
    assert rest == [first] * 4  # one connection for the five calls
    assert out["peers"][5] != first  # another endpoint has its own session
    assert out["auth"] == ["Bearer t"] * 5 + [None]  # each endpoint's own headers
    assert out["after"] != "answered"
