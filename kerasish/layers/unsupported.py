"""Keras 3 layer arguments that kerasish accepts at their defaults and rejects otherwise.

A Keras user's code passes these arguments by name (`Dense(64, lora_rank=None)`,
`Input(shape=(3,), sparse=False)`), so the layers take them; a value that would ask for a
feature kerasish lacks raises a `ValueError` naming the argument and the way out, instead
of being ignored.
"""

from __future__ import annotations

from typing import Any, Dict

#: Why each argument is unsupported and what to do instead.
_FIXES: Dict[str, str] = {
    "lora_rank": "kerasish layers have no LoRA weights. Leave lora_rank=None and train the full weights, or "
                 "freeze this layer (trainable=False) and add your own low-rank layer next to it.",
    "lora_alpha": "it only scales LoRA weights, which kerasish layers do not have. Leave lora_alpha=None.",
    "quantization_config": "kerasish does not quantize layers. Leave quantization_config=None.",
    "renorm": "batch renormalization is not implemented. Use renorm=False (the default).",
    "synchronized": "the batch statistics are those of each process's own batch. Use synchronized=False "
                    "(under torchrun each process normalises with its own batch statistics).",
    "sparse": "kerasish has no sparse tensors. Use sparse=False and feed dense arrays.",
    "ragged": "kerasish has no ragged tensors. Use ragged=False and pad sequences to one length "
              "(kerasish.utils.pad_sequences, or TextVectorization(output_sequence_length=...)).",
    "tensor": "kerasish builds models from symbolic inputs only. Create Input(shape=...) without tensor=, "
              "then call the model on your tensor: model(tensor).",
    "input_tensor": "kerasish builds models from symbolic inputs only. Create InputLayer(shape=...) without "
                    "input_tensor=, then call the model on your tensor: model(tensor).",
    "optional": "kerasish inputs cannot be None. Use optional=False and pass a tensor (e.g. zeros) for a "
                "missing input.",
    "rms_scaling": "Keras deprecated it (it scales by the variance, not the root mean square). Use "
                   "rms_scaling=False, or write the RMS normalisation in your own layer: "
                   "x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * gamma.",
    "idf_weights": "output_mode='tf_idf' is not supported, so there is nothing to weight. Leave idf_weights=None "
                   "and use output_mode='count' or 'multi_hot'.",
}


def reject_unsupported(layer: str, **values: Any) -> None:
    """Raises a ValueError for the first argument set to anything but None or False.

    Args:
        layer: the layer's class name, for the message.
        **values: argument name to the value the user passed.

    Raises:
        ValueError: naming the argument, its value, and what to do instead.
    """
    for arg, value in values.items():
        if value is None or value is False:
            continue
        raise ValueError(f"{layer}: {arg}={_describe(value)} is not supported by kerasish: {_FIXES[arg]}")


def _describe(value: Any) -> str:
    """The value for a message: arrays and tensors by type and shape, other values by a short repr."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"<{type(value).__name__} of shape {tuple(shape)}>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
