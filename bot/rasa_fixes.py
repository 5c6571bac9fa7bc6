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

The domain in action calls: Rasa 3.6 sends the whole domain (about 50 KB of JSON here) with every call
to the action server, to be serialised, sent and parsed each time. rasa-sdk 3.8+ keeps the last domain it
was sent with its digest and answers 449 when a call names a digest it does not have; Rasa 3.8+ speaks that
protocol. It is back-ported here: a call carries the domain's digest only, and a 449 is answered by the
same call with the domain (once per action-server process and model).

Event classes: `Event.resolve_by_type` walks every Event subclass for each event it reads, so reading a
stored conversation cost a subclass walk per event. The classes are looked up by name in a table instead,
built on first use (and again for a name it does not know, in case a subclass was defined since).

What the assistant understood: the hub's studio inbox wants each message's intent ranking, and the hub channel
returns it with the replies. `parse_message` is wrapped to note a summary on the output channel when the
channel keeps an `understood` dict, so no second parse and no tracker read is needed.
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


_EVENT_CLASSES: dict[str, Any] = {}


def _event_class_table() -> dict[str, Any]:
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    table: dict[str, Any] = {}
    for cls in all_subclasses(Event):
        table.setdefault(cls.type_name, cls)  # the first match, as Rasa's walk returns
    return table


def resolve_event_type(type_name: str, default: Any = None) -> Any:
    """Drop-in for `Event.resolve_by_type`: the same answers, from a table."""
    cls = _EVENT_CLASSES.get(type_name)
    if cls is None:
        _EVENT_CLASSES.update(_event_class_table())
        cls = _EVENT_CLASSES.get(type_name)
    if cls is not None:
        return cls
    if type_name == "topic":
        return None  # Rasa reads old TopicSet events as nothing
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


DOMAIN_MISSING = 449  # rasa-sdk's answer to a call whose domain digest it does not know


def domain_digest(domain: Any) -> str:
    """A digest of the domain as the action server receives it; computed once per Domain object."""
    import hashlib
    import json

    cached = domain.__dict__.get("_action_call_digest")
    if cached is None:
        encoded = json.dumps(domain.as_dict(), sort_keys=True, ensure_ascii=False).encode()
        cached = hashlib.sha256(encoded).hexdigest()
        domain.__dict__["_action_call_digest"] = cached
    return str(cached)


def action_call_format(self: Any, tracker: Any, domain: Any) -> dict[str, Any]:
    """Drop-in for `RemoteAction._action_call_format`: the domain's digest, and the domain itself only
    when the action server asked for it."""
    import rasa
    from rasa.shared.core.trackers import EventVerbosity

    call = {
        "next_action": self._name,
        "sender_id": tracker.sender_id,
        "tracker": tracker.current_state(EventVerbosity.ALL),
        "version": rasa.__version__,
        "domain_digest": domain_digest(domain),
    }
    if self.__dict__.get("_send_domain"):
        call["domain"] = domain.as_dict()
    return call


_ORIGINAL_RUN: Any = None
# The output channel's attribute that collects the custom actions that failed during a message.
FAILED_ACTIONS = "failed_actions"


async def run_remote_action(self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> Any:
    """Drop-in for `RemoteAction.run`: once more, with the domain, when the action server lacks it.

    A call that fails (the action server down, an error from it) is also noted on the output channel when
    it keeps a `failed_actions` list (bot.channels.hub): Rasa itself logs the failure and carries on
    without the action's events, so a customer asking for a person would get no answer and no person."""
    from rasa.core.actions.action import ActionExecutionRejection
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import ClientResponseError

    try:
        try:
            return await _ORIGINAL_RUN(self, output_channel, nlg, tracker, domain)
        except RasaException as exc:
            cause = exc.__cause__
            if not (isinstance(cause, ClientResponseError) and cause.status == DOMAIN_MISSING):
                raise
        self.__dict__["_send_domain"] = True
        try:
            return await _ORIGINAL_RUN(self, output_channel, nlg, tracker, domain)
        finally:
            self.__dict__["_send_domain"] = False
    except ActionExecutionRejection:  # a form rejecting the input: the dialogue handles it
        raise
    except Exception:
        failed = getattr(output_channel, FAILED_ACTIONS, None)
        if isinstance(failed, list):
            failed.append(self.name())
        raise


# The output channel's attribute that receives a summary of the message's parse (bot.channels.hub).
UNDERSTOOD = "understood"
RANKED = 5  # intents kept from the ranking: enough for an editor to see the close calls
ENTITIES_NOTED = 10
ENTITY_VALUE_CHARS = 100

_ORIGINAL_PARSE: Any = None


def understanding(parse_data: dict[str, Any]) -> dict[str, Any]:
    """What the studio shows of a parse: intent, confidence, the top of the ranking, entities, affect."""
    intent = parse_data.get("intent") or {}
    ranking = [
        {"name": str(r.get("name")), "confidence": round(float(r.get("confidence") or 0.0), 4)}
        for r in (parse_data.get("intent_ranking") or [])[:RANKED]
        if isinstance(r, dict)
    ]
    # Bounded, so the header stays far below HTTP clients' header limits whatever the customer wrote.
    entities = [
        {"entity": str(e.get("entity"))[:40], "value": str(e.get("value"))[:ENTITY_VALUE_CHARS]}
        for e in (parse_data.get("entities") or [])[:ENTITIES_NOTED]
        if isinstance(e, dict)
    ]
    summary: dict[str, Any] = {
        "intent": intent.get("name"),
        "confidence": round(float(intent.get("confidence") or 0.0), 4),
        "ranking": ranking,
        "entities": entities,
    }
    if isinstance(parse_data.get("affect"), dict):
        summary["affect"] = parse_data["affect"]
    return summary


async def parse_message_noted(self: Any, message: Any, *args: Any, **kwargs: Any) -> Any:
    """Drop-in for `MessageProcessor.parse_message` that also notes the parse on a channel that asks."""
    parse_data = await _ORIGINAL_PARSE(self, message, *args, **kwargs)
    noted = getattr(getattr(message, "output_channel", None), UNDERSTOOD, None)
    if isinstance(noted, dict):
        noted.clear()
        noted.update(understanding(parse_data))
    return parse_data


def install() -> None:
    """Apply the fixes (idempotent)."""
    global _INSTALLED, _ORIGINAL_RUN, _ORIGINAL_PARSE
    if _INSTALLED:
        return
    from rasa.core.actions.action import RemoteAction
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import Event
    from rasa.utils.endpoints import EndpointConfig

    _ORIGINAL_RUN = RemoteAction.run
    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
    RemoteAction._action_call_format = action_call_format  # type: ignore[method-assign]
    RemoteAction.run = run_remote_action  # type: ignore[method-assign]
    Event.resolve_by_type = staticmethod(resolve_event_type)  # type: ignore[method-assign,assignment]
    EndpointConfig.session = kept_session  # type: ignore[method-assign,assignment]
    _ORIGINAL_PARSE = MessageProcessor.parse_message
    MessageProcessor.parse_message = parse_message_noted  # type: ignore[method-assign]
    _INSTALLED = True
