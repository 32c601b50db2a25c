"""Helpers that build the house-style error messages."""

from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """Returns " Did you mean 'x'?" for the closest valid name, or ''."""
    matches = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.5)
    return f" Did you mean '{matches[0]}'?" if matches else ""


def unknown_name_message(kind: str, name: object, valid: Iterable[str], fix: str = "") -> str:
    """The message for an unknown identifier: the value, every valid name, the closest one."""
    valid = sorted(set(valid))
    msg = f"Unknown {kind} {name!r}. Valid {kind} names: {', '.join(valid)}.{did_you_mean(str(name), valid)}"
    if fix:
        msg += f" {fix}"
    return msg


def short_repr(value: object, limit: int = 80) -> str:
    """`value` for an error message: a class or function by its qualified name, else its repr cut to `limit`."""
    qualname = getattr(value, "__qualname__", None)
    if isinstance(value, type) or (callable(value) and isinstance(qualname, str) and hasattr(value, "__code__")):
        kind = "class" if isinstance(value, type) else "function"
        return f"{kind} {getattr(value, '__module__', '?')}.{qualname}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
