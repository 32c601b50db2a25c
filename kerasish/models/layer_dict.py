"""The ordered name -> layer mapping of Sequential and functional models.

A `torch.nn.ModuleDict` refuses a key that is also one of its attributes, so a Keras model
with a layer named `double`, `float`, `train`, `cuda` or `eval` (all fine in Keras) could
not be built; it also refuses '.', which Keras's own names contain (MobileNetV2's default name is
`mobilenetv2_1.00_224`). This dict stores such names as any other: a '.' is kept in the layer's
name and written as '·' (U+00B7) in the key, because torch splits `state_dict` keys at '.';
`model.get_layer(name)` and `model.layers` see the real names.
"""

from __future__ import annotations

from typing import Any

from torch import nn

_DOT = "\u00b7"


def key_of(name: str) -> str:
    """The ModuleDict key of a layer name ('.' written as '·')."""
    return name.replace(".", _DOT)


def name_of(key: str) -> str:
    return key.replace(_DOT, ".")


class LayerDict(nn.ModuleDict):
    """An `nn.ModuleDict` whose keys may shadow its own attribute names or hold '.'."""

    def __setitem__(self, key: str, module: Any) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError(f"Layer names in a model must be non-empty strings, received {key!r}. Pass name=... .")
        if not isinstance(module, nn.Module):
            raise TypeError(f"A model's layers must be torch modules, received {type(module).__name__} for {key!r}.")
        self._modules[key_of(key)] = module

    def __getitem__(self, key: str) -> Any:
        return self._modules[key_of(key)]

    def __delitem__(self, key: str) -> None:
        del self._modules[key_of(key)]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key_of(key) in self._modules

    def __iter__(self) -> Any:
        return (name_of(k) for k in self._modules)

    def keys(self) -> Any:  # type: ignore[override]
        return [name_of(k) for k in self._modules]

    def items(self) -> Any:  # type: ignore[override]
        return [(name_of(k), m) for k, m in self._modules.items()]
