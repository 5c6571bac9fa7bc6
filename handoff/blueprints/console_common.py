"""What the console's blueprints share: the services they call, the same-origin check of sign-in and the
live socket, and their one section of the API reference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sanic.request import Request
from sanic_ext.extensions.openapi import openapi

from handoff.accounts import Accounts
from handoff.inbox import Inbox
from handoff.routing.engine import RoutingEngine

Handler = TypeVar("Handler", bound=Callable[..., Any])

# The API reference's section for every console route, and the prefix of their operation ids; the live
# socket's blueprint carries this name (handoff/blueprints/console_events.py).
CONSOLE_SECTION = "console"


def console_operation(method: str) -> Callable[[Handler], Handler]:
    """Files the route under the console section as `<method>~console.<handler name>`: the reference
    would otherwise name each operation after the blueprint that serves it."""

    def decorate(handler: Handler) -> Handler:
        operation_id = f"{method}~{CONSOLE_SECTION}.{handler.__name__}"
        return openapi.operation(operation_id)(openapi.tag(CONSOLE_SECTION)(handler))

    return decorate


def accounts_of(request: Request) -> Accounts:
    found: Accounts = request.app.ctx.accounts
    return found


def routing_of(request: Request) -> RoutingEngine:
    engine: RoutingEngine = request.app.ctx.routing
    return engine


def inbox_of(request: Request) -> Inbox:
    # Stateless over the worker's Redis pool: cheaper to make per request than to keep on the app.
    return Inbox(request.app.ctx.redis)


def same_origin(request: Request) -> bool:
    """True when the Origin header (if any) names this service, scheme included: browsers always send it
    cross-site. Behind a TLS proxy (HUB_COOKIE_SECURE=1) the public scheme is https."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    scheme = "https" if request.app.ctx.settings.cookie_secure else request.scheme.replace("ws", "http")
    return bool(parts.netloc == request.host and parts.scheme == scheme)
