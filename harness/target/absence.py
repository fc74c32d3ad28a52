"""Declared absent vs. omitted: what a target file says its system does *not* have.

An explicit ``null`` (or ``none``) for a capability the seeds require of a system (a batch summary, a
state, a correlation id, a retry limit, a deadline, a breaker, a dead-letter state) is a statement:
"our system has none". A check that looks for that capability then *fails* with a finding naming it
(:func:`harness.verdict.absent_capability`). A field the file merely omits says nothing: the check is
``unknown``, and :func:`hint` tells the user which line to add.

Fields are spelled as in a scenario's needs (``observe.batch_fields.summary``, ``timing.batch_deadline_s``,
``logs.correlation_field``, ``control.retry_item``); ``observe.states.<canonical>`` is absent when the
state is listed in ``observe.lacks_states``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from harness.target.model import Target


def declared_absent(target: Target, field: str) -> bool:
    """True when ``target``'s file explicitly says the system lacks ``field``."""
    parts = field.split(".")
    if field == "trigger.priority":  # a create call that cannot carry a priority: the system has none
        create = target.trigger.create
        return "{priority}" not in f"{create.path} {create.body or ''}"
    if parts[:2] == ["observe", "states"] and len(parts) == 3:
        return parts[2] in {str(s) for s in target.observe.lacks_states}
    node: Any = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, BaseModel):
            if part not in type(node).model_fields:
                return False
            value = getattr(node, part)
            if last:
                return part in node.model_fields_set and value is None
            node = value
        elif isinstance(node, dict):
            if last:
                return part in node and node[part] is None
            node = node.get(part)
        else:
            return False
    return False


def hint(field: str) -> str:
    """What to add to the target file so a check reading ``field`` can decide."""
    if field.startswith("observe.states."):
        state = field.rsplit(".", 1)[-1]
        return (
            f"map your state onto {state!r} in observe.state_map, or list it in observe.lacks_states "
            "if your system has no such state"
        )
    if field.startswith("timing."):
        return (
            f"the value of `{field}` in the target file is the stack's own setting; a stack the harness "
            f"starts takes the scenario's through {{{field}}} in a service's command, env or args"
        )
    return f"add `{field}: ...` to the target file, or `{field}: null` if your system has none"
