"""The weight arguments every recurrent family takes (RNN layers, RNN cells, ConvLSTM cells):
three initializers, three regularizers, three constraints, resolved once and written back into
`get_config` in Keras's order."""

from __future__ import annotations

from typing import Any, Dict

from kerasish import constraints, initializers, regularizers


def set_weight_args(layer: Any, kernel_initializer: Any, recurrent_initializer: Any, bias_initializer: Any,
                    kernel_regularizer: Any, recurrent_regularizer: Any, bias_regularizer: Any,
                    kernel_constraint: Any, recurrent_constraint: Any, bias_constraint: Any) -> None:
    """Resolves the nine arguments onto `layer` (the initializers' arguments kept for `get_config`)."""
    layer._init_args = (kernel_initializer, recurrent_initializer, bias_initializer)
    layer.kernel_initializer = initializers.get(kernel_initializer)
    layer.recurrent_initializer = initializers.get(recurrent_initializer)
    layer.bias_initializer = initializers.get(bias_initializer)
    layer.kernel_regularizer = regularizers.get(kernel_regularizer)
    layer.recurrent_regularizer = regularizers.get(recurrent_regularizer)
    layer.bias_regularizer = regularizers.get(bias_regularizer)
    layer.kernel_constraint = constraints.get(kernel_constraint)
    layer.recurrent_constraint = constraints.get(recurrent_constraint)
    layer.bias_constraint = constraints.get(bias_constraint)


def initializers_config(layer: Any) -> Dict[str, Any]:
    kernel, recurrent, bias = layer._init_args
    return {"kernel_initializer": initializers.serialize(kernel),
            "recurrent_initializer": initializers.serialize(recurrent),
            "bias_initializer": initializers.serialize(bias)}


def penalties_config(layer: Any) -> Dict[str, Any]:
    """The regularizers' and constraints' config entries."""
    return {"kernel_regularizer": regularizers.serialize(layer.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(layer.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(layer.bias_regularizer),
            "kernel_constraint": constraints.serialize(layer.kernel_constraint),
            "recurrent_constraint": constraints.serialize(layer.recurrent_constraint),
            "bias_constraint": constraints.serialize(layer.bias_constraint)}
