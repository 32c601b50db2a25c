"""Export a trained model for inference without kerasish: TorchScript, torch.export or ONNX.

`model.export(path, format=...)` calls `export_model`. Every format traces the model in
eval mode on one sample batch, so dropout is off and batch normalization uses its moving
statistics, exactly as in `predict`. The file is written through
`kerasish.utils.io.atomic_write` (a temporary file in the same folder, then `os.replace`),
so an interrupted export never leaves a half-written file behind.

Loading the result needs only torch (or an ONNX runtime):

- 'torchscript': `torch.jit.load(path)(x)`.
- 'torch_export': `torch.export.load(path).module()(x)` (a `.pt2` archive).
- 'onnx': any ONNX runtime; writing it needs `pip install onnx onnxscript`.
"""

from __future__ import annotations

import io
import os
from typing import IO, Any, Tuple

import numpy as np
import torch

from kerasish import config
from kerasish.utils.io import atomic_write
from kerasish.utils.text import did_you_mean

FORMATS = ("torchscript", "torch_export", "onnx")


def export_model(model: Any, filepath: Any, format: str = "torchscript", sample_input: Any = None) -> None:
    """Writes `model` as a self-contained inference artifact.

    Args:
        model: a kerasish `Model` (a `Sequential`, a wrapped module or a subclass).
        filepath: the file to write; its folder must exist.
        format: 'torchscript' (`torch.jit.trace`, load with `torch.jit.load`), 'torch_export'
            (`torch.export.export`, a `.pt2` file, load with `torch.export.load`) or 'onnx'
            (`torch.onnx.export`; needs the `onnx` and `onnxscript` packages).
            Defaults to `'torchscript'`.
        sample_input: an example batch (NumPy array or tensor, or a tuple of them for
            several inputs) used to trace the model. Defaults to `None`: zeros of the
            model's input shape with a batch of 1 (a Sequential with `input_shape` knows it).

    Raises:
        ValueError: for an unknown `format`, or when `sample_input` is None and the model
            does not know its input shape.
        TypeError: for a `sample_input` that is not numeric arrays/tensors.
        ImportError: for `format='onnx'` without the `onnx`/`onnxscript` packages.
        FileNotFoundError: if the folder of `filepath` does not exist.

    Example:
        >>> import os, tempfile
        >>> from kerasish import Sequential
        >>> from kerasish.layers import Dense
        >>> model = Sequential([Dense(2, input_shape=(3,))])
        >>> path = os.path.join(tempfile.mkdtemp(), "model.pt")
        >>> export_model(model, path)
        >>> torch.jit.load(path)(torch.zeros(1, 3)).shape
        torch.Size([1, 2])
    """
    if format not in FORMATS:
        raise ValueError(
            f"Unknown export format {format!r}. Valid formats: {', '.join(map(repr, FORMATS))}."
            f"{did_you_mean(str(format), FORMATS)} Pass e.g. format='torchscript'."
        )
    filepath = os.fspath(filepath)
    if format == "onnx":
        _require_onnx()
    inputs = _sample_inputs(model, sample_input)
    model.ensure_device()
    device = model.device
    inputs = tuple(t.to(device) for t in inputs)
    # Lazy layers create their weights on first call: do that before tracing, not inside it.
    model.ensure_built(inputs if len(inputs) > 1 else inputs[0])
    was_training = model.training
    model.eval()
    try:
        with atomic_write(filepath) as f:
            _WRITERS[format](model, inputs, f)
    finally:
        model.train(was_training)


