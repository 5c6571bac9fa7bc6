"""Starts the whole stack (scripts/run.sh under honcho) on free ports for the end-to-end tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.stack import consecutive_free_ports, stop_process_group
from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 300
# Two Rasa processes, as a store with four cores runs: every test's conversations are spread over them
# (handoff.rasa_pool), and test_rasa_processes.py kills one.
RASA_PROCESSES = 2
PORT_ATTEMPTS = 3
_stack_logs: list[Path] = []
# Lines of the stack's log worth reading when a test failed (CI keeps only the end of the output).
_NOTABLE = re.compile(r"ERROR|Error:|Exception|Traceback|hub\.handoff|hub\.bot|rasa\.core\.processor")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int) -> None:
    if exitstatus == 0:
        return
    for path in _stack_logs:
        if not path.exists():
            continue
        notable = [line for line in path.read_text(errors="replace").splitlines() if _NOTABLE.search(line)]
        terminalreporter.write_sep("-", f"notable lines of {path} (last 60)")
        for line in notable[-60:]:
            terminalreporter.write_line(line[:300])


@dataclass(frozen=True)
class Stack:
    hub_url: str
    rasa_url: str
    models_dir: Path
    actions_url: str
    env: dict[str, str]

    @property
    def rasa_urls(self) -> str:
        """Every Rasa process, as the hub's RASA_URLS lists them."""
        base = int(self.env["RASA_PORT"])
        return ",".join(f"http://127.0.0.1:{base + i}" for i in range(RASA_PROCESSES))

    @property
    def redis_url(self) -> str:
        """The stack's embedded Redis, with its password (REDIS_PASSWORD from var/secrets.env)."""
        return f"redis://:{self.env['REDIS_PASSWORD']}@127.0.0.1:{self.env['REDIS_PORT']}/0"


def rest_auth(stack: Stack) -> dict[str, str]:
    """The REST channel's token header: HUB_REST_TOKEN, from var/secrets.env like every service token."""
    return {"Authorization": f"Bearer {stack.env['HUB_REST_TOKEN']}"}


def rest_conversation(sender: str) -> str:
    """The conversation (and Rasa sender) a REST sender writes to: REST senders have their own namespace."""
    return f"rest-{sender}"


def all_rasa_processes_up(hub_url: str) -> bool:
    """The hub is healthy and every Rasa process answers (the hub's /health lists them)."""
    try:
        response = httpx.get(f"{hub_url}/health", timeout=5)
        processes = response.json().get("rasa_processes", [])
    except (httpx.HTTPError, ValueError):
        return False
    return (
        response.status_code == 200
        and len(processes) == RASA_PROCESSES
        and all(p["state"] == "up" for p in processes)
    )


