"""Symbolic tensors and nodes: what the functional API records.

`Input(shape=...)` returns a `KerasTensor`. Calling a layer on KerasTensors builds the
layer for their shapes, records a `Node` (the layer, its inputs and its outputs) and
returns new KerasTensors with the inferred shapes. `Model(inputs, outputs)` walks the
nodes back from the outputs to run the same computation on real tensors.
"""

from __future__ import annotations

from typing import Any, Tuple

from kerasish.ops.keras_tensor import (  # noqa: F401 - re-exported for the layers and models
    KerasTensor,
    Node,
    Shape,
    _symbolic_leaves,
    flatten,
    is_symbolic,
    map_symbolic,
    shapes_of,
)


_FLOATS = ("float16", "bfloat16", "float32", "float64")


def call_symbolic(layer: Any, args: Tuple[Any, ...], kwargs: dict) -> Any:
    """Records `layer(*args, **kwargs)` on KerasTensors and returns the output KerasTensor(s).

    The outputs' shapes and dtypes are `output_specs`'s; the call is recorded as a `Node` of
    the layer, which the outputs point back to, and the outputs get the symbolic mask
    (`_keras_mask`) the layer would attach, as in Keras (see `_attach_masks`).
    """
    inputs = args[0] if args else None
    # `training` is not recorded: when the graph runs, the flag of the outer call (True in
    # fit) reaches every layer, as in Keras 3, even for `base(x, training=False)`.
    kwargs = {k: v for k, v in kwargs.items() if k != "training"}
    specs = output_specs(layer, args, kwargs)
    node = Node(layer, inputs, kwargs)
    node.args = args
    layer._inbound_nodes.append(node)
    if isinstance(specs, list):
        node.outputs = [KerasTensor(shape, dtype, node, i) for i, (shape, dtype) in enumerate(specs)]
        _attach_masks(layer, inputs, node.outputs)
        return list(node.outputs)
    node.outputs = [KerasTensor(specs[0], specs[1], node, 0)]
    _attach_masks(layer, inputs, node.outputs)
    return node.outputs[0]


def output_specs(layer: Any, args: Tuple[Any, ...], kwargs: dict) -> Any:
    """The `(shape, dtype)` of each output of `layer(*args, **kwargs)` on KerasTensors (a list for a
    list of outputs), recording nothing: the layer is built for the inputs' shapes if it is not.

    The common call (one input structure, no tensor keyword arguments) uses the layer's
    `compute_output_shape`; other calls, and layers that do not define it, are traced:
    the layer runs once on zeros of the input shapes and its outputs' shapes are read
    (a dimension that changes with the probe size is reported as None).
    """
    inputs = args[0] if args else None
    kwargs = {k: v for k, v in kwargs.items() if k != "training"}
    simple = len(args) == 1 and not _symbolic_leaves(kwargs)  # as `Node.simple`
    if not layer.built:
        if simple:
            layer.build_from_shape(shapes_of(inputs))
        else:
            layer._build_on_call(tuple(map_symbolic(lambda t: _probe(t, 2), a) for a in args), kwargs)
    overrides_shape = type(layer).compute_output_shape is not _layer_base().compute_output_shape and not getattr(
        layer, "_infer_by_tracing", False)
    if not (simple and overrides_shape and not kwargs):
        return _trace(layer, args, kwargs)
    out_shapes = layer.compute_output_shape(shapes_of(inputs))
    dtype = flatten(inputs)[0].dtype if flatten(inputs) else "float32"
    if getattr(layer, "integer_input", False) or getattr(layer, "string_input", False):
        dtype = "float32"
    else:
        from kerasish.layers.calling import input_cast_dtype

        cast_to = input_cast_dtype(layer)  # __call__ converts floating-point inputs to it
        if cast_to is not None and str(dtype).replace("torch.", "") in _FLOATS:
            dtype = str(cast_to).replace("torch.", "")
    return [(s, dtype) for s in out_shapes] if isinstance(out_shapes, list) else (out_shapes, dtype)


