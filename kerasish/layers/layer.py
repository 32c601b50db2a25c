"""The Layer base class: a torch nn.Module with Keras's lazy build, names and configs.

Subclasses implement:
- `build(input_shape)`: create parameters once the input shape is known. `input_shape`
  is a tuple whose first entry is the batch: None in a functional model or `model.build((None,
  784))`, the batch size seen (e.g. `(32, 784)`) when the first eager call builds the layer, as
  in Keras; weights must not depend on it.
- `call(inputs)`: the computation (`forward` delegates to it).
- `compute_output_shape(input_shape)`: the output shape, batch entry None.
- `get_config()`: constructor arguments as a JSON-ready dict (`super().get_config()` first).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections import defaultdict
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from kerasish.layers import auto_config, call_context, name_scope, rematerialization
from kerasish.layers.calling import (
    build_shape, call_spec, cast_input, cast_inputs, first_device, has_symbolic, input_cast_dtype, needs_conversion,
    shape_tree, to_tensors,
)
from kerasish.layers.symbolic import call_symbolic
from kerasish.layers.input_spec import assert_input_compatibility
from kerasish.layers.input_shape_warning import (  # noqa: F401  (importable from here, as before)
    INPUT_SHAPE_WARNING, _rebuilds_quietly, _warn_input_shape_given, quiet_input_shape,
)
from kerasish.layers.layer_state import LayerState
from kerasish.layers.layer_surface import LayerSurface
from kerasish.layers.layer_utils import _jsonable_shape, _resolve_dtype, _shape_from_json, state_restore, state_snapshot

Shape = Tuple[Optional[int], ...]

_name_counts: Dict[str, int] = defaultdict(int)

def to_snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
    return re.sub(r"(\d)_d\b", r"\1d", s)  # conv2_d -> conv2d


def unique_name(base: str) -> str:
    """Keras's naming: 'dense', 'dense_1', 'dense_2' ... per base name, process-wide."""
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def reset_names() -> None:
    """Restarts the name counters (Keras's `clear_session` does this)."""
    _name_counts.clear()


def normalize_shape(shape: Any, arg: str = "input_shape") -> Tuple[Optional[int], ...]:
    """Validates a user-given shape (without batch) and returns it as a tuple."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(
            f"{arg} must be a tuple of ints such as (784,) or (28, 28, 1), received {shape!r}."
        ) from None
    for d in shape:
        if d is not None and (not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1):
            raise ValueError(
                f"{arg} must hold positive ints (or None for a variable size), received {shape!r}. "
                "Example: input_shape=(28, 28, 1)."
            )
    return tuple(None if d is None else int(d) for d in shape)


def infer_output_shape(module: nn.Module, input_shape: Shape, dtype: torch.dtype = torch.float32) -> Shape:
    """Output shape of an arbitrary module, found by running it on a zero batch of 2.

    Used for plain torch modules inside a Sequential; it runs in eval mode without
    gradients, so no state (BatchNorm statistics, RNG) changes.
    """
    if any(d is None for d in input_shape[1:]):
        raise ValueError(
            f"Cannot infer the output shape of {type(module).__name__} for input shape {input_shape} "
            "with unknown (None) dimensions. Give the first layer a full input_shape."
        )
    params = list(module.parameters())
    device = params[0].device if params else torch.device("cpu")
    was_training = module.training
    module.eval()
    saved = state_snapshot(module)
    try:
        with torch.no_grad(), call_context.training_scope(False):
            out = module(torch.zeros((2,) + tuple(input_shape[1:]), dtype=dtype, device=device))
    finally:
        module.train(was_training)
        state_restore(saved)
        call_context.clear_losses_under(module)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return (None,) + tuple(out.shape[1:])


def _marking_built(build: Any) -> Any:
    """`build` that leaves the layer built, as Keras's: `layer.build(shape)` called directly counts."""

    @functools.wraps(build)
    def wrapped(self: "Layer", *args: Any, **kwargs: Any) -> Any:
        for name in type(self)._weights_made_by_build:
            # A weight the build leaves out (no bias with use_bias=False) reads None afterwards, as in Keras.
            if name not in self.__dict__ and name not in self._parameters:
                self.__dict__[name] = None
        with name_scope.opened(self):  # weights made here, by it or its sublayers, get its path
            out = build(self, *args, **kwargs)
        if self._build_input_shape is None and (args or "input_shape" in kwargs):
            self._build_input_shape = args[0] if args else kwargs["input_shape"]
        self.built = True
        if not self._trainable:
            for p in self.parameters():
                p.requires_grad_(False)
        return out

    wrapped._marks_built = True  # type: ignore[attr-defined]
    return wrapped


