"""The ordered name -> layer mapping of Sequential and functional models.

A `torch.nn.ModuleDict` refuses a key that is also one of its attributes, so a Keras model
with a layer named `double`, `float`, `train`, `cuda` or `eval` (all fine in Keras) could
not be built. This dict stores such names as any other: the layer is reached by
`model.get_layer(name)` or `model.layers`, and `state_dict` keys stay `layers.<name>.<weight>`.
"""

from __future__ import annotations

from typing import Any

from torch import nn


class LayerDict(nn.ModuleDict):
    """An `nn.ModuleDict` whose keys may shadow its own attribute names."""

    def __setitem__(self, key: str, module: Any) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise ValueError(
                f"Layer names in a model must be non-empty strings without '.', received {key!r} (a '.' would "
                "split the weight names of the saved state). Pass another name=..., e.g. "
                f"{str(key).replace('.', '_') or 'dense_1'!r}."
            )
        if not isinstance(module, nn.Module):
            raise TypeError(f"A model's layers must be torch modules, received {type(module).__name__} for {key!r}.")
        self._modules[key] = module
