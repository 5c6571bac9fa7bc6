"""Running scenarios through a running stack: the REST channel, the demo order store, the hub's Redis.

Works with any running stack given its hub URL, ORDER_DB path, Redis URL and REST token (`Target`): the
stack `python -m bench.scenarios` starts (bench/stack.py), a developer's `make run`, or the end-to-end
tests' session stack. Scenarios run one after another, each from the same order store: the rows of
`orders` and `returns` are read once (after a warm-up conversation has made the action server seed the
store) and written back before every scenario and at the end; the order-check attempt counters are
cleared with them.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import redis
import yaml

from bench.scenarios.checks import (
    Observation,
    Outcome,
    StoreState,
    Turn,
    describe_changes,
    evaluate,
    later_messages,
)
from bench.scenarios.spec import Scenario
from handoff import keys

ROOT = Path(__file__).resolve().parents[2]
ATTEMPT_KEYS = "actions:order_check:*"  # actions/orders/attempts.py: wrong order-check answers
TABLES = ("orders", "returns")
SEED_TIMEOUT = 60.0
MAX_RETRIES_429 = 5
SENDER_MAX = 122  # handoff/channels/rest/inbound.py: 128 characters less the "rest-" prefix


class RunnerError(RuntimeError):
    """The stack cannot be benchmarked (no order store, Redis unreachable, ...)."""


@dataclass(frozen=True)
class Target:
    """A running stack. The REST token is None for a release whose REST channel has none."""

    hub_url: str
    order_db: Path
    redis_url: str
    rest_token: str | None = None
    label: str = "running stack"


# -- the order store ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Every row of the tables actions change, exactly as stored: table → (columns, rows)."""

    tables: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]

    def state(self) -> StoreState:
        orders: dict[str, dict[str, Any]] = {}
        columns, rows = self.tables.get("orders", ((), []))
        for row in rows:
            record = dict(zip(columns, row, strict=True))
            data = json.loads(record["data"]) if "data" in record else record
            orders[str(record["id"])] = data
        returns: dict[tuple[str, str], dict[str, Any]] = {}
        columns, rows = self.tables.get("returns", ((), []))
        for row in rows:
            record = dict(zip(columns, row, strict=True))
            returns[(str(record["order_id"]), str(record["sku"]))] = record
        return StoreState(orders, returns)

    @property
    def counts(self) -> dict[str, int]:
        return {table: len(rows) for table, (_, rows) in self.tables.items()}


class OrderDb:
    """The demo order store's SQLite file (WAL), shared with the running action server."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # transactions are explicit
        try:
            yield conn
        finally:
            conn.close()

    def _tables(self, conn: sqlite3.Connection) -> list[str]:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return [t for t in TABLES if t in names]

    def seeded(self) -> bool:
        if not self.path.exists():
            return False
        with self._connect() as conn:
            if "orders" not in self._tables(conn):
                return False
            return bool(conn.execute("SELECT count(*) FROM orders").fetchone()[0])

    def snapshot(self) -> Snapshot:
        tables = {}
        with self._connect() as conn:
            conn.execute("BEGIN")  # one consistent read of both tables
            try:
                for table in self._tables(conn):
                    cursor = conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid')  # noqa: S608  # constant
                    columns = tuple(d[0] for d in cursor.description)
                    tables[table] = (columns, cursor.fetchall())
            finally:
                conn.execute("COMMIT")
        return Snapshot(tables)

    def state(self) -> StoreState:
        return self.snapshot().state()

    def restore(self, snapshot: Snapshot) -> None:
        """Write the snapshot back: one IMMEDIATE transaction, so the action server never sees half."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for table, (columns, rows) in snapshot.tables.items():
                    names = ", ".join(f'"{c}"' for c in columns)
                    marks = ", ".join("?" for _ in columns)
                    conn.execute(f'DELETE FROM "{table}"')  # noqa: S608  # a constant table name
                    conn.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)  # noqa: S608
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


# -- one run ------------------------------------------------------------------------------------------


@dataclass
class SuiteRun:
    target: Target
    outcomes: list[Outcome] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0
    warmup_seconds: float = 0.0
    store_rows: dict[str, int] = field(default_factory=dict)


def warmup_turns(seed_path: Path) -> list[str]:
    """A greeting and an order status with the order's e-mail address: the first order lookup is what
    makes the action server seed the store. Nothing is changed."""
    try:
        seed = yaml.safe_load(seed_path.read_text("utf-8"))
        emails = {c["id"]: c.get("email") for c in seed["customers"]}
        order = next(o for o in seed["orders"] if emails.get(o["customer"]))
        return ["hi", f"where is my order {order['id']}?", str(emails[order["customer"]])]
    except (OSError, KeyError, TypeError, StopIteration, yaml.YAMLError):
        return ["hi", "where is my order SO-10001021?"]


