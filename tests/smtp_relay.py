"""A real SMTP server (aiosmtpd) on a loopback port, standing in for the store's relay: the handler given
decides what it answers and keeps what it receives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller

from tests.redis_server import free_port


@contextmanager
def running_relay(handler: Any, port: int | None = None) -> Iterator[int]:
    """Serve `handler` (aiosmtpd hooks) on `port` (a free one if None); yields the port."""
    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
