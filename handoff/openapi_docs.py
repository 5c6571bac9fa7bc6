"""Shared pieces of the OpenAPI document (sanic-ext, /docs/openapi.json): the security schemes of the
team's API and the widget's photos, schema helpers, and `documented`, the decorator that declares an
operation's body, query parameters, security and status codes in one place.

Declarations only: nothing here changes how a route behaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sanic import Blueprint, Sanic
from sanic_ext.extensions.openapi import openapi

from handoff.accounts import SESSION_COOKIE

T = TypeVar("T")

# sanic-ext leaves its schema classes unannotated: one Any-typed handle keeps every call site typed.
_oa: Any = openapi

API_TOKEN = "api_token"  # noqa: S105  # a scheme name, not a secret
CONSOLE_SESSION = "console_session"
CSRF_TOKEN = "csrf_token"  # noqa: S105  # a scheme name, not a secret
WIDGET_SESSION = "widget_session"
CSRF_HEADER = "X-CSRF-Token"

# Who may call: an API token, or the console's session cookie (with its CSRF header on state-changing
# requests). Alternatives, in the order the server tries them: a bearer token wins over a cookie.
TEAM_READ: list[dict[str, list[str]]] = [{API_TOKEN: []}, {CONSOLE_SESSION: []}]
TEAM_WRITE: list[dict[str, list[str]]] = [{API_TOKEN: []}, {CONSOLE_SESSION: [], CSRF_TOKEN: []}]
API_ONLY: list[dict[str, list[str]]] = [{API_TOKEN: []}]
SESSION_READ: list[dict[str, list[str]]] = [{CONSOLE_SESSION: []}]
SESSION_WRITE: list[dict[str, list[str]]] = [{CONSOLE_SESSION: [], CSRF_TOKEN: []}]
WIDGET: list[dict[str, list[str]]] = [{WIDGET_SESSION: []}]

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    304: "Not modified (If-None-Match matched the ETag)",
    400: "Bad input; `field` names it",
    401: "Missing, wrong or expired credentials",
    403: "Not allowed for this caller (role, ownership, CSRF header or origin)",
    404: "Unknown resource",
    409: "The current state does not allow it",
    413: "Body too large",
    415: "Not a JPEG, PNG or WebP photo",
    429: "Too many requests; see Retry-After",
    503: "A backing service is not available",
}


def string(**schema: Any) -> Any:
    return _oa.String(**schema)


def integer(**schema: Any) -> Any:
    return _oa.Integer(**schema)


def number(**schema: Any) -> Any:
    return _oa.Float(**schema)


def boolean(**schema: Any) -> Any:
    return _oa.Boolean(**schema)


def array(items: Any, **schema: Any) -> Any:
    return _oa.Array(items=items, **schema)


def obj(properties: Mapping[str, Any] | None = None, required: Sequence[str] = (), **schema: Any) -> Any:
    if required:
        schema["required"] = list(required)
    return _oa.Object(properties=dict(properties or {}), **schema)


def nullable_string(**schema: Any) -> Any:
    return string(nullable=True, **schema)


ERROR = obj({"error": string(), "message": string(), "field": string()})


def query(name: str, schema: Any, description: str | None = None, required: bool = False) -> Any:
    return openapi.definitions.Parameter(name, schema, "query", description=description, required=required)


def documented(
    *,
    security: list[dict[str, list[str]]] | None,
    ok: int = 200,
    errors: Iterable[int] = (400, 401, 403),
    body: Any = None,
    body_required: bool = True,
    body_description: str | None = None,
    params: Sequence[Any] = (),
    ok_schema: Any = None,
    ok_description: str | None = None,
    also: Iterable[int] = (),
) -> Callable[[T], T]:
    """Declare an operation: its JSON body, query parameters, security alternatives and answers."""
    responses = [
        openapi.definitions.Response(
            {"application/json": ok_schema if ok_schema is not None else obj()},
            status=ok,
            description=ok_description or _STATUS_TEXT.get(ok, "OK"),
        ),
        *(
            openapi.definitions.Response(
                {"application/json": obj()} if status < 300 else None,
                status=status,
                description=_STATUS_TEXT.get(status, ""),
            )
            for status in also
        ),
        *(
            openapi.definitions.Response(
                {"application/json": ERROR}, status=status, description=_STATUS_TEXT.get(status, "")
            )
            for status in sorted(set(errors))
        ),
    ]
    kwargs: dict[str, Any] = {"response": responses}
    if body is not None:
        kwargs["body"] = openapi.definitions.RequestBody(
            {"application/json": body}, description=body_description, required=body_required
        )
    if params:
        kwargs["parameter"] = list(params)

    def decorate(func: T) -> T:
        func = openapi.definition(**kwargs)(func)
        for alternative in security or ():
            func = openapi.secured(alternative)(func)
        return func

    return decorate


def describe_security(bp: Blueprint) -> None:
    """Registers the security schemes above when the app serving `bp` starts."""

    @bp.before_server_start
    def _schemes(app: Sanic) -> None:  # type: ignore[type-arg]
        openapi_ext = app.ext.openapi
        openapi_ext.add_security_scheme(
            API_TOKEN,
            "http",
            scheme="bearer",
            description="An API token (service, agent, supervisor, admin or editor): "
            "`Authorization: Bearer`. Sent with a console session cookie, the token wins.",
        )
        openapi_ext.add_security_scheme(
            CONSOLE_SESSION,
            "apiKey",
            location="cookie",
            name=SESSION_COOKIE,
            description="The console's session cookie, set by POST /api/session.",
        )
        openapi_ext.add_security_scheme(
            CSRF_TOKEN,
            "apiKey",
            location="header",
            name=CSRF_HEADER,
            description="The session's CSRF token (from POST or GET /api/session), required with the session "
            "cookie on POST, PUT, PATCH and DELETE.",
        )
        openapi_ext.add_security_scheme(
            WIDGET_SESSION,
            "http",
            scheme="bearer",
            description="The widget session token from POST /api/widget/session: `Authorization: Bearer`.",
        )