# --------------------------------------------------------------------- sample input
def _sample_inputs(model: Any, sample_input: Any) -> Tuple[torch.Tensor, ...]:
    if sample_input is None:
        shape = model.expected_input_shape()
        if shape is None or any(d is None for d in tuple(shape)[1:]):
            raise ValueError(
                f"Cannot export model {model.name!r} without sample_input: its input shape is "
                f"{'unknown' if shape is None else tuple(shape)}. Expected a model whose first layer has "
                "input_shape=..., or pass sample_input=<one batch of real inputs>, "
                "e.g. model.export(path, sample_input=x_test[:1])."
            )
        # A model that starts with an embedding takes integer ids; any other takes floats.
        dtype = config.floatx_dtype() if model.casts_integer_inputs() else torch.long
        return (torch.zeros((1,) + tuple(shape)[1:], dtype=dtype),)
    parts = sample_input if isinstance(sample_input, (tuple, list)) else (sample_input,)
    out = []
    for i, part in enumerate(parts):
        if isinstance(part, np.ndarray):
            if part.dtype.kind not in "fiub":
                raise TypeError(
                    f"sample_input{'' if len(parts) == 1 else f'[{i}]'} has dtype {part.dtype}; expected a "
                    "numeric array. Pass a batch of the numbers the model is fed (e.g. x_test[:1])."
                )
            part = torch.from_numpy(np.ascontiguousarray(part))
        if not isinstance(part, torch.Tensor):
            raise TypeError(
                f"sample_input must be a NumPy array or torch tensor (or a tuple of them), received "
                f"{type(part).__name__}. Pass one batch of inputs, e.g. sample_input=x_test[:1]."
            )
        if part.is_floating_point() and part.dtype != config.floatx_dtype():
            part = part.to(config.floatx_dtype())
        elif not part.is_floating_point() and model.casts_integer_inputs():
            part = part.to(config.floatx_dtype())
        out.append(part.detach())
    return tuple(out)


# --------------------------------------------------------------------- writers
def _write_torchscript(model: Any, inputs: Tuple[torch.Tensor, ...], f: IO[bytes]) -> None:
    with torch.no_grad():
        traced = torch.jit.trace(model, inputs, check_trace=False)
    torch.jit.save(traced, f)


class _ExportView(torch.nn.Module):
    """The model under plain attribute names, for exporters that look parameters up by name.

    torch.export finds each parameter again by its dotted name (`getattr` down the path);
    a Sequential's `layers` is a Python list by design (as in Keras), so 'layers.dense.kernel'
    does not resolve. The view registers the model's children under names that do, shares
    every parameter and buffer (nothing is copied), and runs the model's own forward.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.__dict__["_model"] = model  # not registered: its names are the ones that fail
        for i, (_, child) in enumerate(model.named_children()):
            self.add_module(f"child_{i}", child)
        for i, (_, param) in enumerate(model.named_parameters(recurse=False)):
            self.register_parameter(f"param_{i}", param)
        for i, (_, buffer) in enumerate(model.named_buffers(recurse=False)):
            self.register_buffer(f"buffer_{i}", buffer)

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self._model(*inputs)


def _write_torch_export(model: Any, inputs: Tuple[torch.Tensor, ...], f: IO[bytes]) -> None:
    # torch.export fixes every size of 1 it sees, so trace on two samples and mark the
    # batch axis dynamic (AUTO: it stays fixed only if the model itself needs that).
    if inputs[0].shape[0] == 1:
        inputs = tuple(torch.cat([t, t]) for t in inputs)
    dynamic = (tuple({0: torch.export.Dim.AUTO} for _ in inputs),)
    program = torch.export.export(_ExportView(model), inputs, dynamic_shapes=dynamic)
    torch.export.save(program, f)


def _write_onnx(model: Any, inputs: Tuple[torch.Tensor, ...], f: IO[bytes]) -> None:
    names = ["input"] if len(inputs) == 1 else [f"input_{i}" for i in range(len(inputs))]
    buffer = io.BytesIO()  # the exporter writes whole; the bytes then go through atomic_write
    torch.onnx.export(_ExportView(model), inputs, buffer, input_names=names, output_names=["output"],
                      dynamic_axes={**{n: {0: "batch"} for n in names}, "output": {0: "batch"}})
    f.write(buffer.getvalue())


_WRITERS: dict = {"torchscript": _write_torchscript, "torch_export": _write_torch_export, "onnx": _write_onnx}


def _require_onnx() -> None:
    missing = []
    for package in ("onnx", "onnxscript"):
        try:
            __import__(package)
        except ImportError:
            missing.append(package)
    if missing:
        raise ImportError(
            f"format='onnx' needs the {' and '.join(missing)} package{'s' if len(missing) > 1 else ''}, which "
            f"{'are' if len(missing) > 1 else 'is'} not installed. Install with `pip install onnx onnxscript`, "
            "or export with format='torchscript' or 'torch_export' (torch only)."
        )


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, globals())
