"""Bound the shape of parsed YAML before it is validated: a malformed file must exit 2, never hang.

A target file is a few hundred nodes a few levels deep. YAML aliases can make a 1 KB file expand
to millions of nodes (each ``*alias`` is the same object again, so the parser is quick but
everything that walks the data is not), an alias can refer to itself, and nesting can go deeper
than Python's recursion limit. Each of those would be a hang or a traceback in validation; here
it is a ConfigError, found in one linear walk over the distinct nodes.
"""

from __future__ import annotations

from typing import Any

from harness.errors import ConfigError

#: expanded nodes (aliases counted every time they are used) a target file may have
MAX_NODES = 100_000
#: nesting levels a target file may have (the deepest real field is about 6 levels down)
MAX_DEPTH = 64


def _children(node: dict[Any, Any] | list[Any]) -> list[Any]:
    return list(node.values()) if isinstance(node, dict) else node


def check_shape(data: Any, *, source: str) -> None:
    """Raise ConfigError if ``data`` refers to itself, nests deeper than MAX_DEPTH or expands past
    MAX_NODES; iterative, so the check itself cannot exceed the recursion limit."""
    sizes: dict[int, int] = {}  # id of a finished container -> its expanded size
    on_path: set[int] = set()  # the containers between the root and the current node
    stack: list[tuple[Any, bool, int]] = [(data, False, 1)]
    while stack:
        node, finished, depth = stack.pop()
        if not isinstance(node, dict | list):
            continue
        key = id(node)
        if finished:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in _children(node))
            if sizes[key] > MAX_NODES:
                raise ConfigError(
                    f"{source}: expands to more than {MAX_NODES} values (YAML aliases used over and "
                    "over?); a target file is a few hundred",
                    field="(yaml)",
                )
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ConfigError(f"{source}: a YAML alias refers to a value that contains it", field="(yaml)")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels", field="(yaml)")
        on_path.add(key)
        stack.append((node, True, depth))
        stack.extend((child, False, depth + 1) for child in _children(node))
