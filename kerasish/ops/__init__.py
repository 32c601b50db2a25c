"""`kerasish.ops`: Keras 3's `keras.ops` on torch tensors.

Namespaces as Keras's: `ops.numpy`, `ops.nn`, `ops.core`, `ops.math`, `ops.linalg`,
`ops.image`; every op of the first five is also at `ops.<name>` (as `keras.ops.<name>`).
Ops take torch tensors, NumPy arrays and Python scalars, return torch tensors, follow
Keras's argument names, defaults and dtype rules, and record graph nodes when called on
the symbolic tensors of a functional model. This package imports only torch, NumPy and
`kerasish.config`: layers, losses and metrics are built on it, never the reverse.

Namespaces load on first use (PEP 562): a layer that needs only `ops.nn` does not import
`ops.numpy` or `ops.image`. The flat names, `dir()` and `__all__` import them all.
"""

from __future__ import annotations

import importlib as _importlib
from importlib.util import find_spec as _find_spec

_NAMESPACES = ("core", "einops", "image", "linalg", "math", "nn", "numpy")
# The flat namespace: keras.ops.<name> for the numpy, nn, core, math and linalg ops (a later namespace
# wins a name two define).
_FLAT_NAMESPACES = ("numpy", "math", "linalg", "nn", "core", "einops")
# Names that are not ops: name -> module under kerasish.ops.
_NOT_OPS = {
    "result_type": "dtypes", "standardize_dtype": "dtypes", "KerasTensor": "keras_tensor",
    "get_op": "operation", "registered_ops": "operation",
}


def _load_all() -> None:
    # Importing a namespace registers its ops; then every flat name becomes a global of this package.
    for namespace in _NAMESPACES:
        _importlib.import_module(f"kerasish.ops.{namespace}")
    for name, module in _NOT_OPS.items():
        globals().setdefault(name, getattr(_importlib.import_module(f"kerasish.ops.{module}"), name))
    ops = _importlib.import_module("kerasish.ops.operation").registered_ops()
    for namespace in _FLAT_NAMESPACES:
        for key, fn in ops.items():
            ns, name = key.split(".", 1)
            if ns == namespace:
                globals()[name] = fn
    globals()["__all__"] = sorted(
        n for n in globals() if not n.startswith("_") and n not in ("annotations", "get_op", "registered_ops")
    )


def __getattr__(name: str):
    if name in _NAMESPACES or (name.isidentifier() and not name.startswith("_")
                               and _find_spec(f"kerasish.ops.{name}") is not None):
        # A module of this package (`from kerasish.ops import dtypes` asks here first).
        return _importlib.import_module(f"kerasish.ops.{name}")
    if name in _NOT_OPS:
        value = getattr(_importlib.import_module(f"kerasish.ops.{_NOT_OPS[name]}"), name)
        globals()[name] = value
        return value
    if name.startswith("__") and name != "__all__":
        raise AttributeError(f"module 'kerasish.ops' has no attribute {name!r}")
    if "__all__" not in globals():
        _load_all()
        if name in globals():
            return globals()[name]
    # kerasish.ops has every keras.ops name, so an unknown one is a typo; this leaf package cannot use
    # kerasish.utils.keras_names (tests/test_imports.py), hence difflib directly.
    import difflib

    close = difflib.get_close_matches(name, globals()["__all__"], n=1, cutoff=0.5)
    raise AttributeError(
        f"module 'kerasish.ops' has no attribute {name!r}; it is not a Keras 3 op either."
        + (f" Did you mean '{close[0]}'?" if close else "") + " See dir(kerasish.ops) for the list."
    )


def __dir__():
    if "__all__" not in globals():
        _load_all()
    return sorted(globals())
