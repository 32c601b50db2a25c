"""Layer and op calls with several tensor or constant arguments, as JSON in a functional config.

A simple call (`layer(x)` or `layer([a, b])`) is stored as its input references. Any other
call (`ops.add(a, b)`, `x[:, 0]`, `attention(q, v, use_causal_mask=True)`) stores its
positional and keyword arguments with each KerasTensor replaced by a reference
`{"__keras_tensor__": [layer_name, node_index, tensor_index]}`, so loading replays the
call exactly. Slices, Ellipsis, None and tuples inside the arguments are encoded too.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Tuple

from kerasish.layers.symbolic import KerasTensor

Ref = Tuple[str, int, int]


def _encode(value: Any, ref: Callable[[KerasTensor], List[Any]], where: str) -> Any:
    if isinstance(value, KerasTensor):
        return {"__keras_tensor__": ref(value)}
    if isinstance(value, slice):
        return {"__slice__": [_encode(v, ref, where) for v in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, ref, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, ref, where) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"{where}: a dict argument with non-string keys cannot be saved in a model config.")
        return {k: _encode(v, ref, where) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(
        f"{where} was called with an argument of type {type(value).__name__} ({value!r:.80}), which a model "
        "config cannot describe. Pass plain values (numbers, strings, booleans, lists, slices) or tensors from "
        "the graph, or save the weights with save_weights()."
    )


def encode_call(node: Any, ref: Callable[[KerasTensor], List[Any]]) -> Dict[str, Any]:
    """The JSON entry for one recorded call with general arguments."""
    where = f"Layer {node.layer.name!r}"
    entry = {
        "args": [_encode(a, ref, where) for a in node.args],
        "kwargs": {k: _encode(v, ref, where) for k, v in node.kwargs.items()},
    }
    json.dumps(entry)  # every leaf is a JSON value by construction
    return entry


def _refs_in(value: Any, out: List[Ref]) -> None:
    if isinstance(value, dict):
        if "__keras_tensor__" in value:
            out.append(tuple(value["__keras_tensor__"]))  # type: ignore[arg-type]
            return
        for v in value.values():
            _refs_in(v, out)
    elif isinstance(value, list):
        for v in value:
            _refs_in(v, out)


def refs(call: Dict[str, Any]) -> List[Ref]:
    """The tensors a stored call reads (simple or general entry)."""
    if "args" not in call:
        return [tuple(r) for r in call["inputs"]]  # type: ignore[misc]
    out: List[Ref] = []
    _refs_in([call["args"], call.get("kwargs", {})], out)
    return out


def _decode(value: Any, tensors: Dict[Ref, KerasTensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if isinstance(value, dict):
        if "__keras_tensor__" in value:
            return tensors[tuple(value["__keras_tensor__"])]  # type: ignore[index]
        if "__slice__" in value:
            return slice(*[_decode(v, tensors) for v in value["__slice__"]])
        if "__ellipsis__" in value:
            return Ellipsis
        if "__tuple__" in value:
            return tuple(_decode(v, tensors) for v in value["__tuple__"])
        return {k: _decode(v, tensors) for k, v in value.items()}
    return value


def decode_call(call: Dict[str, Any], tensors: Dict[Ref, KerasTensor]) -> Tuple[List[Any], Dict[str, Any]]:
    """The positional and keyword arguments of a stored general call, with the graph's tensors."""
    return _decode(call["args"], tensors), _decode(call.get("kwargs", {}), tensors)
