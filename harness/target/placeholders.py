"""Resolve every placeholder and reference of a target file when it is loaded, not when it is used.

Placeholders are only filled when a service is launched or a call is made, deep inside a
scenario. A typo found there (``{timing.nope}`` in a service's env) used to end every scenario as a
failure with the target's remediation text: the CI gate failed the target for a mistake in the
harness's configuration. So the loader checks here, with nothing started, that each templated
field uses only the values the harness gives that field, and that every name that points elsewhere
in the file (a log path's service) exists; a problem is a ConfigError naming the field (exit 2).

The tables below are the contract of each templated field. They must list what the code that
renders the field passes: ``WiredStack._values_for`` (services), ``TargetClient`` (trigger, observe,
control), ``WorkflowClient`` (workflow) and the scenarios' ``client.control(name, values)`` calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from harness.errors import ConfigError
from harness.stack.render import placeholder_names
from harness.target.model import HttpCall, Target, Timing

#: what every service command, env value and store argument may use (``{timing.X}`` besides)
SERVICE_VALUES = ("python", "port", "service", "db_url", "provider_url", "defects", "seed")
#: only when the target has a ``role: broker`` service (the harness starts it and knows its URL)
BROKER_VALUES = ("broker_url",)
#: only when the target was loaded from a file: that file's directory (absolute), e.g. for
#: ``PYTHONPATH: "{target_dir}"`` so services written beside the file can be imported
FILE_VALUES = ("target_dir",)
#: the per-call values of each HTTP call of the contract
CALL_VALUES: dict[str, tuple[str, ...]] = {
    "trigger.create": ("n", "priority"),
    "observe.batch": ("batch_id",),
    "observe.items": ("batch_id",),
    "observe.health": (),
    "observe.metrics": (),
    "control.cancel": ("batch_id",),
    "control.retry_item": ("item_id",),
    "control.retry_failed": ("batch_id",),
    "control.recover": ("batch_id",),
    "control.result": ("batch_id", "wait"),
    "control.attention": (),
    "workflow.start": ("topic",),
    "workflow.get": ("workflow_id",),
    "workflow.history": ("workflow_id",),
    "workflow.notifications": ("workflow_id",),
    "workflow.recover": ("workflow_id",),
    "workflow.retry_step": ("workflow_id", "step"),
    "workflow.skip_step": ("workflow_id", "step"),
    "workflow.attention": (),
}
#: templates that are not HTTP calls
TEMPLATE_VALUES: dict[str, tuple[str, ...]] = {
    "observe.page": ("batch_id",),
    "workflow.provider_item": ("workflow_id", "step"),
}


def service_values(target: Target) -> frozenset[str]:
    """The placeholders a service of ``target`` may use."""
    timing = (f"timing.{name}" for name in Timing.model_fields)
    broker = BROKER_VALUES if target.services_with_role("broker") else ()
    file = FILE_VALUES if target.directory is not None else ()
    return frozenset((*SERVICE_VALUES, *broker, *file, *timing))


def check_target(target: Target, *, source: str) -> None:
    """Raise ConfigError naming the first wrong field (all problems in the message); else return."""
    problems = [*_placeholder_problems(target), *_reference_problems(target)]
    if problems:
        lines = "\n  ".join(f"{where}: {what}" for where, what in problems)
        raise ConfigError(f"invalid target file {source}:\n  {lines}", field=problems[0][0])


def _placeholder_problems(target: Target) -> Iterator[tuple[str, str]]:
    for where, text, allowed in _templates(target):
        for name in placeholder_names(text):
            if name not in allowed:
                known = ", ".join(f"{{{k}}}" for k in sorted(allowed)) or "none"
                hint = _hint(name, target)
                yield where, f"unknown placeholder {{{name}}} (known here: {known}){hint}"


def _hint(name: str, target: Target) -> str:
    if name == "broker_url" and not target.services_with_role("broker"):
        return "; {broker_url} needs a service with role: broker"
    if name == "target_dir" and target.directory is None:
        return "; {target_dir} is the directory of a target file, and this target was not loaded from one"
    if name.startswith("timing."):
        return f"; the timing section has: {', '.join(Timing.model_fields)}"
    return ""


def _templates(target: Target) -> Iterator[tuple[str, str, frozenset[str]]]:
    """(field, template text, allowed placeholders) of every templated string of the file."""
    services = service_values(target)
    for name, svc in target.services.items():
        for i, arg in enumerate(svc.command or []):
            yield f"services.{name}.command[{i}]", arg, services
        for key, value in svc.env.items():
            yield f"services.{name}.env.{key}", value, services
        for i, arg in enumerate(svc.args):
            yield f"services.{name}.args[{i}]", arg, services
    calls: dict[str, HttpCall | None] = {
        "trigger.create": target.trigger.create,
        **{f"observe.{k}": getattr(target.observe, k) for k in ("batch", "items", "health", "metrics")},
        **{f"control.{k}": getattr(target.control, k) for k in type(target.control).model_fields},
    }
    templates: dict[str, str | None] = {"observe.page": target.observe.page}
    if target.workflow is not None:
        wf = target.workflow
        names = (k for k in CALL_VALUES if k.startswith("workflow."))
        calls.update({k: getattr(wf, k.removeprefix("workflow.")) for k in names})
        templates["workflow.provider_item"] = wf.provider_item
    for where, call in calls.items():
        if call is None or where not in CALL_VALUES:  # a call new to the model: see the test of this table
            continue
        allowed = frozenset(CALL_VALUES[where])
        yield f"{where}.path", call.path, allowed
        if call.body is not None:
            for path, text in _strings(call.body, f"{where}.body"):
                yield path, text, allowed
    for where, template in templates.items():
        if template is not None:
            yield where, template, frozenset(TEMPLATE_VALUES[where])


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string inside a JSON-like body, with its field path (what ``render_value`` renders)."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}[{i}]")


def _reference_problems(target: Target) -> Iterator[tuple[str, str]]:
    """Names that point elsewhere in the file (links are checked by the model itself)."""
    known = ", ".join(sorted(target.services))
    for service in target.logs.paths:
        if service not in target.services:
            yield f"logs.paths.{service}", f"unknown service {service!r} (services: {known})"
    for name, svc in target.services.items():
        if svc.ready is not None and svc.ready.http is not None and not svc.ready.http.startswith("/"):
            yield f"services.{name}.ready.http", "expected a path starting with '/', e.g. /health"
