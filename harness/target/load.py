"""Load and validate a target file; a wrong field is a ConfigError naming it (CLI exit code 2).

Validation happens before anything is started or injected, so a typo never leaves a half-built
stack behind: the YAML's shape (``shape``), the fields (``model``), then every placeholder and
reference (``placeholders``). Whatever the file holds, the outcome is a Target or a ConfigError.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.errors import ConfigError
from harness.target.model import Target
from harness.target.placeholders import check_target
from harness.target.shape import check_shape

REFERENCE_TARGET = "reference"
#: a target file is a few KB; anything this big is the wrong file, not a target (exit 2, not a hang)
MAX_TARGET_BYTES = 1_000_000


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def _describe(err: Any) -> str:
    """One line: ``field: what is wrong (got: value)``."""
    loc = tuple(x for x in err["loc"] if x not in ("function-after",))
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; see docs/target-file.md for the fields)"
    elif err["type"] == "missing":
        msg = "required field is missing"
    got = err.get("input")
    shown = "" if err["type"] in ("missing",) or isinstance(got, dict) else f" (got: {got!r})"
    return f"{_field_path(loc)}: {msg}{shown}"


def parse_target(data: Any, *, source: str, directory: Path | None = None) -> Target:
    """Validate already-parsed YAML data; raises ConfigError naming the first wrong field.

    ``directory``: where the file lives (the value of ``{target_dir}``); without it, a service that
    uses ``{target_dir}`` is a ConfigError.
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: a target file must be a YAML mapping at the top level", field="(top level)"
        )
    check_shape(data, source=source)  # no alias bomb, no cycle, no absurd nesting: validation stays quick
    try:
        target = Target.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        lines = "\n  ".join(_describe(e) for e in errors)
        first = errors[0]
        field = _field_path(tuple(first["loc"]))
        raise ConfigError(f"invalid target file {source}:\n  {lines}", field=field) from exc
    if directory is not None:
        target._directory = Path(directory).resolve()  # not a YAML field: known only to the loader
    check_target(target, source=source)  # placeholders and references: resolved now, not at launch
    return target


def load_target(path: str | Path | None) -> tuple[Target, Path]:
    """Load a target file (None or ``reference`` = the built-in reference target)."""
    if path is None or str(path) == REFERENCE_TARGET:
        ref = resources.files("harness.target").joinpath("reference.yaml")
        with resources.as_file(ref) as p:
            return _load_file(Path(p)), Path(p)
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"target file not found: {file}", field="--target")
    return _load_file(file), file


def _load_file(file: Path) -> Target:
    """Read and parse; an unreadable, oversized or non-UTF-8 file is a ConfigError, never a traceback."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the target file: {exc}", field="--target") from exc
    if len(raw) > MAX_TARGET_BYTES:
        raise ConfigError(
            f"{file}: {len(raw)} bytes is too big for a target file (limit {MAX_TARGET_BYTES})",
            field="--target",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file}: not a UTF-8 text file (byte {exc.start}); is it the right file?", field="--target"
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}", field="(yaml)") from exc
    except (ValueError, OverflowError, RecursionError) as exc:  # 2024-02-30, a 5000-digit int, [[[[...
        raise ConfigError(f"{file}: a value cannot be read: {exc}", field="(yaml)") from exc
    return parse_target(data, source=str(file), directory=file.parent)
