"""A layer held inside another layer's config (Bidirectional.layer, RNN.cell, ...), as Keras 3 writes it.

Keras writes a nested layer as `{'module': 'keras.layers', 'class_name': ..., 'config': ...,
'registered_name': None}`, plus `build_config` when the layer was built; loading builds it
again from that entry. kerasish's own classes are written under Keras's module name so that
the config equals Keras's; a user's class keeps its own module and registered name.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping


def serialize_layer(layer: Any) -> Dict[str, Any]:
    """Keras's envelope for a nested layer (with `build_config` once it is built)."""
    from kerasish.saving.keras_config_layers import KERAS_BUILT_AT_INIT
    from kerasish.saving.serialization import serialize_object
    from kerasish.utils.object_registration import is_builtin

    envelope = serialize_object(layer)
    if is_builtin(type(layer)):
        envelope["module"] = "keras.layers"
    build = layer.get_build_config() if callable(getattr(layer, "get_build_config", None)) else None
    if build is not None and envelope["class_name"] not in KERAS_BUILT_AT_INIT:
        envelope["build_config"] = build
    return envelope


def deserialize_layer(envelope: Mapping[str, Any]) -> Any:
    """The layer `serialize_layer` (or Keras) described, built when the envelope says how."""
    from kerasish.saving.serialization import deserialize_object

    layer = deserialize_object(envelope)
    build = envelope.get("build_config")
    if build and callable(getattr(layer, "build_from_config", None)):
        layer.build_from_config(build)
    return layer
