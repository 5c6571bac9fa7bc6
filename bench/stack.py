"""Start and stop the whole stack (scripts/run.sh under honcho) of a checkout, for the benchmarks.

Like the end-to-end tests: free ports, a temporary work directory holding Redis's data, the demo order
store (ORDER_DB) and a copy of the checkout's newest model (RASA_MODELS_DIR, so a model trained meanwhile
does not reach the running stack), then wait for GET /health. The checkout's own var/secrets.env holds
the tokens (scripts/run.sh creates it on first start).

A checkout of an older release may not know some of these settings (REDIS_PASSWORD, HUB_REST_TOKEN,
ORDER_DB, RASA_MODELS_DIR): it then ignores them, and the helpers below fall back to what that release
uses (Redis without a password, no REST token, var/orders.sqlite).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 300.0
PORTS = ("HUB_PORT", "RASA_PORT", "ACTIONS_PORT", "REDIS_PORT")
# What a stack runs: uncommitted changes here are named in the results.
CODE_PATHS = (
    "handoff",
    "bot",
    "actions",
    "common",
    "kb_index",
    "data",
    "scripts",
    "config.yml",
    "endpoints.yml",
)
# Settings an interactive shell may carry for another stack (scripts/stack_env.sh exports REDIS_URL);
# run.sh derives them from the ports when they are unset.
INHERITED_BUT_DROPPED = ("REDIS_URL", "RASA_MODEL", "RASA_URL", "RASA_URLS", "ACTIONS_URL", "HUB_URL")


class StackError(RuntimeError):
    """The stack did not start (the message carries the end of its log)."""


def _ephemeral_ports() -> range:
    try:
        low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return range(low, high + 1)


def _bindable(first: int, count: int) -> bool:
    try:
        for port in range(first, first + count):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def consecutive_free_ports(count: int) -> int:
    """A first port of `count` free consecutive ports (several Rasa processes listen on RASA_PORT + i).

    Chosen below the kernel's ephemeral range, not by binding port 0: a server that binds late (Rasa loads
    its model for a minute) could otherwise find its port taken as the source port of some outgoing
    connection meanwhile ("address already in use")."""
    ephemeral = _ephemeral_ports()
    candidates = range(10_000, ephemeral.start - count) if ephemeral.start > 10_000 + count else range(0)
    rng = random.Random()
    for _ in range(200 if candidates else 0):
        first = rng.choice(candidates)
        if _bindable(first, count):
            return first
    for _ in range(100):  # no room below the range: any free ports
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + count <= 65536 and _bindable(first, count):
            return first
    raise RuntimeError(f"no {count} free consecutive ports")


def free_port() -> int:
    return consecutive_free_ports(1)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines (as var/secrets.env holds them); {} when the file does not exist."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def newest_model(project: Path) -> Path:
    models = sorted((project / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise StackError(f"no trained model in {project / 'models'} (make train)")
    return models[-1]


def reads_setting(code: Path, name: str) -> bool:
    """Whether any Python file under `code` mentions the environment variable `name`."""
    return any(name in path.read_text(errors="replace") for path in code.rglob("*.py"))


def git_state(project: Path) -> str:
    """Short commit, and whether the code the stack runs has uncommitted changes."""
    head = subprocess.run(
        ["git", "-C", str(project), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    dirty = subprocess.run(
        ["git", "-C", str(project), "status", "--porcelain", "--", *CODE_PATHS],
        capture_output=True,
        text=True,
    )
    changed = sorted({line[3:].split("/")[0] for line in dirty.stdout.splitlines() if line.strip()})
    commit = head.stdout.strip()
    return f"{commit} plus uncommitted changes in {', '.join(changed)}" if changed else commit


@dataclass
class Stack:
    """A running stack started by start_stack."""

    project: Path
    work: Path
    proc: subprocess.Popen[bytes]
    env: dict[str, str]  # the settings given to run.sh (no secrets: those are in var/secrets.env)
    log: Path
    model: str
    started_in: float = 0.0

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.env['HUB_PORT']}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.env['RASA_PORT']}"

    def secrets(self) -> dict[str, str]:
        """The checkout's var/secrets.env, read now (run.sh writes it before starting anything)."""
        return read_env_file(self.project / "var" / "secrets.env")

    @property
    def rest_token(self) -> str | None:
        return self.secrets().get("HUB_REST_TOKEN") or None

    @property
    def redis_url(self) -> str:
        """The embedded Redis, with the password when the release has one."""
        password = self.secrets().get("REDIS_PASSWORD")
        auth = f":{password}@" if password else ""
        return f"redis://{auth}127.0.0.1:{self.env['REDIS_PORT']}/0"

    @property
    def order_db(self) -> Path:
        """The demo order store: ORDER_DB in the work directory, or var/orders.sqlite of a release whose
        action server does not read ORDER_DB (it creates the file on its first order lookup)."""
        if reads_setting(self.project / "actions", "ORDER_DB"):
            return Path(self.env["ORDER_DB"])
        return self.project / "var" / "orders.sqlite"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def start_stack(
    work: Path,
    project: Path = ROOT,
    settings: Mapping[str, str] | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> Stack:
    """Start scripts/run.sh of `project` on free ports with its state in `work`; wait for /health."""
    project = project.resolve()
    if not (project / "scripts" / "run.sh").exists():
        raise StackError(f"{project} has no scripts/run.sh")
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    model = newest_model(project)
    shutil.copy2(model, models / model.name)
    given = {
        **{name: str(free_port()) for name in PORTS},
        "REDIS_DATA_DIR": str(work / "redis"),
        "ORDER_DB": str(work / "orders.sqlite"),
        "ANALYTICS_DB": str(work / "analytics.sqlite"),
        "RASA_MODELS_DIR": str(models),
        "MODEL_WATCH_INTERVAL": "60",
        **(settings or {}),
    }
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_BUT_DROPPED}
    env.update(given)
    log = work / "stack.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(project / "scripts" / "run.sh")], cwd=project, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    stack = Stack(project, work, proc, given, log, model.name)
    began = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise StackError(f"the stack of {project} exited early:\n{stack.log_tail()}")
        try:
            if httpx.get(f"{stack.hub_url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() - began > timeout:
            stop_stack(stack)
            raise StackError(
                f"the stack of {project} was not healthy in {timeout:.0f} s:\n{stack.log_tail()}"
            )
        time.sleep(1)
    stack.started_in = time.monotonic() - began
    return stack


def stop_stack(stack: Stack) -> None:
    """Ctrl-C the stack's process group, as a person would; kill it if it does not stop in 30 s."""
    stop_process_group(stack.proc)


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def running_stack(
    project: Path = ROOT,
    settings: Mapping[str, str] | None = None,
    prefix: str = "bench-stack-",
    timeout: float = STARTUP_TIMEOUT,
) -> Iterator[Stack]:
    """A stack in a temporary work directory, stopped (and the directory removed) on leaving."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        stack = start_stack(Path(tmp), project, settings, timeout)
        try:
            yield stack
        finally:
            stop_stack(stack)