def _attach_masks(layer: Any, inputs: Any, outputs: list) -> None:
    """Gives the outputs the symbolic Keras masks (`x._keras_mask`, a bool KerasTensor) the layer
    would attach when it runs: Keras shows them while the model is built, and mask-consuming
    layers traced later receive a mask. The layer's `compute_mask` runs once on probe zeros."""
    import torch

    from kerasish.layers.calling import call_spec

    spec = call_spec(type(layer))
    in_masks = _masks_of(inputs)
    has_mask = any(m is not None for m in flatten(in_masks))
    if not (spec.own_compute_mask or layer.supports_masking):
        if has_mask and not spec.mask:  # a layer whose call takes `mask` consumes it (pooling, RNNs)
            import warnings

            warnings.warn(
                f"Layer {layer.name!r} ({type(layer).__name__}) received an input with a Keras mask, but it does not "
                "support masking, so its output has no mask and the layers after it will not see one (as in Keras). "
                "Set `self.supports_masking = True` in its __init__ to pass the mask on unchanged, or define "
                "compute_mask(inputs, mask) to compute a new one.", UserWarning, stacklevel=4)
        return
    if not has_mask and not spec.own_compute_mask:
        return  # passes a mask on, and there is none
    probe_inputs = map_symbolic(lambda t: _probe(t, 2), inputs)
    probe_masks = map_symbolic(lambda m: _probe(m, 2).to(torch.bool), in_masks)
    try:
        with torch.no_grad():
            masks = layer.compute_mask(probe_inputs, probe_masks)
    except Exception as e:  # noqa: BLE001 - re-raised with the layer's name
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}): compute_mask failed on symbolic inputs of shapes "
            f"{[t.shape for t in _symbolic_leaves(inputs)]}: {type(e).__name__}: {e}. compute_mask(inputs, mask) "
            "must accept the layer's inputs and their mask (None when there is none)."
        ) from e
    for out, mask in zip(outputs, flatten(masks)):
        if isinstance(mask, torch.Tensor):
            shape = tuple(None if i < len(out.shape) and out.shape[i] is None else d
                          for i, d in enumerate(mask.shape))
            out._keras_mask = KerasTensor(shape, "bool")


def _masks_of(structure: Any) -> Any:
    """`structure` with each KerasTensor replaced by its symbolic mask, anything else by None."""
    if isinstance(structure, (list, tuple)):
        return type(structure)(_masks_of(item) for item in structure)
    if isinstance(structure, dict):
        return {key: _masks_of(value) for key, value in structure.items()}
    return getattr(structure, "_keras_mask", None) if isinstance(structure, KerasTensor) else None


def _layer_base() -> Any:
    from kerasish.layers.layer import Layer

    return Layer


def _probe(t: KerasTensor, unknown: int) -> Any:
    import torch

    from kerasish import config

    shape = tuple(unknown if d is None else d for d in t.shape)
    dtype = getattr(torch, t.dtype, None) if isinstance(t.dtype, str) else None
    if not isinstance(dtype, torch.dtype):
        dtype = config.floatx_dtype()
    probe = torch.zeros(shape, dtype=dtype)
    mask = getattr(t, "_keras_mask", None)
    if mask is not None:  # a traced mask consumer receives a mask, as it will when the model runs
        probe._keras_mask = torch.ones(tuple(unknown if d is None else d for d in mask.shape), dtype=torch.bool)
    return probe


def _trace(layer: Any, args: Tuple[Any, ...], kwargs: dict) -> Any:
    """Output (shape, dtype) specs found by running the layer on zeros of two probe sizes."""
    import torch

    from kerasish.layers import call_context

    runs = []
    for unknown in (2, 3):
        a = tuple(map_symbolic(lambda t: _probe(t, unknown), x) for x in args)
        k = {n: map_symbolic(lambda t: _probe(t, unknown), v) for n, v in kwargs.items()}
        was_training = layer.training
        layer.eval()
        from kerasish.layers.layer_utils import state_restore, state_snapshot

        saved = state_snapshot(layer)
        try:
            with torch.no_grad(), call_context.training_scope(False):
                out = layer(*a, **k)
        except Exception as e:  # noqa: BLE001 - re-raised with the layer's name
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) failed when called on symbolic inputs of shapes "
                f"{[t.shape for t in _symbolic_leaves((args, kwargs))]}: {type(e).__name__}: {e}. Check the "
                "input shapes, or define compute_output_shape(input_shape) on the layer."
            ) from e
        finally:
            layer.train(was_training)
            state_restore(saved)
            call_context.clear_losses_under(layer)
        runs.append(out)

    def spec(o2: Any, o3: Any) -> Tuple[Shape, str]:
        if not isinstance(o2, torch.Tensor):
            raise TypeError(
                f"Layer {layer.name!r} returned {type(o2).__name__} on symbolic inputs; a layer in a functional "
                "model must return tensors (or a list/tuple of tensors)."
            )
        # A fixed batch size (Input(batch_shape=...)) stays in the shape, as in Keras.
        shape = tuple(None if a != b else a for a, b in zip(o2.shape, o3.shape))
        return shape, str(o2.dtype).replace("torch.", "")

    first, second = runs
    if isinstance(first, (list, tuple)):
        return [spec(a, b) for a, b in zip(first, second)]
    return spec(first, second)
