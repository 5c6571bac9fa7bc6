"""The order event poster and the demo CLI against a stand-in hub on a real loopback socket: the hub's
documented webhook rules (signature 401, body 400 with its field, a seen event id 409, else 202) with its
own signature check and event parser, plus the failures a network brings (a 503, a dropped connection,
nobody listening)."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from actions.orders import demo_events
from actions.orders.events import (
    EventType,
    HubRefused,
    HubUnavailable,
    OrderEventPoster,
    order_event,
)
from actions.orders.model import Order, OrderItem, OrderStatus
from actions.orders.sqlite_store import SqliteOrderStore
from common.webhook_signature import HEADER, SignatureError, verify
from handoff.proactive.events import EventError, parse_event

pytestmark = pytest.mark.integration

SECRET = "order-webhook-secret-0123"
SEED = Path(__file__).resolve().parents[2] / "data" / "orders" / "orders.yml"
ITEM = OrderItem("SHOE-RUN-42", "Running shoes", "跑步鞋", "shoes", 119.0, 1, "new")


@dataclass
class StandInHub:
    """What the hub's POST /webhooks/orders does, in the order docs/proactive.md gives."""

    url: str = ""
    requests: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    fail_with: list[int] = field(default_factory=list)  # statuses answered before the rules apply
    drop_after_recording: int = 0  # events taken whose answer is lost (the connection closes)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, signature: str | None, body: bytes) -> tuple[int, dict[str, Any]] | None:
        with self.lock:
            self.requests += 1
            if path != "/webhooks/orders":
                return 404, {"error": "not_found", "message": f"no route {path}"}
            if self.fail_with:
                return self.fail_with.pop(0), {
                    "error": "unavailable",
                    "message": "storage is briefly unavailable",
                }
            try:
                verify(SECRET, signature, body, time.time())
            except SignatureError as exc:
                return 401, {"error": "unauthorized", "message": str(exc)}
            try:
                event = parse_event(body)
            except EventError as exc:
                return 400, {"error": "bad_request", "message": str(exc), "field": exc.field}
            if event.event_id in self.seen:
                return 409, {
                    "error": "duplicate_event",
                    "message": f"event {event.event_id} was received already",
                }
            self.seen.add(event.event_id)
            self.events.append(json.loads(body))
            if self.drop_after_recording:
                self.drop_after_recording -= 1
                return None
            return 202, {"event_id": event.event_id, "accepted": True}


@pytest.fixture
def hub() -> Iterator[StandInHub]:
    state = StandInHub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            outcome = state.answer(self.path, self.headers.get(HEADER), body)
            if outcome is None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            status, payload = outcome
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def closed_port_url() -> str:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def poster(url: str, secret: str = SECRET) -> OrderEventPoster:
    return OrderEventPoster(url, secret, timeout=5.0, retry_delay=0)


def event(**changes: Any) -> dict[str, Any]:
    order = Order(
        id="SO-10001021", customer_id="cust-1001", status=OrderStatus.SHIPPED, currency="USD",
        placed_on=date(2026, 3, 1), items=(ITEM,), shipped_on=date(2026, 3, 2), eta=date(2026, 3, 4),
        carrier="UPS", tracking_number="1Z68118295906", email="alice.carter@example.com",
    )  # fmt: skip
    return {
        **order_event(order, EventType.ORDER_UPDATED, datetime.now().astimezone(), language="en"),
        **changes,
    }


async def test_an_event_is_taken_once_and_a_repeat_is_reported_as_a_duplicate(hub: StandInHub) -> None:
    sent = event()
    first = await poster(hub.url).post(sent)
    assert (first.event_id, first.status, first.duplicate) == (sent["event_id"], 202, False)
    assert hub.events == [sent]  # the exact body, signed and parsed by the hub's own code
    again = await poster(hub.url).post(sent)
    assert (again.status, again.duplicate) == (409, True)
    assert again.message == f"event {sent['event_id']} was received already"
    assert len(hub.events) == 1


async def test_a_wrong_secret_is_refused_with_the_hubs_reason(hub: StandInHub) -> None:
    with pytest.raises(HubRefused) as refused:
        await poster(hub.url, "another-secret-0123456").post(event())
    assert refused.value.status == 401
    assert "refused the signature" in str(refused.value)
    assert "the signature does not match the body" in str(refused.value)
    assert hub.events == [] and hub.requests == 1  # not retried: a second try cannot fare better


async def test_a_body_the_hub_cannot_take_names_its_field(hub: StandInHub) -> None:
    sent = event()
    sent["order"] = {**sent["order"], "promised_on": "2026-03-05"}  # misspelt: refused, not ignored
    with pytest.raises(HubRefused) as refused:
        await poster(hub.url).post(sent)
    assert (refused.value.status, refused.value.field) == (400, "order.promised_on")
    assert "order.promised_on: is not a known field" in str(refused.value)


async def test_a_hub_failing_over_is_tried_once_more(hub: StandInHub) -> None:
    hub.fail_with = [503]
    delivery = await poster(hub.url).post(event())
    assert (delivery.status, hub.requests, len(hub.events)) == (202, 2, 1)


async def test_a_hub_failing_twice_is_unavailable(hub: StandInHub) -> None:
    hub.fail_with = [503, 503]
    with pytest.raises(HubUnavailable, match=r"failed \(503\): storage is briefly unavailable"):
        await poster(hub.url).post(event())
    assert hub.events == []


