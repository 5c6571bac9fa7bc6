"""Runtime fixes to Rasa 3.6 that the Rasa server process installs before it starts (`bot.rasa_main`).

Action-server responses: Rasa checks every response of the action server against its event schema with
`jsonschema.validate(result, schema)`, and that function first validates the schema itself against the
JSON-Schema metaschema. For Rasa's large event schema that meta-check costs about 60 ms of CPU per custom
action call on the 2-core machine, and a customer message makes two or three such calls (slot validation,
the answering action), so it was over half of the Rasa server's CPU per message (docs/benchmarks.md, "Hub
overhead"). The schema is a constant, so it is checked once here and one validator is reused; responses
are validated exactly as before (same schema, same best-matching error, same message).

Endpoint sessions: `EndpointConfig.request` opens a new aiohttp session, and so a new TCP connection, for
every call to the action server. Each endpoint here keeps one session per event loop instead, its
connections kept alive for less time (KEEPALIVE_SECONDS) than the action server keeps them (Sanic: 120 s),
so the client always closes an idle connection first and never writes into one the server is closing.
"""

from __future__ import annotations

import functools
from typing import Any

_INSTALLED = False
KEEPALIVE_SECONDS = 30.0


class _KeptSession:
    """What `EndpointConfig.session()` returns here: `async with` yields the endpoint's kept session and
    leaves it open."""

    def __init__(self, session: Any) -> None:
        self._session = session

    async def __aenter__(self) -> Any:
        return self._session

    async def __aexit__(self, *exc_info: object) -> None:
        return None


def kept_session(self: Any) -> _KeptSession:
    """Drop-in for `EndpointConfig.session`: one aiohttp session per endpoint and event loop."""
    import asyncio

    import aiohttp
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    loop = asyncio.get_running_loop()
    session = self.__dict__.get("_kept_session")
    if session is None or session.closed or self.__dict__.get("_kept_loop") is not loop:
        auth = None
        if self.basic_auth:
            auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
        session = aiohttp.ClientSession(
            headers=self.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
        )
        self.__dict__["_kept_session"] = session
        self.__dict__["_kept_loop"] = loop
    return _KeptSession(session)


@functools.cache
def _action_response_validator() -> Any:
    from jsonschema import validators
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)  # once per process instead of once per action call
    return cls(schema)


def validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    """Drop-in for `RemoteAction._validate_action_result`, with the validator built once."""
    from jsonschema import ValidationError, exceptions
    from rasa.shared.constants import DOCS_BASE_URL

    error = exceptions.best_match(_action_response_validator().iter_errors(result))
    if error is None:
        return True
    if isinstance(error, ValidationError):
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
    raise error


def install() -> None:
    """Apply the fixes (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import EndpointConfig

    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
    EndpointConfig.session = kept_session  # type: ignore[method-assign,assignment]
    _INSTALLED = True