def _sublayers(module: nn.Module) -> Iterator["Layer"]:
    """The layers directly under `module`, also those held in plain torch containers (lists, dicts)."""
    for child in module.children():
        if isinstance(child, Layer):
            yield child
        else:
            yield from _sublayers(child)


class UnrecognizedArgumentsError(ValueError, TypeError):
    """A layer constructor's unknown keyword argument: Keras 3 raises ValueError, Python's own
    signature check TypeError; code that catches either catches this."""


def record_arguments(obj: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    """Records the constructor arguments of a new layer or model whose class writes no get_config()
    (Keras's automatic config, `auto_config`); returns `obj`."""
    if type(obj)._auto_config_class:
        config, positional = auto_config.capture(type(obj), args, kwargs)
        obj.__dict__[auto_config.AUTO_CONFIG] = config
        obj.__dict__[auto_config.AUTO_CONFIG_POSITIONAL] = positional
    return obj


class Layer(LayerSurface, LayerState, nn.Module):
    """Base class of kerasish layers: an `nn.Module` built lazily from its input shape.

    Args:
        name: the layer's name; unique names ('dense', 'dense_1' ...) by default.
        input_shape: shape of one sample, without the batch, for a first layer; warns, as Keras
            does, to start the model with `Input(shape)` instead. Defaults to `None`.
        input_dim: shorthand for `input_shape=(input_dim,)`; warns the same. Defaults to `None`.
        dtype: the variables' dtype name ('float32', 'float64' ...) or a mixed-precision policy
            name ('mixed_float16', 'mixed_bfloat16': float32 variables, the call computed in
            that type under autocast). Defaults to `None` (kerasish.config.floatx()).
        trainable: whether the weights are updated by fit. Defaults to `True`.
        autocast: under a mixed-precision `dtype` policy, `False` runs this layer's call
            without autocast (in its variables' dtype). Defaults to `True`.
        activity_regularizer: a regularizer applied to the layer's output; its value
            (divided by the batch size, as Keras 3) is added to `losses`. Defaults to `None`.

    Calls (`layer(x, training=..., mask=...)`) follow Keras's call context: the layer is
    built on its first call from the input shapes, `training` and `mask` reach `call`
    when it declares them (an explicit value wins, otherwise `training` is inherited from
    the enclosing call, and `fit` sets it True), NumPy inputs become tensors, and
    KerasTensor inputs record a node of the functional graph.
    """

    #: An InputSpec (or a list of them) the first argument of every call is checked against; None: no check.
    input_spec: Any = None
    #: The rematerialization mode the layer was constructed under (a RematMode), or None.
    _remat_mode: Any = None

    def __init__(
        self,
        *,
        name: Optional[str] = None,
        input_shape: Optional[Sequence[Optional[int]]] = None,
        input_dim: Optional[int] = None,
        dtype: Optional[str] = None,
        trainable: bool = True,
        autocast: bool = True,
        activity_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        # Keras's rule for a direct call without `training`: the layer's inference behaviour.
        # Layers therefore start in torch's eval mode (fit switches to train mode and back);
        # `model.train()` still turns training behaviour on for a hand-written torch loop.
        self.training = False
        if "batch_input_shape" in kwargs:
            # Keras 3 refuses it as an unrecognized argument (a ValueError); old configs are translated on load.
            shape = kwargs["batch_input_shape"]
            raise ValueError(
                f"{type(self).__name__}() got batch_input_shape={shape!r}, a Keras 2 argument that Keras 3 does not "
                "accept. Start the model with an input declaration instead: "
                f"keras.Input(batch_shape={tuple(shape) if isinstance(shape, (list, tuple)) else shape!r}), "
                "or Input(shape=...) without the batch entry."
            )
        if kwargs:
            raise UnrecognizedArgumentsError(
                f"{type(self).__name__}() got unexpected keyword argument(s) {sorted(kwargs)}. "
                f"Check the spelling against {type(self).__name__}'s documented arguments."
            )
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty string, received {name!r}.")
        self.name: str = name or unique_name(to_snake_case(type(self).__name__))
        self._input_shape_arg: Optional[Shape] = None
        if input_shape is not None:
            self._input_shape_arg = (None,) + normalize_shape(input_shape)
        elif input_dim is not None:
            self._input_shape_arg = (None,) + normalize_shape((input_dim,), "input_dim")
        if input_shape is not None or input_dim is not None:
            _warn_input_shape_given(self)
        self._dtype_config = dtype
        self._dtype_arg, self._compute_dtype = _resolve_dtype(dtype)
        self.autocast = bool(autocast)
        if activity_regularizer is not None:
            from kerasish import regularizers

            activity_regularizer = regularizers.get(activity_regularizer)
        self.activity_regularizer = activity_regularizer
        self._call_losses: List[torch.Tensor] = []
        self.built: bool = False
        self._build_input_shape: Optional[Shape] = None
        self._trainable = bool(trainable)
        # Calls on symbolic tensors (functional API), in order; plain Python objects,
        # not submodules.
        self._inbound_nodes: List[Any] = []
        # The RematScope open at construction, as Keras reads it (None: no checkpointing; see rematerialization).
        self._remat_mode = rematerialization.mode_for_new_layer()

    #: Weights the layer's `build` creates, e.g. ("kernel", "bias"). Before the build, reading one
    #: raises AttributeError as in Keras (hasattr is False); a build that leaves one out (no bias) sets it None.
    _weights_made_by_build: Tuple[str, ...] = ()

    #: Whether `__call__` converts floating-point inputs to the layer's compute dtype (Keras's flag;
    #: lookup, hashing, text and some data layers turn it off).
    _convert_input_args = True

    _auto_config_class = False  # set per subclass in __init_subclass__

    def __new__(cls, *args: Any, **kwargs: Any) -> "Layer":
        return record_arguments(object.__new__(cls), args, kwargs)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A user's class that writes no get_config() gets Keras's automatic one (see auto_config).
        cls._auto_config_class = cls.get_config is Layer.get_config and cls.__module__.split(".")[0] != "kerasish"
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            cls.build = _marking_built(build)  # type: ignore[method-assign]
        from_config = cls.__dict__.get("from_config")
        if isinstance(from_config, classmethod) and not getattr(from_config.__func__, "_rebuilds_quietly", False):
            cls.from_config = classmethod(_rebuilds_quietly(from_config.__func__))  # type: ignore[method-assign]

    def __getattr__(self, name: str) -> Any:
        # Reached for every parameter read (torch keeps them out of __dict__): the common case first.
        params = self.__dict__.get("_parameters")
        if params is not None and name in params:
            return params[name]
        try:
            return nn.Module.__getattr__(self, name)
        except AttributeError:
            if name not in type(self)._weights_made_by_build or self.__dict__.get("built", True):
                raise
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}: layer {self.__dict__.get('name')!r} is not "
            f"built yet, and `{name}` is created when it is built. Call the layer on an input first, or call "
            "layer.build(input_shape) (model.build(input_shape) for a model)."
        )

    # ------------------------------------------------------------------ building
    @_marking_built
    def build(self, input_shape: Shape) -> None:
        """Creates the layer's weights. The base implementation creates none and marks the layer built.

        Called directly (`model.build(shape)`) on a layer whose sublayers are not built yet, it warns
        as Keras does: they stay unbuilt until the layer's first call.
        """
        if not getattr(type(self).build, "_is_default", False):
            return  # `super().build(shape)` from a subclass's own build: that build is in charge
        unbuilt = [child.name for child in _sublayers(self) if not child.built]
        if unbuilt:
            warnings.warn(
                f"build() was called on layer {self.name!r}, whose class has no build() method of its own, so its "
                f"sublayers {unbuilt} stay unbuilt: {self.name!r} is marked built, and they are built on its first "
                "call. Implement build(input_shape) to build them now, or call the layer on a batch instead.",
                UserWarning, stacklevel=3)

    build._is_default = True  # type: ignore[attr-defined]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The output shape for an input shape (batch entry None).

        The base implementation runs the layer on a zero batch; subclasses override it
        with the closed form.
        """
        return infer_output_shape(self, input_shape)

    def build_from_shape(self, input_shape: Shape, device: Optional[torch.device] = None) -> None:
        """Builds the layer for `input_shape` (batch entry first) if it is not built yet."""
        if self.built:
            return
        input_shape = tuple(input_shape) if isinstance(input_shape, tuple) else input_shape
        if getattr(type(self).build, "_is_default", False):
            # Nothing to create (sublayers build on the call about to run), and no warning about them.
            self._build_with(lambda: None, input_shape, device)
            return
        self._build_with(lambda: self.build(input_shape), input_shape, device)

    def get_build_config(self) -> Optional[Dict[str, Any]]:
        """The input shape the layer was built with, for rebuilding a saved layer."""
        if self._build_input_shape is None:
            return None
        return {"input_shape": _jsonable_shape(self._build_input_shape)}

    def build_from_config(self, config: Optional[Dict[str, Any]]) -> None:
        """Builds the layer from `get_build_config()`'s dict (no-op for None)."""
        if config and config.get("input_shape") is not None and not self.built:
            self.build_from_shape(_shape_from_json(config["input_shape"]))

    @property
    def dtype(self) -> str:
        from kerasish import config

        return self._dtype_arg or config.floatx()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.input_spec is not None:  # one attribute read for layers without a spec
            first = args[0] if args else kwargs.get("inputs", next(
                (v for k, v in kwargs.items() if k not in ("training", "mask")), None))  # call's first argument
            assert_input_compatibility(self.input_spec, first, self.name)
        # The per-batch common case: one tensor, at most `training=` (a train_step's `self(x, training=True)`).
        plain = len(args) == 1 and type(args[0]) is torch.Tensor and (
            not kwargs or (len(kwargs) == 1 and "training" in kwargs and type(kwargs["training"]) is bool))
        if not plain and has_symbolic(args, kwargs):
            # Functional API: record the call on symbolic inputs, return symbolic outputs.
            return call_symbolic(self, args, kwargs)
        if not plain and args and type(args[0]) is not torch.Tensor and needs_conversion(args[0]):
            args = (to_tensors(args[0], self._input_device()),) + args[1:]
        spec = call_spec(type(self))
        st = call_context.state()
        training = kwargs.get("training") if kwargs else None
        if training is None:
            training = st.training
        if spec.training:
            if training is not None:
                kwargs["training"] = training
        elif kwargs and "training" in kwargs:
            del kwargs["training"]  # not declared: it reaches nested layers through the context
        if spec.mask:
            if kwargs.get("mask") is None and args:
                mask = getattr(args[0], "_keras_mask", None)
                if mask is not None:
                    kwargs["mask"] = mask
        elif kwargs and "mask" in kwargs:
            mask_arg = kwargs.pop("mask")
            if mask_arg is not None and self._passes_mask_to_layers and args and isinstance(args[0], torch.Tensor):
                # A model hands the mask to its first layers.
                args[0]._keras_mask = torch.as_tensor(mask_arg, device=args[0].device)
            elif mask_arg is not None and not self.supports_masking:
                raise TypeError(
                    f"Layer {self.name!r} ({type(self).__name__}) received mask=... but its call() does not take "
                    "a `mask` argument. Add `mask=None` to its call signature, or do not pass a mask."
                )
        if not self.built:
            self._build_on_call(args, kwargs)
        # Floating-point inputs in the weights' dtype, as Keras converts them to the compute dtype
        # (float64 data into a float32 layer, float32 data into a dtype="float64" one).
        cast_to = input_cast_dtype(self)
        if cast_to is not None:
            if plain:
                if args[0].dtype is not cast_to and args[0].is_floating_point():
                    args = (cast_input(args[0], cast_to),)
            else:
                args, kwargs = cast_inputs(args, kwargs, cast_to)
        if st.depth == 0 and st.loss_layers:
            call_context.clear_losses_under(self)
        saved = st.training
        st.training = training
        st.depth += 1
        scoped = name_scope.enter(self)  # sublayers built in this call get this layer's path
        try:
            if self._compute_dtype is not None and self.autocast:
                device = first_device(args) or torch.device("cpu")
                with torch.autocast(device.type, dtype=self._compute_dtype):
                    out = nn.Module.__call__(self, *args, **kwargs)
            else:
                out = nn.Module.__call__(self, *args, **kwargs)
        finally:
            st.training = saved
            st.depth -= 1
            name_scope.leave(scoped)
        if self.activity_regularizer is not None:
            self._add_activity_losses(out)
        if args and (spec.own_compute_mask or self.supports_masking) and isinstance(out, (torch.Tensor, list, tuple)):
            # Only layers that make or pass on masks look for one (a missing tensor attribute costs).
            in_mask = kwargs.get("mask") if spec.mask else getattr(args[0], "_keras_mask", None)
            new_mask = self.compute_mask(args[0], in_mask)
            if isinstance(out, torch.Tensor):
                if new_mask is not None:
                    out._keras_mask = new_mask
            elif new_mask is not None:  # several outputs (a split): one mask each, as Keras pairs them
                masks = new_mask if isinstance(new_mask, (list, tuple)) else [new_mask]
                for tensor, mask in zip(out, masks):
                    if isinstance(tensor, torch.Tensor) and mask is not None and not hasattr(tensor, "_keras_mask"):
                        tensor._keras_mask = mask
        return out

    @property
    def _call_spec(self) -> Any:
        return call_spec(type(self))

    def _input_device(self) -> Optional[torch.device]:
        for p in self.parameters():
            return p.device
        return None

    def _build_on_call(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        if not args:
            return
        if self._call_spec.build_args:
            # build(self, a_shape, b_shape): one shape per positional argument.
            shapes = [build_shape(shape_tree(a)) for a in args]
            self._build_with(lambda: self.build(*shapes), shapes[0], first_device(args))
            return
        shape = build_shape(shape_tree(args[0]))
        if shape is None:
            return  # strings or other objects: the layer builds itself
        self.build_from_shape(shape, first_device(args))

    def _build_with(self, build: Any, shape: Any, device: Optional[torch.device]) -> None:
        with name_scope.opened(self):  # as Keras, also for a layer without its own build
            build()
        self._build_input_shape = shape
        self.built = True
        if device is not None:
            self.to(device)
        if not self._trainable:
            for p in self.parameters():
                p.requires_grad_(False)

    def _mixed_compute(self) -> bool:
        """Whether this layer's calls run under autocast (its own policy or the global one)."""
        if self._compute_dtype is not None:
            return True
        from kerasish import mixed_precision

        return mixed_precision.global_policy().autocast_dtype is not None

    def _add_activity_losses(self, out: Any) -> None:
        outs = out if isinstance(out, (list, tuple)) else [out]
        for o in outs:
            if isinstance(o, torch.Tensor):
                value = self.activity_regularizer(o)
                if o.dim() > 0 and o.shape[0] > 0:
                    value = value / o.shape[0]  # Keras 3 divides by the batch size
                self.add_loss(value)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._remat_mode is not None:  # made under a RematScope: one attribute read otherwise
            return rematerialization.remat_call(self, args, kwargs)
        return self.call(*args, **kwargs)

    forward._calls_call = True  # type: ignore[attr-defined]  # (a subclass's own forward has no mark)

    # ------------------------------------------------------------------ masking
    #: Whether the layer passes an incoming mask through unchanged (Keras's flag).
    supports_masking = False
    #: Models take `mask=` and hand it to the layers that read their input.
    _passes_mask_to_layers = False

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """The mask of the output: the incoming one when `supports_masking`, else None."""
        return previous_mask if self.supports_masking else None

    def call(self, inputs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement call(inputs).")

    # ------------------------------------------------------------------ functional graph
    def _single_node(self, what: str) -> Any:
        if not self._inbound_nodes:
            # ValueError, not AttributeError: nn.Module would swallow the message.
            raise ValueError(
                f"Layer {self.name!r} has never been called on a symbolic input, so it has no {what}. "
                "Build the model first (give the first layer input_shape=..., or call the layer on Input(...))."
            )
        return self._inbound_nodes[0]

    @property
    def input(self) -> Any:
        """The symbolic input of the layer's first call (functional API / built Sequential)."""
        node = self._single_node("input")
        return node.inputs

    @property
    def output(self) -> Any:
        """The symbolic output of the layer's first call (functional API / built Sequential)."""
        node = self._single_node("output")
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    # Activation fusion: layers whose output ends in softmax/sigmoid can hand the
    # training step the pre-activation logits (exact, stable cross-entropy).
    def logits_activation(self) -> Optional[str]:
        """'softmax' or 'sigmoid' when `call_logits` gives the pre-activation output."""
        return None

    def call_logits(self, inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no fused logits path.")

    # ------------------------------------------------------------------ config
    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments as a JSON-ready dict; `cls.from_config(config)` rebuilds."""
        config: Dict[str, Any] = {"name": self.name}
        if type(self)._auto_config_class:  # a user's class without get_config(): its recorded arguments, as Keras
            config.update(auto_config.config_of(self))
            if not auto_config.takes_name(type(self)):
                del config["name"]
        config.update({"trainable": self._trainable, "dtype": self._dtype_policy()})
        if self.activity_regularizer is not None:
            from kerasish import regularizers

            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        # As Keras 3: no `input_shape` here, even for a layer given one (a Sequential it starts
        # records it as an InputLayer of its own config).
        return config

    @classmethod
    @_rebuilds_quietly
    def from_config(cls, config: Dict[str, Any]) -> "Layer":
        return cls(**config)

    def _keras_plain_config(self, config: Dict[str, Any]) -> Dict[str, Any]:
        """`config` as the few Keras layers whose constructor takes no `trainable` write it
        (SpatialDropout*, Discretization): no `trainable` key, `dtype` a plain name."""
        config.pop("trainable", None)
        config["dtype"] = self.dtype
        return config

    def _dtype_policy(self) -> Dict[str, Any]:
        """The layer's dtype as Keras 3 writes it: a DTypePolicy envelope naming the policy."""
        name = getattr(self._dtype_config, "name", self._dtype_config)
        if isinstance(self._dtype_config, dict):
            name = self._dtype_config.get("config", {}).get("name")
        if not isinstance(name, str):
            name = self.dtype
        return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


# Keras's Layer constructor has no input_shape/input_dim parameters: its automatic config never shows them.
auto_config.register_base(Layer.__init__, {"input_shape": None, "input_dim": None})
