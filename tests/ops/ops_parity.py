"""`check_op`: one kerasish op against the same op of Keras 3 (torch backend), same inputs.

    check_op("expand_dims", np.ones((2, 3)), axis=-1)
    check_op("resize", images, (4, 4), namespace="image")

Both ops receive the same arguments (NumPy arrays become torch tensors first unless
`numpy_inputs=True`); the results must have the same structure, shapes, dtype names and
values (float tolerance, NaN equal to NaN). Returns kerasish's result.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from tests.keras_parity import keras_module


def _convert(x: Any, numpy_inputs: bool) -> Any:
    if isinstance(x, np.ndarray) and not numpy_inputs:
        return torch.from_numpy(x.copy())
    if isinstance(x, list):
        return [_convert(i, numpy_inputs) for i in x]
    if isinstance(x, tuple):
        return tuple(_convert(i, numpy_inputs) for i in x)
    if isinstance(x, dict):
        return {k: _convert(v, numpy_inputs) for k, v in x.items()}
    return x


def _dtype_name(x: Any) -> str:
    return str(getattr(x, "dtype", type(x).__name__)).replace("torch.", "")


def assert_same(ours: Any, theirs: Any, atol: float = 1e-5, rtol: float = 1e-5, where: str = "result") -> None:
    """Same structure, shape, dtype and values (NaN == NaN)."""
    if isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)), f"{where}: Keras returns a {type(theirs).__name__}, kerasish a {type(ours).__name__}"
        assert len(ours) == len(theirs), f"{where}: {len(ours)} items, Keras {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, atol, rtol, f"{where}[{i}]")
        return
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, torch.Tensor), f"{where}: kerasish returns {type(ours).__name__}, Keras a tensor"
        assert tuple(ours.shape) == tuple(theirs.shape), f"{where}: shape {tuple(ours.shape)} != Keras {tuple(theirs.shape)}"
        assert ours.dtype == theirs.dtype, f"{where}: dtype {_dtype_name(ours)} != Keras {_dtype_name(theirs)}"
        a, b = ours.detach().cpu(), theirs.detach().cpu()
        if a.dtype == torch.bfloat16:
            a, b = a.float(), b.float()
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=atol, rtol=rtol, equal_nan=True, err_msg=where)
        return
    if isinstance(theirs, np.ndarray):
        np.testing.assert_allclose(np.asarray(ours), theirs, atol=atol, rtol=rtol, equal_nan=True, err_msg=where)
        return
    assert type(ours) is type(theirs) or (isinstance(ours, (int, float)) and isinstance(theirs, (int, float))), (
        f"{where}: kerasish returns {type(ours).__name__}, Keras {type(theirs).__name__}")
    if isinstance(theirs, float):
        np.testing.assert_allclose(ours, theirs, atol=atol, rtol=rtol, equal_nan=True, err_msg=where)
    else:
        assert ours == theirs, f"{where}: {ours!r} != Keras {theirs!r}"


def check_op(name: str, *args: Any, namespace: Optional[str] = None, atol: float = 1e-5, rtol: float = 1e-5,
             numpy_inputs: bool = False, **kwargs: Any) -> Any:
    """Runs `ops[.namespace].name(*args, **kwargs)` in Keras and kerasish and asserts they agree."""
    keras = keras_module()
    import kerasish.ops as kops

    theirs_ns = keras.ops if namespace is None else getattr(keras.ops, namespace)
    ours_ns = kops if namespace is None else getattr(kops, namespace)
    assert hasattr(ours_ns, name), f"kerasish.ops{'.' + namespace if namespace else ''} has no {name!r}"
    theirs = getattr(theirs_ns, name)(*_convert(args, numpy_inputs), **_convert(kwargs, numpy_inputs))
    ours = getattr(ours_ns, name)(*_convert(args, numpy_inputs), **_convert(kwargs, numpy_inputs))
    assert_same(ours, theirs, atol, rtol, where=f"ops.{name}")
    return ours
