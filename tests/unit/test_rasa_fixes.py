"""bot.rasa_fixes validates action-server responses exactly as Rasa does, only without re-checking the schema
on every call. Rasa lives in its own virtualenv (.venv-rasa), so the check runs there in a subprocess."""

import json
import subprocess
from pathlib import Path
from typing import Any, ClassVar

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


# A local action-server stand-in: `runner, port = await serve_webhook(handler)`.
SERVE_WEBHOOK = r"""
from aiohttp import web

async def serve_webhook(handler):
    app = web.Application()
    app.router.add_post("/webhook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]
"""

SESSION_SCRIPT = (
    SERVE_WEBHOOK
    + r"""
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

    runner, port = await serve_webhook(webhook)
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
)


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs the Rasa virtualenv (.venv-rasa)")
def test_endpoint_calls_keep_one_connection_per_endpoint() -> None:
    out = run_in_rasa(SESSION_SCRIPT)
    assert out["answers"] == [1, 2, 3, 4, 5]
    first, *rest = out["peers"][:5]
    assert rest == [first] * 4  # one connection for the five calls
    assert out["peers"][5] != first  # another endpoint has its own session
    assert out["auth"] == ["Bearer t"] * 5 + [None]  # each endpoint's own headers
    assert out["after"] != "answered"


DIGEST_SCRIPT = (
    SERVE_WEBHOOK
    + r"""
import asyncio, json
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.channels import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from bot.rasa_fixes import install, domain_digest
install()

async def main():
    calls, known = [], {}

    async def webhook(request):
        # rasa-sdk 3.8+: keep the last domain sent; a digest it does not know gets 449
        call = await request.json()
        calls.append({"domain": "domain" in call, "digest": call.get("domain_digest")})
        if "domain" in call:
            known["digest"] = call["domain_digest"]
        elif call.get("domain_digest") != known.get("digest"):
            return web.json_response({"error": "domain missing"}, status=449)
        if call["next_action"] == "action_fails":
            return web.json_response({"error": "boom"}, status=500)
        events = [{"event": "slot", "name": "mood", "value": "ok"}]
        return web.json_response({"events": events, "responses": []})

    runner, port = await serve_webhook(webhook)
    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
    slots = 'version: "3.1"\nslots:\n  mood:\n    type: text\n    mappings: [{type: custom}]\n'
    domain = Domain.from_yaml(slots + 'actions: [action_a, action_b, action_fails]')
    tracker = DialogueStateTracker("s", domain.slots)
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    out = CollectingOutputChannel()
    out.failed_actions = []  # as bot.channels.hub's collector keeps them
    results = []
    for name in ("action_a", "action_b", "action_a"):
        events = await RemoteAction(name, endpoint).run(out, nlg, tracker, domain)
        results.append([e.as_dict().get("value") for e in events])
    other = Domain.from_yaml(slots + 'actions: [action_a, action_c]')
    await RemoteAction("action_a", endpoint).run(out, nlg, tracker, other)
    try:
        await RemoteAction("action_fails", endpoint).run(out, nlg, tracker, other)
        failed = "no"
    except Exception as exc:
        failed = type(exc).__name__
    await runner.cleanup()
    try:  # the action server gone: nothing listens on its port any more
        await RemoteAction("action_a", endpoint).run(out, nlg, tracker, other)
        down = "no"
    except Exception as exc:
        down = type(exc).__name__
    print(json.dumps({"calls": calls, "results": results, "failed": failed, "down": down,
                      "noted": out.failed_actions,
                      "digests": [domain_digest(domain), domain_digest(other)]}))

asyncio.run(main())
"""
)


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs the Rasa virtualenv (.venv-rasa)")
def test_action_calls_send_the_domain_only_when_the_action_server_lacks_it() -> None:
    out = run_in_rasa(DIGEST_SCRIPT)
    first, second = out["digests"]
    assert first != second
    assert out["results"] == [["ok"], ["ok"], ["ok"]]
    assert out["calls"] == [
        {"domain": False, "digest": first},  # unknown: 449
        {"domain": True, "digest": first},  # the same call again, with the domain
        {"domain": False, "digest": first},
        {"domain": False, "digest": first},
        {"domain": False, "digest": second},  # a new model's domain: asked for once
        {"domain": True, "digest": second},
        {"domain": False, "digest": second},  # a failing action fails once, it is not retried
    ]
    assert out["failed"] == "RasaException" and out["down"] == "RasaException"
    # Failed calls are noted on the output channel, so the hub channel can answer 503 (a person takes over).
    assert out["noted"] == ["action_fails", "action_a"]


HUB_CHANNEL_SCRIPT = r"""
import asyncio, json, socket
import aiohttp
from sanic import Sanic
from bot.channels.hub import HubInput

TOKEN = "t" * 20

async def on_new_message(message):
    message.output_channel.messages.append({"recipient_id": message.sender_id, "text": "one moment"})
    if message.text == "fails":  # what bot.rasa_fixes does when a custom action call fails
        message.output_channel.failed_actions.append("action_handoff")
    if message.text == "works":  # what bot.rasa_fixes notes when the message is parsed
        message.output_channel.understood.update({"intent": "greet", "confidence": 0.9, "text": "你好"})

async def main():
    app = Sanic("hub_channel_check")
    app.blueprint(HubInput(TOKEN).blueprint(on_new_message), url_prefix="/webhooks/hub")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    out = {}
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer " + TOKEN}) as session:
        for text in ("works", "fails"):
            url = f"http://127.0.0.1:{port}/webhooks/hub/webhook"
            async with session.post(url, json={"sender": "s", "message": text}) as resp:
                out[text] = [resp.status, await resp.json(), resp.headers.get("X-Understood")]
    server.close()
    await server.wait_closed()
    print(json.dumps(out))

asyncio.run(main())
"""


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs the Rasa virtualenv (.venv-rasa)")
def test_the_hub_channel_answers_503_when_a_custom_action_failed() -> None:
    out = run_in_rasa(HUB_CHANNEL_SCRIPT)
    status, body, understood = out["works"]
    assert (status, body) == (200, [{"recipient_id": "s", "text": "one moment"}])
    assert understood.isascii()
    assert json.loads(understood) == {"intent": "greet", "confidence": 0.9, "text": "你好"}
    status, body, understood = out["fails"]
    assert understood is None
    assert status == 503
    assert body["error"] == "action_failed" and body["actions"] == ["action_handoff"]


def test_the_parse_is_noted_on_a_channel_that_asks_for_it() -> None:
    import asyncio

    from bot import rasa_fixes

    parse = {
        "text": "where is my order",
        "intent": {"name": "order_status", "confidence": 0.61234},
        "intent_ranking": [{"name": f"i{n}", "confidence": 0.1} for n in range(8)],
        "entities": [{"entity": "order_id", "value": "A1", "start": 0, "end": 2}],
        "affect": {"frustration": "calm", "flags": []},
    }

    async def original(self: Any, message: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return parse

    class Channel:
        understood: ClassVar[dict[str, Any]] = {"stale": True}

    class Message:
        output_channel = Channel()

    class Plain:
        output_channel = object()  # another channel: nothing is noted and nothing breaks

    saved = rasa_fixes._ORIGINAL_PARSE
    rasa_fixes._ORIGINAL_PARSE = original
    try:
        assert asyncio.run(rasa_fixes.parse_message_noted(None, Message())) is parse
        assert asyncio.run(rasa_fixes.parse_message_noted(None, Plain())) is parse
    finally:
        rasa_fixes._ORIGINAL_PARSE = saved
    noted = Channel.understood
    assert noted["intent"] == "order_status" and noted["confidence"] == 0.6123
    assert [r["name"] for r in noted["ranking"]] == ["i0", "i1", "i2", "i3", "i4"]
    assert noted["entities"] == [{"entity": "order_id", "value": "A1"}]
    many = {
        "intent": {"name": "inform", "confidence": 0.5},
        "entities": [{"entity": "amount", "value": "9" * 500}] * 300,
    }
    bounded = rasa_fixes.understanding(many)
    assert len(bounded["entities"]) == 10 and len(json.dumps(bounded)) < 2000
    assert noted["affect"] == {"frustration": "calm", "flags": []} and "stale" not in noted
