"""Keras 3 public names kerasish lacks, and the error each namespace raises for them.

A Keras user who changes only the imports may reach for a name kerasish does not have
(`kerasish.layers.HashedCrossing`, `kerasish.utils.audio_dataset_from_directory`). Python's bare "module has no
attribute" does not tell a typo from a missing feature, so every namespace's PEP 562
`__getattr__` ends in `missing_attribute`, which says which it is:

- a Keras 3 name listed here: "`kerasish.layers.HashedCrossing` is in Keras 3 but kerasish does not
  implement it", then the way out (a torch equivalent, the kerasish name to use instead, or
  how to write it as a custom layer);
- any other name: the usual message plus the closest name the namespace has.

The error is an `AttributeError`, so `hasattr` and `getattr(module, name, default)` still
answer False / the default. The table is static (Keras is not a dependency of kerasish);
tests/test_keras_names.py fails when the installed Keras has a public name that kerasish
neither provides nor lists, or when a listed name has since been built.
"""

from __future__ import annotations

import types
from typing import Any, Dict, Iterable, Mapping, Optional, Union

from kerasish.utils.text import did_you_mean

_LAYER = ("Write it as a custom layer: subclass kerasish.layers.Layer (build() and call(inputs, training=None)), "
          "or wrap a torch module with kerasish.layers.TorchModuleWrapper.")
_APP_NONE = ("Build the model from kerasish.layers (its Keras source is a guide), or wrap any torch "
             "model as kerasish.Model(module).")
_TRACEBACK = "kerasish does not filter tracebacks, so there is nothing to turn on or off: remove the call."
_SCOPE = ("kerasish weights are torch parameters: for a stateless call use "
          "layer.stateless_call(trainable_variables, non_trainable_variables, inputs).")
_QUANT = ("kerasish does not quantize layers. Quantize the underlying torch modules with torch.ao.quantization "
          "(or torchao) after training.")
_OPT = "Use one of kerasish.optimizers, or pass a torch.optim.Optimizer to compile(optimizer=...)."
_DTYPE = "Use kerasish.mixed_precision (DTypePolicy, set_dtype_policy) for mixed precision."

# A namespace with at most this many public names lists them all in the message.
_LISTED = 60

