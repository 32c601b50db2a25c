"""The parts a FeatureSpace is described by: `Feature` (a column's layer and encoding) and `Cross`.

Both serialize as Keras serializes them: `{"module", "class_name", "config", "registered_name"}`
envelopes whose configs hold the constructor arguments (a Feature's layer as its own envelope).
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

import numpy as np

_MODULE = "keras.src.layers.preprocessing.feature_space"  # Keras's module for Feature and Cross envelopes


def spec_envelope(obj: Any) -> Dict[str, Any]:
    name = type(obj).__name__
    return {"module": _MODULE, "class_name": name, "config": obj.get_config(), "registered_name": name}


def deserialize_spec(config: Any, cls: type) -> Any:
    if isinstance(config, dict) and config.get("class_name") == cls.__name__ and "config" in config:
        return cls.from_config(config["config"])
    raise ValueError(
        f"Expected a serialized {cls.__name__} (a dict with class_name={cls.__name__!r} and a 'config'); "
        f"received {config!r}. Pass a {cls.__name__} object, or the dict its get_config() envelope gives."
    )


class Cross:
    """A crossing of features, hashed into `crossing_dim` bins (made by `FeatureSpace.cross`).

    Args:
        feature_names: the names of the crossed features (at least two). No default.
        crossing_dim: the number of hash bins. No default.
        output_mode: `'one_hot'` (multi-hot encoded bins) or `'int'` (bin ids). Defaults to `'one_hot'`.
    """

    def __init__(self, feature_names: Sequence[str], crossing_dim: int, output_mode: str = "one_hot") -> None:
        if output_mode not in ("int", "one_hot"):
            raise ValueError(
                "Invalid value for argument `output_mode` of a feature cross: expected one of {'int', 'one_hot'}. "
                f"Received: output_mode={output_mode!r}"
            )
        if isinstance(feature_names, str) or len(feature_names) < 2:
            raise ValueError(
                f"A feature cross needs the names of two or more features; received feature_names={feature_names!r}. "
                "Pass e.g. ('feature_1', 'feature_2')."
            )
        if not isinstance(crossing_dim, (int, np.integer)) or isinstance(crossing_dim, bool) or crossing_dim < 1:
            raise ValueError(
                f"A feature cross needs crossing_dim, a positive int (the number of hash bins); received "
                f"crossing_dim={crossing_dim!r}. Pass e.g. crossing_dim=32."
            )
        self.feature_names = tuple(feature_names)
        self.crossing_dim = int(crossing_dim)
        self.output_mode = output_mode

    @property
    def name(self) -> str:
        """`'a_X_b'` for the cross of features `a` and `b`, as in Keras."""
        return "_X_".join(self.feature_names)

    def get_config(self) -> Dict[str, Any]:
        return {"feature_names": list(self.feature_names), "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Cross":
        return cls(**config)


class Feature:
    """One feature of a FeatureSpace: its input dtype, its preprocessing layer and its encoding.

    Args:
        dtype: the input's dtype, `'float32'`, `'int32'` or `'string'`. No default.
        preprocessor: a kerasish layer (or its serialized envelope). No default.
        output_mode: `'float'` (the layer's output as is), `'int'` or `'one_hot'` (the layer's
            integer output, multi-hot encoded). No default.
    """

    def __init__(self, dtype: str, preprocessor: Any, output_mode: str) -> None:
        if output_mode not in ("int", "one_hot", "float"):
            raise ValueError(
                "Invalid value for argument `output_mode` of a feature: expected one of {'int', 'one_hot', "
                f"'float'}}. Received: output_mode={output_mode!r}"
            )
        if isinstance(preprocessor, dict):
            from kerasish.saving.keras_objects import deserialize_keras_object

            preprocessor = deserialize_keras_object(preprocessor)
        if not callable(preprocessor):
            raise TypeError(
                f"A feature's preprocessor must be a layer (a callable); received {preprocessor!r} of type "
                f"{type(preprocessor).__name__}. Pass e.g. kerasish.layers.Normalization()."
            )
        self.dtype = dtype
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def get_config(self) -> Dict[str, Any]:
        from kerasish.saving.keras_objects import serialize_keras_object

        return {"dtype": self.dtype, "preprocessor": serialize_keras_object(self.preprocessor),
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Feature":
        return cls(**config)
