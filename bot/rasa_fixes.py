"""Runtime fixes to Rasa 3.6 that the Rasa server process installs before it starts (`bot.rasa_main`).

Action-server responses: Rasa checks every response of the action server against its event schema with
`jsonschema.validate(result, schema)`, and that function first validates the schema itself against the
JSON-Schema metaschema. For Rasa's large event schema that meta-check costs about 60 ms of CPU per custom
action call on the 2-core machine, and a customer message makes two or three such calls (slot validation,
the answering action), so it was over half of the Rasa server's CPU per message (docs/benchmarks.md, "Hub
overhead"). The schema is a constant, so it is checked once here and one validator is reused; responses
are validated exactly as before (same schema, same best-matching error, same message).
"""

from __future__ import annotations

import functools
from typing import Any

_INSTALLED = False


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

    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
    _INSTALLED = True
