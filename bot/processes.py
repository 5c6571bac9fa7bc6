"""Runs RASA_PROCESSES Rasa servers (`python -m bot.serve`) on consecutive ports and keeps them running.

Process i listens on RASA_PORT + i; the hub spreads conversations over them (RASA_URLS, handoff.rasa_pool)
and the trackers and the ticket lock are in Redis, so any process can take any conversation. Start-up
waits until every process answers, and fails, naming the setting, if one exits or is not up within
RASA_START_TIMEOUT seconds: a stack that hangs half-started is worse than one that stops. After that a
process that dies is started again (with back-off), while the hub sends its conversations elsewhere.

Standard library only: it runs in Rasa's environment before Rasa is imported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from common.env import processes_per_core_pair

ROOT = Path(__file__).resolve().parents[1]
MAX_PROCESSES = 32
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
STABLE_AFTER = 60.0  # seconds up after which a restart counts as the first again
# Rasa keeps a conversation's ticket lock this long (it defaults to 60 s): a process killed while it
# held one blocks that conversation on the other processes until the lock expires. Messages take
# well under a second, and the hub waits RASA_TIMEOUT (10 s) for a reply.
DEFAULT_LOCK_LIFETIME = "10"


class ConfigError(Exception):
    pass


def read_settings(env: Mapping[str, str]) -> tuple[int, str, int, float]:
    """RASA_PROCESSES, RASA_HOST, RASA_PORT (the first process's) and RASA_START_TIMEOUT."""
    raw = env.get("RASA_PROCESSES", "").strip() or str(processes_per_core_pair())
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PROCESSES:
        raise ConfigError(f"RASA_PROCESSES={raw!r} must be a number from 1 to {MAX_PROCESSES}")
    port = env.get("RASA_PORT", "5005")
    if not port.isdigit() or not 1 <= int(port) <= 65535 - int(raw):
        raise ConfigError(f"RASA_PORT={port!r} is not a port number with room for {raw} processes")
    timeout = env.get("RASA_START_TIMEOUT", "600")
    try:
        start_timeout = float(timeout)
    except ValueError:
        start_timeout = 0.0
    if not 1.0 <= start_timeout <= 3600.0:
        raise ConfigError(f"RASA_START_TIMEOUT={timeout!r} must be a number of seconds from 1 to 3600")
    return int(raw), env.get("RASA_HOST", "127.0.0.1"), int(port), start_timeout


def process_urls(env: Mapping[str, str]) -> list[str]:
    """The URLs the hub reaches the processes at, on this machine (what scripts/run.sh puts in RASA_URLS)."""
    count, host, port, _ = read_settings(env)
    return [f"http://{host}:{port + i}" for i in range(count)]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/", timeout=2) as response:  # noqa: S310 (http, built here)
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


SERVE = (sys.executable, "-m", "bot.serve")


@dataclass(eq=False)  # a child is itself, not its fields
class Child:
    port: int
    env: dict[str, str]
    command: tuple[str, ...] = SERVE
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    restart_at: float | None = None
    history: list[int] = field(default_factory=list)  # exit codes, newest last

    def start(self) -> None:
        env = {**self.env, "RASA_PORT": str(self.port)}
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=env)  # noqa: S603 (our own command)
        self.started, self.restart_at = time.monotonic(), None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()


class Supervisor:
    def __init__(self, env: Mapping[str, str], command: tuple[str, ...] = SERVE) -> None:
        count, self.host, port, self.start_timeout = read_settings(env)
        child_env = dict(env)
        child_env.setdefault("TICKET_LOCK_LIFETIME", DEFAULT_LOCK_LIFETIME)
        self.children = [Child(port + i, child_env, command) for i in range(count)]
        self.stopping = False

    def log(self, message: str) -> None:
        print(f"rasa-processes: {message}", file=sys.stderr, flush=True)

    def start_all(self) -> None:
        """Start every process and wait until each answers; ConfigError if one fails or never answers.

        A process that exits with an error of its own (a bad setting or model, a port in use) stops the
        start-up. One killed by a signal was stopped from outside, possibly after it answered others
        already (the hub polls too): it is started again, within the same deadline."""
        for child in self.children:
            child.start()
        deadline = time.monotonic() + self.start_timeout
        waiting = list(self.children)
        while waiting and not self.stopping:
            for child in list(waiting):
                code = child.exit_code()
                if code is not None and code < 0:
                    child.history.append(code)
                    self.log(f"process on port {child.port} was killed (signal {-code}) while starting")
                    child.start()
                    continue
                if code is not None:
                    raise ConfigError(
                        f"the Rasa process on port {child.port} exited with code {code} while starting "
                        "(its error is above)"
                    )
                if answers(f"http://{self.host}:{child.port}"):
                    self.log(f"process on port {child.port} is up")
                    waiting.remove(child)
            self.watch_once(skip=waiting)  # one that was up and died meanwhile is started again
            if waiting and time.monotonic() > deadline:
                ports = ", ".join(str(c.port) for c in waiting)
                raise ConfigError(
                    f"the Rasa process on port {ports} did not become healthy within "
                    f"RASA_START_TIMEOUT={self.start_timeout:g} seconds"
                )
            if waiting:
                time.sleep(0.5)

    def watch_once(self, skip: Sequence[Child] = ()) -> None:
        """Start again, after a back-off, any process that has exited (but those in `skip`)."""
        now = time.monotonic()
        for child in self.children:
            if child in skip:
                continue
            code = child.exit_code()
            if code is None or self.stopping:
                continue
            if child.restart_at is None:
                if now - child.started > STABLE_AFTER:
                    child.restarts = 0
                delay = RESTART_DELAYS[min(child.restarts, len(RESTART_DELAYS) - 1)]
                child.history.append(code)
                child.restart_at = now + delay
                self.log(f"process on port {child.port} exited with code {code}; restarting in {delay:g} s")
            elif now >= child.restart_at:
                child.restarts += 1
                child.start()
                self.log(f"process on port {child.port} restarted")

    def stop_all(self, grace: float = 15.0) -> None:
        self.stopping = True
        running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + grace
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> int:
    try:
        supervisor = Supervisor(os.environ)
    except ConfigError as exc:
        print(f"rasa: {exc}", file=sys.stderr)
        return 2

    def stop(signum: int, _frame: object) -> None:
        supervisor.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        supervisor.start_all()
        if not supervisor.stopping:
            supervisor.log(f"{len(supervisor.children)} processes up")
        while not supervisor.stopping:
            supervisor.watch_once()
            time.sleep(0.5)
    except ConfigError as exc:
        print(f"rasa: {exc}", file=sys.stderr, flush=True)
        supervisor.stop_all()
        return 2
    supervisor.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