class Runner:
    def __init__(
        self,
        target: Target,
        *,
        request_timeout: float = 60.0,
        settle: float = 1.0,
        run_tag: str | None = None,
        progress: Callable[[int, int, Outcome], None] | None = None,
    ) -> None:
        self.target = target
        self.settle = settle
        self.run_tag = run_tag or datetime.now(timezone.utc).strftime("%H%M%S") + secrets.token_hex(2)
        self.progress = progress
        self.db = OrderDb(target.order_db)
        headers = {"Authorization": f"Bearer {target.rest_token}"} if target.rest_token else {}
        self.http = httpx.Client(base_url=target.hub_url, headers=headers, timeout=request_timeout)
        self.redis = redis.Redis.from_url(target.redis_url, decode_responses=True)
        self.baseline: Snapshot | None = None

    def close(self) -> None:
        self.http.close()
        self.redis.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- talking to the hub -----------------------------------------------------------------------------

    def send(self, sender: str, text: str, customer_id: str | None) -> Turn:
        body: dict[str, Any] = {"sender": sender, "message": text}
        if customer_id:
            body["metadata"] = {"customer_id": customer_id}
        turn = Turn(text)
        for _ in range(MAX_RETRIES_429 + 1):
            began = time.perf_counter()
            try:
                response = self.http.post("/webhooks/rest/webhook", json=body)
            except httpx.HTTPError as exc:
                turn.error = f"{type(exc).__name__}: {exc}"[:200]
                return turn
            elapsed = (time.perf_counter() - began) * 1000
            if response.status_code == 429:  # a limit of a stack not started for the benchmark
                time.sleep(min(float(response.headers.get("Retry-After") or 5), 60.0))
                continue
            break
        turn.status = response.status_code
        if response.status_code != 200:
            turn.error = f"HTTP {response.status_code}: {response.text[:160]}"
            return turn
        try:
            replies = response.json()
        except ValueError:
            replies = None
        if not isinstance(replies, list):
            turn.error = f"unexpected reply body: {response.text[:160]}"
            return turn
        turn.latency_ms = elapsed
        turn.replies = [
            {k: r[k] for k in ("text", "buttons", "custom") if k in r} for r in replies if isinstance(r, dict)
        ]
        return turn

    def history(self, sender: str) -> list[dict[str, Any]]:
        response = self.http.get("/webhooks/rest/messages", params={"sender": sender})
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, list):
            raise ValueError(f"unexpected body: {response.text[:160]}")
        return [m for m in body if isinstance(m, dict)]

    def handoff_state(self, sender: str) -> tuple[str | None, dict[str, Any] | None]:
        conversation = f"rest-{sender}"
        owner = self.redis.hget(keys.conversation(conversation), "owner")
        raw = self.redis.get(keys.handoff_packet(conversation))
        packet = json.loads(str(raw)) if raw else None
        return (str(owner) if owner else None), packet

    def clear_attempts(self) -> None:
        names = list(self.redis.scan_iter(match=ATTEMPT_KEYS, count=500))
        if names:
            self.redis.delete(*names)

    # -- the run ----------------------------------------------------------------------------------------

    def prepare(self, seed_path: Path = ROOT / "data" / "orders" / "orders.yml") -> float:
        """Warm up, wait for the seeded store and take the snapshot; returns the seconds it took."""
        began = time.monotonic()
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            raise RunnerError(f"Redis of {self.target.label}: {exc}") from exc
        sender = f"scn-{self.run_tag}-warmup"
        for text in warmup_turns(seed_path):
            turn = self.send(sender, text, None)
            if turn.error:
                raise RunnerError(f"warm-up message {text!r} to {self.target.hub_url}: {turn.error}")
        deadline = time.monotonic() + SEED_TIMEOUT
        while not self.db.seeded():
            if time.monotonic() > deadline:
                raise RunnerError(
                    f"the order store {self.target.order_db} was not seeded by the action server"
                )
            time.sleep(0.5)
        self.baseline = self.db.snapshot()
        self.clear_attempts()
        return time.monotonic() - began

    def reset(self) -> None:
        assert self.baseline is not None, "prepare() first"
        self.db.restore(self.baseline)
        self.clear_attempts()

    def run_one(self, scenario: Scenario) -> Outcome:
        assert self.baseline is not None, "prepare() first"
        self.reset()
        before = self.baseline.state()
        sender = f"scn-{self.run_tag}-{scenario.id}"[:SENDER_MAX]
        observation = Observation(sender=sender, turns=[])
        expected_return = scenario.expect.return_ if isinstance(scenario.expect.return_, tuple) else None
        seen: list[str] = []
        for n, text in enumerate(scenario.turns, start=1):
            turn = self.send(sender, text, scenario.customer_id)
            now = self.db.state()
            changes = describe_changes(before, now)
            turn.store_changes = [line for line in changes if line not in seen]
            seen = changes
            if (
                expected_return
                and observation.return_turn is None
                and expected_return in now.returns
                and expected_return not in before.returns
            ):
                observation.return_turn = n
            observation.turns.append(turn)
        time.sleep(self.settle)  # hub notices (queue position) arrive after the webhook's answer
        replies = [r for t in observation.turns for r in t.replies]
        try:
            observation.later = later_messages(self.history(sender), replies)
        except (httpx.HTTPError, ValueError) as exc:
            observation.later_error = f"{type(exc).__name__}: {exc}"[:200]
        observation.owner, observation.packet = self.handoff_state(sender)
        return evaluate(scenario, observation, before, self.db.state())

    def run(self, scenarios: Sequence[Scenario]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        try:
            for i, scenario in enumerate(scenarios, start=1):
                outcomes.append(self.run_one(scenario))
                if self.progress:
                    self.progress(i, len(scenarios), outcomes[-1])
        finally:
            if self.baseline is not None:
                self.reset()  # leave the store as it was found
        return outcomes


def run_suite(
    target: Target,
    scenarios: Sequence[Scenario],
    *,
    seed_path: Path = ROOT / "data" / "orders" / "orders.yml",
    settle: float = 1.0,
    request_timeout: float = 60.0,
    run_tag: str | None = None,
    progress: Callable[[int, int, Outcome], None] | None = None,
) -> SuiteRun:
    """Run the scenarios against an already running stack."""
    run = SuiteRun(target, started=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    began = time.monotonic()
    with Runner(
        target, request_timeout=request_timeout, settle=settle, run_tag=run_tag, progress=progress
    ) as runner:
        run.warmup_seconds = runner.prepare(seed_path)
        assert runner.baseline is not None
        run.store_rows = runner.baseline.counts
        run.outcomes = runner.run(scenarios)
    run.seconds = time.monotonic() - began
    return run
