"""A custom step's `compute_loss` on a softmax/sigmoid head, from the logits as the built-in step.

The built-in step computes a cross-entropy loss on a softmax or sigmoid output from the output
layer's pre-activation logits (exact, numerically stable, one fused kernel; see `step.Steps`). A
custom `train_step` written as the Keras guide writes it, `self.compute_loss(y=y, y_pred=self(x,
training=True))`, hands the loss the probabilities instead, and Keras's formula on probabilities
(normalize, clip, log) costs about three times the fused kernel and gives another value, and no
gradient, where predictions saturate: the same model trained by `fit` with and without the
override would then differ.

So while `fit` runs a model's own `train_step`, and the built-in step of that
model would take the logits path (`Steps.fuse`: a single output ending in the activation the compiled
loss fuses, `from_logits=False`, no hook or policy the logits path would skip), the model's own call
returns its output with the logits kept beside it (Keras's TensorFlow backend keeps them the same way,
as `_keras_logits`), and the compiled loss reads them when the tensor it is given is that output,
unmodified: the same object, its version counter unchanged (an in-place change drops them). Any
other tensor (a slice, a copy, an output changed in place, another model's output) gets Keras's
formula on probabilities as before. The metrics see the probabilities, as in the built-in step.

A custom `test_step` (in `evaluate`, or validation) is left as it was: its outputs are inference
tensors, which keep no version counter, so an in-place change could not be told from an untouched
output; its `compute_loss` reads the probabilities (the built-in test step reads logits).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch

ATTR = "_keras_logits"


def call(model: Any, x: Any, activation: Callable[[torch.Tensor], torch.Tensor], loss: Any) -> torch.Tensor:
    """The model's output for `x`, computed as activation(logits), with the logits kept for `loss`."""
    logits = model.forward_logits(x)
    out = activation(logits)
    out.__dict__[ATTR] = (logits, out._version, loss)
    return out


def logits_of(y_pred: Any, loss: Any) -> Optional[torch.Tensor]:
    """The logits kept beside `y_pred` for `loss`, or None (not such an output, or changed since)."""
    if type(y_pred) is not torch.Tensor:
        return None
    kept = y_pred.__dict__.get(ATTR)
    if kept is None or kept[2] is not loss or kept[1] != y_pred._version:
        return None
    return kept[0]
