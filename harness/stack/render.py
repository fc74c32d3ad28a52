"""Fill ``{placeholders}`` of a target file's commands, env and HTTP templates.

Placeholders are deliberately few and explicit so a target file stays readable:
``{python}`` the harness's interpreter, ``{port}`` the port allocated to this service,
``{db_url}`` / ``{provider_url}`` what this service must use to reach the database / provider
(through the fault proxy when a link exists), ``{broker_url}`` the ``redis://`` URL of the target's
``role: broker`` service (local backend), ``{defects}`` the defects switched on, ``{seed}`` the
run's seed, ``{target_dir}`` the absolute directory of the target file (local backend),
``{timing.X}`` a value of the target's timing section, and per-call values such as ``{n}`` or
``{batch_id}``. An unknown placeholder is a ConfigError naming it; the target loader finds every
one before anything starts (``harness.target.placeholders``), so this check is only a backstop.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from harness.errors import ConfigError

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


def placeholder_names(template: str) -> list[str]:
    """The ``{name}`` placeholders of ``template``, in order (what :func:`render` will look up)."""
    return _PLACEHOLDER.findall(template)


def render(template: str, values: Mapping[str, Any], *, where: str) -> str:
    """Replace every ``{name}`` in ``template``; ``where`` names the field for error messages."""

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            known = ", ".join(sorted(values))
            raise ConfigError(f"{where}: unknown placeholder {{{key}}} (known here: {known})", field=where)
        return str(values[key])

    return _PLACEHOLDER.sub(sub, template)


def render_value(value: Any, values: Mapping[str, Any], *, where: str) -> Any:
    """Render strings inside a JSON-like value; a string that is exactly one placeholder keeps
    the placeholder value's type (so ``count: "{n}"`` becomes the integer 20)."""
    if isinstance(value, str):
        m = _PLACEHOLDER.fullmatch(value)
        if m and m.group(1) in values:
            return values[m.group(1)]
        return render(value, values, where=where)
    if isinstance(value, dict):
        return {k: render_value(v, values, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, values, where=f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def timing_values(timing: Mapping[str, Any]) -> dict[str, Any]:
    """``{"lease_s": 1.0}`` -> ``{"timing.lease_s": 1.0}`` for use as placeholders."""
    return {f"timing.{k}": v for k, v in timing.items()}
