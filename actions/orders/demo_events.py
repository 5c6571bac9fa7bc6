"""Move a demo order along and tell the hub, as a shop backend would: the demo store (the action server's,
ORDER_DB and ORDER_SEED) is changed, then the signed order event is posted to {HUB_URL}/webhooks/orders with
ORDER_WEBHOOK_SECRET.

    python -m actions.orders.demo_events late SO-10001021 [--days 2]
    python -m actions.orders.demo_events stuck SO-10001569 [--days 5]
    python -m actions.orders.demo_events ship SO-10001843 [--carrier UPS --tracking-number 1Z999]
    python -m actions.orders.demo_events exception SO-10001021 --text "Address not found"
    python -m actions.orders.demo_events deliver SO-10001021
    python -m actions.orders.demo_events return-received SO-10002254
    python -m actions.orders.demo_events refund SO-10001158 --amount 12.5

Each takes `--language en|zh` for the customer's messages (default: the language on the demo customer's
record). Prints the event id and the hub's answer; exits 1 with a one-line error otherwise. The store
re-seeds daily, which undoes every move.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from actions.orders.events import (
    LANGUAGES,
    Delivery,
    EventBodyError,
    EventType,
    OrderEventPoster,
    PostError,
    order_event,
)
from actions.orders.model import Order, OrderStateError
from actions.orders.sqlite_store import SqliteOrderStore
from actions.settings import ROOT
from common.env import SettingsError
from common.patterns import ORDER_ID, normalise_order_id

PROG = "python -m actions.orders.demo_events"


class DemoError(Exception):
    """A one-line reason to stop."""


@dataclass(frozen=True)
class Moved:
    order: Order
    event_type: EventType
    exception: str | None = None
    refund_amount: float | None = None


def store_from_env(env: Mapping[str, str]) -> SqliteOrderStore:
    """The action server's demo store (the same variables and defaults as actions.settings)."""
    return SqliteOrderStore(
        Path(env.get("ORDER_DB") or ROOT / "var" / "orders.sqlite"),
        Path(env.get("ORDER_SEED") or ROOT / "data" / "orders" / "orders.yml"),
    )


def demo_tracking(currency: str) -> tuple[str, str]:
    """A carrier and a fresh tracking number in the style of the seed's orders."""
    digits = f"{secrets.randbelow(10**11):011d}"
    return ("顺丰速运", f"SF{digits}") if currency == "CNY" else ("UPS", f"1Z{digits}")


async def move(store: SqliteOrderStore, args: argparse.Namespace, order_id: str) -> Moved:
    """The command's change to the order, and the event that tells the hub about it."""
    command = args.command
    if command == "late":
        return Moved(await store.make_late(order_id, args.days), EventType.ORDER_UPDATED)
    if command == "stuck":
        return Moved(await store.make_stuck(order_id, args.days), EventType.ORDER_UPDATED)
    if command == "ship":
        order = await store.get(order_id)
        if order is None:
            raise KeyError(order_id)
        carrier, tracking = demo_tracking(order.currency)
        shipped = await store.ship(order_id, args.carrier or carrier, args.tracking_number or tracking)
        return Moved(shipped, EventType.ORDER_UPDATED)
    if command == "exception":
        order = await store.report_exception(order_id, args.text)
        return Moved(order, EventType.SHIPMENT_EXCEPTION, exception=args.text)
    if command == "deliver":
        return Moved(await store.deliver(order_id), EventType.ORDER_UPDATED)
    if command == "return-received":
        return Moved(await store.receive_return(order_id), EventType.RETURN_RECEIVED)
    if command == "refund":
        order = await store.refund(order_id, args.amount)
        return Moved(order, EventType.REFUND_PROCESSED, refund_amount=args.amount)
    raise DemoError(f"unknown command {command!r}")


def order_number(text: str) -> str:
    """The canonical number of an argument that is one order number and nothing else."""
    canonical = normalise_order_id(text) if ORDER_ID.fullmatch(text.strip()) else None
    if canonical is None:
        raise DemoError(f"{text!r} is not an order number like SO-12345678")
    return canonical


async def run(
    args: argparse.Namespace, store: SqliteOrderStore, poster: OrderEventPoster
) -> tuple[dict[str, Any], Delivery]:
    order_id = order_number(args.order_id)
    try:
        moved = await move(store, args, order_id)
    except KeyError:
        raise DemoError(f"unknown order {order_id} (is ORDER_DB the action server's store?)") from None
    except (OrderStateError, ValueError) as exc:
        raise DemoError(str(exc)) from None
    language = args.language or await store.customer_language(moved.order.customer_id)
    try:
        event = order_event(
            moved.order,
            moved.event_type,
            datetime.now().astimezone(),
            language=language if language in LANGUAGES else None,
            exception=moved.exception,
            refund_amount=moved.refund_amount,
        )
        return event, await poster.post(event)
    except (EventBodyError, PostError) as exc:
        raise DemoError(
            f"order {order_id} changed in the demo store, but the hub was not told: {exc}"
        ) from None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = top.add_subparsers(dest="command", required=True, metavar="command")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("order_id", help="the order number, like SO-10001021")
        sub.add_argument("--language", choices=LANGUAGES, help="the customer's language for the messages")
        return sub

    late = command("late", "the promised date passes while the order is processing or shipped")
    late.add_argument("--days", type=_positive_int, default=2, help="days overdue (default 2)")
    stuck = command("stuck", "the order was placed long ago and is still processing")
    stuck.add_argument("--days", type=_positive_int, default=5, help="days since it was placed (default 5)")
    ship = command("ship", "the paid order ships today")
    ship.add_argument("--carrier", help="default: UPS, or 顺丰速运 for an order in CNY")
    ship.add_argument("--tracking-number", help="default: a new one in the carrier's style")
    exception = command("exception", "the carrier reports a delivery problem with the shipped order")
    exception.add_argument("--text", required=True, help="the carrier's words, up to 500 characters")
    command("deliver", "the shipped order is delivered today")
    command("return-received", "the delivered order's returned parcel arrives today")
    refund = command("refund", "a refund of the dispatched order is issued today")
    refund.add_argument("--amount", type=float, required=True, help="in the order's currency, like 12.5")
    return top


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    args = parser().parse_args(argv)
    try:
        poster = OrderEventPoster.from_env(env)  # before anything changes: a missing secret stops here
        event, delivery = asyncio.run(run(args, store_from_env(env), poster))
    except (DemoError, SettingsError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    answer = "409, it had this event already" if delivery.duplicate else str(delivery.status)
    print(f"{event['event_id']} {event['type']} {event['order']['id']}: hub {answer}: {delivery.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