def _secrets() -> dict[str, str]:
    values = {}
    for line in (ROOT / "var" / "secrets.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values


# What the stack's studio edits and trains on: a copy, so the tests never change the checkout's data.
STUDIO_COPIES = (
    "config.yml",
    "bot/domain",
    "data/nlu",
    "data/rules",
    "data/stories",
    "data/affect",
    "data/policy",
    "data/quick_replies",
    "data/kb",
)
STUDIO_LINKS = ("var/spacy", "var/encoders", "data/eval")  # read only: the pipeline's models, held-out sets


def studio_project(work: Path) -> tuple[Path, Path]:
    """A copy of the project for the studio, and its gates: the shipped ones, except that overall accuracy
    may move by a point (one held-out message) so a one-example change is never refused by chance."""
    import yaml

    root = work / "studio"
    for rel in STUDIO_COPIES:
        source, target = ROOT / rel, root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    # The knowledge base's index, copied: the studio publishes new versions into it and rolls back.
    shutil.copytree(
        ROOT / "var" / "kb_index", root / "var" / "kb_index", ignore=shutil.ignore_patterns("*.lock")
    )
    for rel in STUDIO_LINKS:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to((ROOT / rel).resolve(), target_is_directory=True)
    gates = yaml.safe_load((ROOT / "handoff" / "studio" / "gates.yml").read_text(encoding="utf-8"))
    gates["gates"]["max_overall_drop_points"] = 1.0
    path = work / "gates.yml"
    path.write_text(yaml.safe_dump(gates), encoding="utf-8")
    return root, path


def proactive_config(work: Path) -> Path:
    """The shipped triggers without quiet hours (the tests run at any hour; quiet hours are tested in
    tests/integration/test_proactive_delivery.py) and with a scheduler that looks every second."""
    text = (ROOT / "handoff" / "proactive.yml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^quiet_hours: "[^"]*"', "quiet_hours: null", text)
    text = re.sub(r"(?m)^(\s*interval_seconds:)\s*\d+", r"\1 1", text)
    path = work / "proactive.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _ports() -> dict[str, str]:
    ports = {
        name: str(free_port())
        for name in ("HUB_PORT", "ACTIONS_PORT", "REDIS_PORT", "SMTP_PORT", "EMAIL_INBOUND_SMTP_PORT")
    }
    ports["RASA_PORT"] = str(consecutive_free_ports(RASA_PROCESSES))
    return ports


def _wait_until_up(proc: subprocess.Popen[bytes], hub_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise StackExited(log.read_text()[-4000:])
        try:
            if all_rasa_processes_up(hub_url):
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"stack not healthy in time:\n{log.read_text()[-4000:]}")
        time.sleep(1)


class StackExited(RuntimeError):
    def __init__(self, log_tail: str) -> None:
        super().__init__(f"stack exited early:\n{log_tail}")
        self.port_taken = "address already in use" in log_tail.lower()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("stack")
    models = work / "models"  # a copy, so tests can add models without touching the project's
    models.mkdir()
    newest = max((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    shutil.copy2(newest, models / newest.name)
    studio_root, gates = studio_project(work)
    base_env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    base_env.update(
        {
            "REDIS_DATA_DIR": str(work / "redis"),
            "ORDER_DB": str(work / "orders.sqlite"),
            "ANALYTICS_DB": str(work / "analytics.sqlite"),
            "RASA_MODELS_DIR": str(models),
            "MODEL_WATCH_INTERVAL": "1",
            "RASA_PROCESSES": str(RASA_PROCESSES),
            "STUDIO_ROOT": str(studio_root),
            "STUDIO_GATES": str(gates),
            # Email through a local relay the tests start on SMTP_PORT (tests/e2e/test_proactive.py); replies
            # come back to the hub's own receiver.
            "SMTP_HOST": "127.0.0.1",
            "SMTP_SECURITY": "none",
            "EMAIL_FROM": "Shop Support <support@shop.example>",
            "EMAIL_REPLY_DOMAIN": "reply.shop.example",
            "EMAIL_RETRY_BASE_SECONDS": "1",
            "EMAIL_MAX_ATTEMPTS": "3",
            "PROACTIVE_CONFIG": str(proactive_config(work)),
        }
    )
    # Free ports are chosen before the stack binds them; one taken meanwhile by another program is
    # tried again on fresh ports rather than failing the run.
    for attempt in range(1, PORT_ATTEMPTS + 1):
        env = {**base_env, **_ports()}
        log_path = work / f"stack-{attempt}.log"
        _stack_logs.append(log_path)
        log = log_path.open("w")
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "run.sh")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        hub_url = f"http://127.0.0.1:{env['HUB_PORT']}"
        try:
            _wait_until_up(proc, hub_url, log_path)
        except StackExited as exited:
            stop_process_group(proc)
            log.close()
            if exited.port_taken and attempt < PORT_ATTEMPTS:
                continue
            raise
        except BaseException:
            stop_process_group(proc)
            log.close()
            raise
        break
    try:
        yield Stack(
            hub_url=hub_url,
            rasa_url=f"http://127.0.0.1:{env['RASA_PORT']}",
            models_dir=models,
            actions_url=f"http://127.0.0.1:{env['ACTIONS_PORT']}",
            env={**env, **_secrets()},
        )
    finally:
        stop_process_group(proc)  # Ctrl-C the whole group, as a person would; kill if it hangs
        log.close()


def clear_routing(stack: Stack) -> None:
    """Earlier tests leave customers waiting and agents online: before a test's own agent goes online, the
    others go offline and nothing waits ahead of its customer (or its agent is offered someone else's
    chat, misses it, and is set away)."""
    import redis

    admin = {"Authorization": f"Bearer {stack.env['HUB_ADMIN_TOKEN']}"}
    for agent in httpx.get(f"{stack.hub_url}/api/agents", headers=admin, timeout=30).json():
        if agent["presence"] != "offline":
            url = f"{stack.hub_url}/api/agents/{agent['id']}/presence"
            httpx.put(url, json={"presence": "offline"}, headers=admin, timeout=30).raise_for_status()
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        waiting = set(client.zrange("hub:offers", 0, -1))
        for queue in client.smembers("hub:queues"):
            waiting.update(client.zrange(f"hub:queue:{queue}", 0, -1))
    finally:
        client.close()
    for cid in waiting:
        httpx.delete(f"{stack.hub_url}/api/handoffs/{cid}", headers=admin, timeout=30).raise_for_status()
