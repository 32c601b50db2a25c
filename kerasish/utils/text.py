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
