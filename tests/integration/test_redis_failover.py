"""Conversations survive a Redis failover: a primary, a replica and three sentinels on loopback; the
primary is killed with SIGKILL mid-conversation and the sentinels promote the replica.

The hub: every message it acknowledged, before the kill and after, is in the transcript (it waited for
the replica before acknowledging: REDIS_WAIT_REPLICAS), and the conversation goes on with the new master.
Rasa's side: its tracker and lock stores, as endpoints.yml configures them, reach the new master too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sanic import Sanic

from common.env import SettingsError
from common.redis_connect import find_master, read_sentinel, sync_client
from handoff.app import create_app
from handoff.settings import Settings
from handoff.transcript import Message, RedisTranscriptStore
from tests.integration.conftest import REST_AUTH, hub_secrets, rasa_stand_in
from tests.integration.live_app import serving
from tests.redis_sentinel import SentinelCluster, sentinel_cluster
from tests.redis_server import free_port, redis_server_binary

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
WEBHOOK = "/webhooks/rest/webhook"
UNREPLICATED = "hub.redis.unreplicated_write"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    with sentinel_cluster(tmp_path) as running:
        yield running


def hub_settings(cluster: SentinelCluster, routing: str) -> Settings:
    return Settings.from_env(
        {
            **hub_secrets(),
            "HUB_ROUTING_CONFIG": routing,
            "HUB_MESSAGES_PER_MINUTE": "1000",
            "REDIS_WAIT_TIMEOUT_MS": "500",  # generous for a loaded machine; paid per message once alone
            **cluster.env(),
        }
    )


def stored_conversation(cluster: SentinelCluster, conversation_id: str) -> list[tuple[str, str]]:
    """(author, text) of the transcript, read from whichever node is the master now."""
    client = sync_client(cluster.url(), read_sentinel(cluster.env()), decode_responses=True)
    try:
        entries: Any = client.xrange(f"hub:conv:{conversation_id}:transcript")
        return [(data["author"], data["text"]) for data in (json.loads(f["data"]) for _, f in entries)]
    finally:
        client.close()


async def test_every_acknowledged_message_survives_a_failover_and_the_chat_goes_on(
    cluster: SentinelCluster, no_overflow_routing: str, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.monotonic()
    caplog.set_level(logging.WARNING, logger="handoff.transcript")
    Sanic.test_mode = True
    app = create_app(hub_settings(cluster, no_overflow_routing), http_transport=rasa_stand_in([]))
    sender = f"ha-{uuid.uuid4().hex[:8]}"
    acknowledged: dict[str, list[str]] = {"before": [], "during": [], "after": []}
    statuses: list[int] = []  # every status code the hub answered with

    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:

        async def send(text: str) -> bool:
            """True once the hub acknowledged the message (stored, answered)."""
            try:
                response = await client.post(
                    WEBHOOK, json={"sender": sender, "message": text}, headers=REST_AUTH
                )
            except httpx.HTTPError:
                return False
            statuses.append(response.status_code)
            if response.status_code != 200:
                return False
            assert response.json() == [{"recipient_id": sender, "text": f"echo: {text}"}]
            return True

        for i in range(6):
            assert await send(f"before {i}")
            acknowledged["before"].append(f"before {i}")
        assert not [r for r in caplog.records if r.getMessage() == UNREPLICATED]  # the replica kept up

        old = cluster.kill_primary()
        killed = len(caplog.records)
        failover = asyncio.ensure_future(asyncio.to_thread(cluster.wait_for_failover, old))
        i = 0
        while not failover.done():  # the customer keeps writing; what fails meanwhile was never acknowledged
            if await send(f"during {i}"):
                acknowledged["during"].append(f"during {i}")
            i += 1
            await asyncio.sleep(0.1)
        new = await failover
        assert new != old

        for i in range(4):  # after the failover every message gets through, at worst on a second try
            text = f"after {i}"
            deadline = time.monotonic() + 10
            while not await send(text):
                assert time.monotonic() < deadline, f"{text!r} was not acknowledged after the failover"
                await asyncio.sleep(0.2)
            acknowledged["after"].append(text)

    stored = stored_conversation(cluster, f"rest-{sender}")
    customer = [text for author, text in stored if author == "customer"]
    answers = {text for author, text in stored if author == "bot"}
    for text in [*acknowledged["before"], *acknowledged["during"], *acknowledged["after"]]:
        assert text in customer, f"{text!r} was acknowledged but is not in the transcript"
        assert f"echo: {text}" in answers
    # while Redis fails over, a message is refused with a 503 to retry, never a 500
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    # alone, the new master has no replica to wait for: it says so, and acknowledges all the same
    assert any(r.getMessage() == UNREPLICATED for r in caplog.records[killed:])
    assert time.monotonic() - started < 45


def read_report(process: subprocess.Popen[str], phase: str, timeout: float) -> dict[str, Any]:
    """The script's next report line (other output is skipped), within `timeout` seconds."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith('{"phase"'):
            report: dict[str, Any] = json.loads(line)
            assert report["phase"] == phase
            return report
    raise AssertionError(f"no {phase!r} report from rasa_failover_checks.py (exit code {process.poll()})")


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs the Rasa virtualenv (.venv-rasa)")
def test_rasas_tracker_and_lock_stores_follow_the_new_master(
    cluster: SentinelCluster, tmp_path: Path
) -> None:
    stderr = tmp_path / "stderr.txt"
    with (
        stderr.open("w") as errors,
        subprocess.Popen(
            [str(RASA_PYTHON), str(ROOT / "tests" / "integration" / "rasa_failover_checks.py")],
            cwd=ROOT,
            env={
                "PATH": f"{Path(redis_server_binary()).parent}:{os.environ.get('PATH', '')}",
                "PYTHONPATH": str(ROOT),
                "RASA_TELEMETRY_ENABLED": "false",
                "TF_CPP_MIN_LOG_LEVEL": "3",
            },
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        ) as process,
    ):
        try:
            check_failover_in_rasa(process, cluster)
        finally:
            if process.poll() is None:  # a failed check: the script may be waiting on its stdin
                process.kill()
    assert process.returncode == 0, stderr.read_text()[-3000:]
    assert "Traceback" not in stderr.read_text(), stderr.read_text()[-3000:]


def check_failover_in_rasa(process: subprocess.Popen[str], cluster: SentinelCluster) -> None:
    assert process.stdin is not None
    settings = {
        "url": cluster.url(),
        "sentinels": cluster.sentinels,
        "master": cluster.master,
        "sentinel_password": cluster.sentinel_password,
    }
    process.stdin.write(json.dumps(settings) + "\n")
    process.stdin.flush()
    before = read_report(process, "before", timeout=60)
    assert before["tracker_store"] == "WindowedRedisTrackerStore"  # not Rasa's in-memory fallback
    assert before["lock_store"] == "SentinelRedisLockStore"
    assert before["texts"] == ["before the failover"]
    assert before["master"][1] == before["lock_master"][1] == cluster.primary_port

    cluster.replicate_everything()
    new = cluster.wait_for_failover(cluster.kill_primary())
    process.stdin.write("go\n")
    process.stdin.flush()
    after = read_report(process, "after", timeout=30)
    assert after["texts"] == ["before the failover", "after the failover"]
    assert after["master"][1] == after["lock_master"][1] == new
    assert after["errors"] == []  # the first turn after it already succeeds: nobody is handed off for it
    held = cluster.node(new)
    try:
        assert held.exists("lock:failover-held")  # the lock store writes to the new master
    finally:
        held.close()
    process.wait(timeout=10)


# -- start-up checks and the replica wait, against real servers --------------------------------------


def run_preflight(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_") and k != "EMBEDDED_REDIS"}
    ports = {name: str(free_port()) for name in ("HUB_PORT", "RASA_PORT", "ACTIONS_PORT")}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "preflight.py")],
        env={**base, **ports, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_up_asks_the_sentinels_and_names_the_setting_at_fault(cluster: SentinelCluster) -> None:
    config = read_sentinel(cluster.env())
    assert config is not None
    assert find_master(config) == ("127.0.0.1", cluster.primary_port)
    with pytest.raises(
        SettingsError, match=r"^REDIS_SENTINEL_MASTER='elsewhere' is not a master the sentinels"
    ):
        find_master(replace(config, master="elsewhere"))
    with pytest.raises(SettingsError, match=r"^REDIS_SENTINEL_PASSWORD was refused by the sentinels at 127"):
        find_master(replace(config, password="not-the-password"))
    with pytest.raises(SettingsError, match=r"need a password: set REDIS_SENTINEL_PASSWORD$"):
        find_master(replace(config, password=None))

    assert run_preflight(cluster.env()).returncode == 0
    for env, message in [
        ({"REDIS_SENTINEL_MASTER": "elsewhere"}, "error: REDIS_SENTINEL_MASTER='elsewhere' is not a master"),
        ({"REDIS_SENTINELS": f"127.0.0.1:{free_port()}"}, "error: REDIS_SENTINELS: no sentinel answered"),
        ({"REDIS_SENTINELS": "127.0.0.1"}, "error: REDIS_SENTINELS: '127.0.0.1' is not host:port"),
        (
            {"REDIS_URL": cluster.url().replace(cluster.password, "wrong-password")},
            "error: Redis at the master 'storefront' of REDIS_SENTINELS=127.0.0.1:",
        ),
        ({"EMBEDDED_REDIS": "1"}, "error: REDIS_SENTINELS is set but REDIS_URL is not"),
    ]:
        result = run_preflight({**cluster.env(), **env})
        assert result.returncode == 1, env
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(message), result.stderr
        assert cluster.password not in result.stderr and cluster.sentinel_password not in result.stderr
        assert "wrong-password" not in result.stderr


async def test_without_a_replica_people_s_messages_are_stored_after_the_wait_and_reported(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = Redis.from_url(redis_url.rsplit("/", 1)[0] + "/6", decode_responses=True)
    store = RedisTranscriptStore(client, wait_replicas=1, wait_timeout_ms=50)
    conversation = f"wait-{uuid.uuid4().hex[:8]}"
    try:
        started = time.monotonic()
        first = await store.append_once(
            conversation, Message(author="customer", text="hello", channel="rest"), f"once:{conversation}"
        )
        assert first is not None and time.monotonic() - started >= 0.05  # it waited for the replica
        assert (
            await store.append_once(
                conversation, Message(author="customer", text="hello", channel="rest"), f"once:{conversation}"
            )
            is None
        )  # a re-sent message is still kept once
        await store.append(conversation, Message(author="bot", text="hi", channel="rest"))
        assert [m.text for m in await store.read(conversation)] == ["hello", "hi"]
        reported = [r for r in caplog.records if r.getMessage() == UNREPLICATED]
        assert len(reported) == 2  # both customer appends, not the assistant's reply
        event = vars(reported[0])  # the metric's fields
        assert (event["replicas"], event["wanted"], event["conversation_id"]) == (0, 1, conversation)
    finally:
        await client.aclose()