async def test_a_lost_answer_is_retried_and_the_hub_says_it_has_the_event(hub: StandInHub) -> None:
    hub.drop_after_recording = 1
    delivery = await poster(hub.url).post(event())
    assert (delivery.status, delivery.duplicate, hub.requests, len(hub.events)) == (409, True, 2, 1)


async def test_nobody_listening_is_unavailable_naming_the_address() -> None:
    url = closed_port_url()
    with pytest.raises(
        HubUnavailable, match=f"the hub at {url}/webhooks/orders is unreachable: ConnectError"
    ):
        await poster(url).post(event())


async def test_a_wrong_path_is_refused_with_the_status(hub: StandInHub) -> None:
    wrong = poster(hub.url)
    wrong.url = f"{hub.url}/webhooks/order"
    with pytest.raises(HubRefused, match="answered 404: no route /webhooks/order") as refused:
        await wrong.post(event())
    assert refused.value.status == 404


# The CLI: the demo store (a copy of one seeded today) changes, then the event goes out.


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    database = tmp_path_factory.mktemp("seeded") / "orders.sqlite"
    asyncio.run(SqliteOrderStore(database, SEED).get("SO-10001021"))
    return database


@pytest.fixture
def order_db(tmp_path: Path, seeded: Path) -> Path:
    copy = tmp_path / "orders.sqlite"
    with closing(sqlite3.connect(seeded)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    return copy


def cli(args: list[str], url: str, order_db: Path, secret: str | None = SECRET) -> int:
    env = {"HUB_URL": url, "ORDER_DB": str(order_db), "ORDER_SEED": str(SEED)}
    if secret is not None:
        env["ORDER_WEBHOOK_SECRET"] = secret
    return demo_events.main(args, env)


def trail(order_db: Path, order_id: str) -> list[str]:
    store = SqliteOrderStore(order_db, SEED)
    return [e.event for e in asyncio.run(store.audit_trail(order_id))]


def test_the_cli_makes_an_order_late_and_tells_the_hub(
    hub: StandInHub, order_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["late", "so 10001021"], hub.url, order_db) == 0
    [posted] = hub.events
    assert capsys.readouterr().out == f"{posted['event_id']} order.updated SO-10001021: hub 202: accepted\n"
    order = posted["order"]
    assert (posted["type"], order["id"], order["status"], order["customer_id"]) == (
        "order.updated", "SO-10001021", "shipped", "cust-1001",
    )  # fmt: skip
    assert date.fromisoformat(order["promised_by"]) < date.today()
    assert order["language"] == "en"  # the demo customer's own
    assert trail(order_db, "SO-10001021") == ["eta_changed"]


@pytest.mark.parametrize(
    ("args", "event_type", "checks"),
    [
        (["exception", "SO-10001021", "--text", "Address not found"], "shipment.exception",
         {"exception": "Address not found", "status": "shipped"}),
        (["refund", "SO-10001158", "--amount", "12.5", "--language", "en"], "refund.processed",
         {"refund_amount": 12.5, "currency": "CNY", "language": "en", "status": "returned"}),
        (["ship", "SO-10001569", "--carrier", "FedEx", "--tracking-number", "7712 3456"], "order.updated",
         {"status": "shipped", "carrier": "FedEx", "tracking_number": "7712 3456"}),
        (["stuck", "SO-10001569", "--days", "4"], "order.updated", {"status": "processing"}),
        (["deliver", "SO-10001021"], "order.updated", {"status": "delivered"}),
        (["return-received", "SO-10002254"], "return.received", {"status": "returned", "language": "zh"}),
    ],
)  # fmt: skip
def test_each_command_posts_its_event(
    hub: StandInHub, order_db: Path, args: list[str], event_type: str, checks: dict[str, Any]
) -> None:
    assert cli(args, hub.url, order_db) == 0
    [posted] = hub.events
    assert posted["type"] == event_type
    assert {name: posted["order"][name] for name in checks} == checks


@pytest.mark.parametrize(
    ("args", "url", "secret", "message"),
    [
        (["deliver", "SO-00000000"], None, SECRET, "unknown order SO-00000000"),
        (["deliver", "not-an-order"], None, SECRET, "'not-an-order' is not an order number like SO-12345678"),
        (["deliver", "SO-10001569"], None, SECRET, "order SO-10001569 is paid, not shipped"),
        (["refund", "SO-10001158", "--amount", "0"], None, SECRET, "amount must be more than 0"),
        (["deliver", "SO-10001021"], None, None, "ORDER_WEBHOOK_SECRET must be set"),
        (["deliver", "SO-10001021"], None, "another-secret-0123456", "the hub refused the signature"),
        (["deliver", "SO-10001021"], "closed", SECRET, "the hub was not told: the hub at"),
    ],
)
def test_the_cli_fails_with_one_line_naming_the_problem(
    hub: StandInHub,
    order_db: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    url: str | None,
    secret: str | None,
    message: str,
) -> None:
    target = closed_port_url() if url == "closed" else hub.url
    assert cli(args, target, order_db, secret) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"{demo_events.PROG}: error: ") and captured.err.count("\n") == 1
    assert message in captured.err
    assert hub.events == []


def test_without_a_secret_the_store_is_left_as_it_was(hub: StandInHub, order_db: Path) -> None:
    assert cli(["deliver", "SO-10001021"], hub.url, order_db, secret=None) == 1
    assert trail(order_db, "SO-10001021") == [] and hub.requests == 0
