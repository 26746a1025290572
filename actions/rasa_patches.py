"""Speed fixes for the Rasa 3.6 server process, installed by the modules Rasa imports from
this project (the NLU component and the tracker store). Nothing here changes behaviour.

Rasa validates every action-server response with ``jsonschema.validate(result, spec)``,
which first checks ``spec`` itself against the JSON Schema 2020-12 metaschema: ~25 ms of
CPU on every custom-action call, three calls per form turn (measured with py-spy: more
than a third of the server's busy time). Here the validator is built and the schema
checked once; every response is still validated, and an invalid one raises the same
``ValidationError`` with the same message as before.
"""
import logging
from typing import Any, Dict, Text

logger = logging.getLogger(__name__)

_INSTALLED = False


def _action_response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def install() -> bool:
    """Idempotent. Returns False (and logs) if this Rasa version does not have what is
    patched, so a Rasa upgrade degrades to Rasa's own (slower) code, never breaks."""
    global _INSTALLED
    if _INSTALLED:
        return True
    try:
        from jsonschema.exceptions import best_match
        from rasa.core.actions.action import RemoteAction
        original = RemoteAction._validate_action_result
        validator = _action_response_validator()
    except (ImportError, AttributeError) as e:  # pragma: no cover - other Rasa versions
        logger.warning("Rasa speed fix not installed: %s", e)
        return False

    def _validate_action_result(self: Any, result: Dict[Text, Any]) -> bool:
        error = best_match(validator.iter_errors(result))
        if error is None:
            return True
        return original(self, result)  # raises Rasa's own error, with its wording

    RemoteAction._validate_action_result = _validate_action_result
    _INSTALLED = True
    return True