# Keras namespace (after 'keras') -> {name: the way out}. The same suffix names the kerasish namespace.
KERAS_ONLY: Dict[str, Dict[str, str]] = {
    "": {
        "FloatDTypePolicy": "Use kerasish.mixed_precision.DTypePolicy (float32, mixed_float16, mixed_bfloat16).",
        "Function": "Build graphs as functional models: kerasish.Model(inputs, outputs) from kerasish.Input.",
        "Operation": "Write the computation with kerasish.ops functions inside a layer's call().",
        "Quantizer": _QUANT,
        "StatelessScope": _SCOPE,
        "SymbolicScope": "Symbolic tensors come from kerasish.Input(shape=...); no scope is needed.",
        "distribution": "Use kerasish.distributed: launch with torchrun and fit() averages gradients (DDP).",
        "dtype_policies": _DTYPE,
        "legacy": "The Keras 2 compatibility API is not provided: use the Keras 3 names.",
        "quantizers": _QUANT,
        "src": "keras.src is Keras's private source tree: import the public names from kerasish instead.",
        "version": "Read kerasish.__version__ (a string).",
        "visualization": "Draw images and boxes with matplotlib directly; kerasish.utils.plot_model draws models.",
        "wrappers": "The scikit-learn wrappers are not provided: wrap the model in your own estimator class "
                    "whose fit/predict call model.fit / model.predict.",
    },
    "applications": {
        "NASNetLarge": _APP_NONE, "NASNetMobile": _APP_NONE,
        "nasnet": "Its models are not provided either; see the model names above for the way out.",
    },
    "callbacks": {
        "OrbaxCheckpoint": "Use kerasish.callbacks.ModelCheckpoint, or BackupAndRestore to resume training.",
    },
    "config": {
        "disable_traceback_filtering": _TRACEBACK, "enable_traceback_filtering": _TRACEBACK,
        "is_traceback_filtering_enabled": _TRACEBACK,
        "is_nnx_enabled": "Flax NNX is a JAX feature; kerasish runs on torch only.",
        "set_backend": "kerasish runs on torch only: there is no backend to switch.",
    },
    "export": {
        "ExportArchive": "Use kerasish.export.export_model(model, path, format='torchscript' | 'torch_export' | "
                         "'onnx').",
    },
    "layers": {
        "FlaxLayer": "Flax modules run on JAX, not torch: use kerasish.layers.TorchModuleWrapper(torch_module).",
        "JaxLayer": "JAX functions run on JAX, not torch: use kerasish.layers.TorchModuleWrapper(torch_module).",
        "TFSMLayer": "TensorFlow SavedModels cannot run on torch: save the model as .keras and load it with "
                     "kerasish.saving.load_model.",
        "HashedCrossing": "Combine the features yourself (e.g. as strings) and hash them with "
                          "kerasish.layers.Hashing.",
        "MaxNumBoundingBoxes": "kerasish has no bounding-box support. " + _LAYER,
    },
    "optimizers": {
        "legacy": "The Keras 2 optimizers are not provided: " + _OPT,
    },
    "saving": {
        "KerasFileEditor": "A .keras file is a zip archive: read its config.json and model.weights.h5 with "
                           "zipfile and h5py, or load it with kerasish.saving.load_model and edit the model.",
    },
    "utils": {
        "audio_dataset_from_directory": "Load the files with torchaudio.load in a torch.utils.data.Dataset and "
                                        "pass a DataLoader to fit().",
        "bounding_boxes": "kerasish has no bounding-box utilities; torchvision.ops has box conversions and IoU.",
        "legacy": "The Keras 2 compatibility API is not provided: use the Keras 3 names.",
    },
}


def keras_only_fix(namespace: str, name: str) -> Optional[str]:
    """The way out for a Keras 3 name kerasish lacks, or None for a name Keras lacks too.

    Args:
        namespace: the kerasish namespace, e.g. 'kerasish.layers' (or 'kerasish' for the top level).
        name: the attribute asked for, e.g. 'HashedCrossing'.
    """
    return KERAS_ONLY.get(_suffix(namespace), {}).get(name)


def missing_attribute(namespace: str, name: str,
                      available: Union[Iterable[str], Mapping[str, Any]] = ()) -> AttributeError:
    """The AttributeError a namespace's `__getattr__` raises for a name it does not have.

    Args:
        namespace: the module's `__name__`, e.g. 'kerasish.layers'.
        name: the attribute asked for.
        available: the names the namespace has, for the "did you mean" suggestion: its `__all__`, or
            its `globals()` (imported modules and typing names are left out). Defaults to none.

    Returns:
        An AttributeError (raise it from the `__getattr__`, so `hasattr` stays False).
    """
    plain = f"module {namespace!r} has no attribute {name!r}"
    if name.startswith("__"):  # dunder probes (__path__, __wrapped__ ...) from tools: stay cheap and quiet
        return AttributeError(plain)
    fix = keras_only_fix(namespace, name)
    if fix is not None:
        keras_name = ".".join(filter(None, ("keras", _suffix(namespace), name)))
        return AttributeError(
            f"`{namespace}.{name}` is in Keras 3 (`{keras_name}`) but kerasish does not implement it. {fix}"
        )
    if isinstance(available, Mapping):
        available = [n for n, v in available.items() if not isinstance(v, types.ModuleType)
                     and getattr(v, "__module__", None) not in ("typing", "__future__")]
    public = sorted({n for n in available if not n.startswith("_")})
    listing = ("" if not public else f" Public names: {', '.join(public)}." if len(public) <= _LISTED
               else f" See dir({namespace}) for its {len(public)} names.")
    return AttributeError(f"{plain}; it is not a Keras 3 name either.{did_you_mean(name, public)}{listing}")


def _suffix(namespace: str) -> str:
    return namespace.split(".", 1)[1] if "." in namespace else ""
