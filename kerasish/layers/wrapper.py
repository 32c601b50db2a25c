"""Wrapper: Keras 3's abstract base for a layer that holds another layer and changes how it is applied.

A subclass writes `call` (and whatever else it adds, e.g. a weight normalization's extra weights in
`build`); the base keeps the wrapped layer as `self.layer` (a registered sub-module, so its weights are
the wrapper's, and `fit`, `save` and `summary` see them), builds it with the wrapper's input shape when
it is not built yet, and writes it into the config as Keras does (`{"layer": <the layer's envelope>,
...}`), so a file saved by either library opens in the other when the subclass is registered under the
same name in both.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from kerasish.layers.layer import Layer


class Wrapper(Layer):
    """The abstract base of layers that wrap another layer (`TimeDistributed` and `Bidirectional`
    in Keras). Not a layer by itself: subclass it and write `call`.

    Args:
        layer: the kerasish layer to wrap.
        **kwargs: `name`, `dtype`, `trainable`.

    Raises:
        ValueError: when `layer` is not a kerasish layer (a torch module: wrap it in
            `kerasish.layers.TorchModuleWrapper` first).

    Example:
        >>> import torch, kerasish
        >>> class Doubled(Wrapper):
        ...     def call(self, x):
        ...         return 2 * self.layer(x)
        >>> Doubled(kerasish.layers.Dense(3))(torch.ones(2, 4)).shape
        torch.Size([2, 3])
    """

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            hint = (" It is a torch module: wrap it in kerasish.layers.TorchModuleWrapper(module) first."
                    if hasattr(layer, "parameters") and callable(getattr(layer, "forward", None)) else "")
            raise ValueError(
                f"Layer {layer!r} supplied to Wrapper isn't a supported layer type. Please ensure wrapped layer is "
                f"a valid Keras layer (a kerasish.layers.Layer).{hint}"
            )
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape: Any = None) -> None:
        """Builds the wrapped layer with `input_shape` when it is not built yet (as Keras's Wrapper)."""
        self.layer.build_from_shape(input_shape)  # a no-op for a built layer

    def get_config(self) -> Dict[str, Any]:
        from kerasish.layers.nested_config import serialize_layer

        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], custom_objects: Optional[Mapping[str, Any]] = None) -> "Wrapper":
        from kerasish.saving.keras_objects import deserialize_keras_object

        config = dict(config)
        layer = deserialize_keras_object(config.pop("layer"), custom_objects=custom_objects)
        return cls(layer, **config)
