"""Safe mode for loading: whether a saved file may make kerasish run code it contains.

Loading is safe by default: a `.kerasish` file is JSON and tensors. The one exception a
user can opt into is a `Lambda` layer saved with its Python source: rebuilding it runs
that source, so it is refused unless `load_model(..., safe_mode=False)` or
`kerasish.config.enable_unsafe_deserialization()` says the file is trusted (as Keras 3).
A leaf module: imports nothing of kerasish.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

_state = threading.local()
_unsafe_everywhere = False


class SafeModeScope:
    """`with SafeModeScope(False): ...` allows running saved code inside the block (None: inherit)."""

    def __init__(self, safe_mode: Optional[bool] = True) -> None:
        self.safe_mode = safe_mode

    def __enter__(self) -> "SafeModeScope":
        self._outer = getattr(_state, "safe_mode", None)
        if self.safe_mode is not None:
            _state.safe_mode = bool(self.safe_mode)
        return self

    def __exit__(self, *exc: Any) -> None:
        _state.safe_mode = self._outer


def in_safe_mode() -> bool:
    """True unless a `SafeModeScope(False)` is open or unsafe deserialization was enabled."""
    if _unsafe_everywhere:
        return False
    value = getattr(_state, "safe_mode", None)
    return True if value is None else value


def enable_unsafe_deserialization() -> None:
    """Allows every later load to run code saved in files (Lambda sources). Only for trusted files."""
    global _unsafe_everywhere
    _unsafe_everywhere = True
