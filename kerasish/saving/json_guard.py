"""JSON from files and configs, with the nesting depth checked before anything recurses.

`json.loads` recurses once per nesting level, so a small hostile file of 100,000 `[` raises
a RecursionError (or worse) from deep inside the parser; the recursive deserializer has the same
weakness on a parsed config. `parse_json` measures the depth of the text first (strings removed
by one regex, then a running count of brackets), `check_depth` measures a parsed structure
iteratively, and both refuse anything deeper than `MAX_DEPTH` with a clear error. Real model
descriptions (Keras's and kerasish's) nest a few dozen levels.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any, List, Mapping, Tuple, Union

MAX_DEPTH = 200
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def text_depth(text: str) -> int:
    """The deepest nesting of `[`/`{` outside strings, without recursion."""
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    return max(itertools.accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def parse_json(raw: Union[bytes, str], source: str, max_depth: int = MAX_DEPTH) -> Any:
    """JSON from a file member, its nesting depth checked before the (recursive) parser runs.

    Raises:
        ValueError: for text that is not UTF-8 JSON or nests deeper than `max_depth`, naming `source`.
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{source} is not UTF-8 text ({e}). The file is damaged; save it again.") from None
    else:
        text = raw
    depth = text_depth(text)
    if depth > max_depth:
        raise ValueError(
            f"{source} nests {depth} levels deep, more than the {max_depth} a saved model uses. The file "
            "was crafted or damaged; kerasish refuses it before parsing. Save the model again."
        )
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{source} is not valid JSON ({e}). The file is damaged; save it again.") from None


def check_depth(config: Any, max_depth: int = MAX_DEPTH, what: str = "The config") -> None:
    """Refuses a parsed structure that nests deeper than `max_depth` (iteratively)."""
    stack: List[Tuple[Any, int]] = [(config, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise ValueError(
                f"{what} nests containers more than {max_depth} levels deep, which no model description needs; "
                "refusing it (it is corrupt or crafted to exhaust the loader). Save or export the model again."
            )
        if isinstance(value, Mapping):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
