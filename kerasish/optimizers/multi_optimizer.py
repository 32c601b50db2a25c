"""MultiOptimizer and OptimizerMap: different optimizers for different weights, as Keras 3's.

`OptimizerMap(default_optimizer, {pattern: optimizer})` picks an optimizer for a weight by its
path (`'sequential/dense/kernel'`): an exact key first, else the one key that matches the path
as a regular expression (`re.fullmatch`), else the default. `MultiOptimizer(optimizer_map)`
takes such a map, or any callable `variable -> optimizer`, and when it is built on the model's
trainable weights gives each sub-optimizer its own weights: every step runs each
sub-optimizer's own update (its rate or schedule, clipping, weight decay, EMA, gradient
accumulation) on its weights only. A sub-optimizer that got no weights is not built and never
steps (its `iterations` stays 0), as in Keras.

`MultiOptimizer.iterations` counts the steps of the MultiOptimizer itself; each
sub-optimizer counts its own. It has no learning rate of its own: reading or setting
`learning_rate` raises, as Keras's does (set the rate on `optimizer.optimizers[i]`).
`loss_scale_factor` overrides the sub-optimizers' (None included), as in Keras.

Example:
    >>> import torch
    >>> from kerasish import optimizers
    >>> w1, w2 = torch.nn.Parameter(torch.full((2,), 2.0)), torch.nn.Parameter(torch.full((2,), 3.0))
    >>> w1.path, w2.path = "dense_1/kernel", "dense_2/kernel"
    >>> opt = optimizers.MultiOptimizer(optimizers.OptimizerMap(
    ...     optimizers.SGD(1.0), {"dense_1/.*": optimizers.SGD(0.1)}))
    >>> opt.apply([torch.ones(2), torch.ones(2)], [w1, w2])
    >>> [round(v, 4) for v in w1.tolist()], w2.tolist(), int(opt.iterations)
    ([1.9, 1.9], [2.0, 2.0], 1)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import torch

from kerasish.optimizers.base import Optimizer
from kerasish.optimizers.loss_scale_optimizer import LossScaleOptimizer
from kerasish.optimizers.sub_optimizers import SubOptimizers


def _check_sub_optimizer(optimizer: Any, where: str) -> None:
    """Keras's checks on a sub-optimizer (with its messages first), raised as ValueError."""
    if not isinstance(optimizer, Optimizer):
        raise ValueError(
            f"optimizer must be a Keras Optimizer instance. Received: {optimizer!r} ({where}). Pass a kerasish "
            "optimizer such as kerasish.optimizers.Adam()."
        )
    if isinstance(optimizer, LossScaleOptimizer):
        raise ValueError(f"optimizer cannot be LossScaleOptimizer. Received it {where}; wrap the whole "
                         "MultiOptimizer in the LossScaleOptimizer instead.")
    if isinstance(optimizer, MultiOptimizer):
        raise ValueError(f"optimizer cannot be MultiOptimizer. Received it {where}; put its sub-optimizers in "
                         "this map instead.")


class OptimizerMap(MutableMapping):
    """Maps weight paths (exact strings or regular expressions) to optimizers, with a default.

    Looking a path up (`optimizer_map[path]`, or `optimizer_map(variable)` for
    `variable.path`) gives the optimizer of the key equal to the path, else of the one key
    that matches the whole path as a regular expression, else `default_optimizer`. A key
    `"encoder/.*"` covers every weight under `encoder`; `"encoder"` only a weight of that
    exact path.

    Args:
        default_optimizer: the kerasish optimizer of every weight no key matches.
        optimizer_map: a dict `{key: optimizer}` to start from. Defaults to `None` (empty).

    Raises:
        TypeError: when `default_optimizer` is not an optimizer or `optimizer_map` not a dict.
        ValueError: for an entry of `optimizer_map` that `__setitem__` would refuse (kerasish
            checks at once; Keras checks such entries when the MultiOptimizer is built).

    Example:
        >>> from kerasish import optimizers
        >>> m = OptimizerMap(optimizers.RMSprop())
        >>> m["encoder/layer_0/dense"] = optimizers.Adam()
        >>> m["encoder/.*"] = optimizers.SGD()
        >>> [type(m[p]).__name__ for p in ("encoder/layer_0/dense", "encoder/attention", "decoder/dense")]
        ['Adam', 'SGD', 'RMSprop']
    """

    def __init__(self, default_optimizer: Any, optimizer_map: Optional[Dict[str, Any]] = None) -> None:
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(
                f"default_optimizer must be a Keras Optimizer instance. Received: {default_optimizer!r}. Pass a "
                "kerasish optimizer, e.g. OptimizerMap(default_optimizer=kerasish.optimizers.SGD())."
            )
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(
                f"optimizer_map must be a dictionary. Received: {optimizer_map!r}. Pass {{'path/regex': optimizer}}."
            )
        if isinstance(default_optimizer, (LossScaleOptimizer, MultiOptimizer)):
            _check_sub_optimizer(default_optimizer, "as default_optimizer")
        self._default_optimizer = default_optimizer
        self._optimizer_map: Dict[str, Any] = {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    @property
    def default_optimizer(self) -> Optimizer:
        """The optimizer of the weights no key matches."""
        return self._default_optimizer

    def __getitem__(self, key: str) -> Optimizer:
        """The optimizer for the path `key` (see the class docstring).

        Raises:
            ValueError: when no key equals `key` and several match it as regular expressions.
        """
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [pattern for pattern in self._optimizer_map if re.fullmatch(pattern, key)]
        if len(matching) > 1:
            raise ValueError(
                f"Multiple optimizers assigned to variable {key}. The keys {matching} all match it: make the "
                "patterns exclusive, or add the exact path as a key."
            )
        if matching:
            return self._optimizer_map[matching[0]]
        return self._default_optimizer

    def __setitem__(self, key: str, optimizer: Any) -> None:
        """Sets the optimizer of a path or regular expression.

        Raises:
            ValueError: for a key already set, a key that is not a string, or an optimizer that
                is not a kerasish optimizer or is a LossScaleOptimizer or MultiOptimizer.
        """
        if key in self._optimizer_map:
            raise ValueError(
                f"'{key}' already exists in the OptimizerMap with value {self._optimizer_map[key]!r}. Please make "
                "sure to not use duplicated keys (del optimizer_map[key] first to replace it)."
            )
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key!r}. Use a weight path or a regular expression.")
        _check_sub_optimizer(optimizer, f"for key {key!r}")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key: str) -> None:
        del self._optimizer_map[key]

    def __len__(self) -> int:
        return len(self._optimizer_map)

    def __iter__(self) -> Iterator[str]:
        return iter(self._optimizer_map)

    def __call__(self, variable: Any) -> Optimizer:
        """The optimizer for `variable.path`.

        Raises:
            ValueError: for a variable without a path (a torch parameter kerasish did not create).
        """
        path = getattr(variable, "path", None)
        if not isinstance(path, str):
            raise ValueError(
                f"OptimizerMap chooses an optimizer by the variable's path, but the variable of shape "
                f"{tuple(getattr(variable, 'shape', ()))} has none (path={path!r}). Use a kerasish model (its "
                "weights have paths), or give MultiOptimizer a callable variable -> optimizer instead."
            )
        return self[path]

    def get_config(self) -> Dict[str, Any]:
        """`default_optimizer` and `optimizer_map` as Keras envelopes."""
        from kerasish.saving.keras_objects import serialize_keras_object

        return {"default_optimizer": serialize_keras_object(self._default_optimizer),
                "optimizer_map": serialize_keras_object(self._optimizer_map)}

    @classmethod
    def from_config(cls, config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]] = None) -> "OptimizerMap":
        from kerasish.optimizers import deserialize

        default = _optimizer_from(config["default_optimizer"], custom_objects, deserialize)
        entries = config.get("optimizer_map") or {}
        return cls(default, {k: _optimizer_from(v, custom_objects, deserialize) for k, v in entries.items()})

    def __repr__(self) -> str:
        return f"OptimizerMap(default_optimizer={self._default_optimizer!r}, optimizer_map={self._optimizer_map!r})"


def _optimizer_from(value: Any, custom_objects: Any, deserialize: Callable) -> Any:
    return value if isinstance(value, Optimizer) else deserialize(value, custom_objects)


class MultiOptimizer(Optimizer):
    """Delegates each trainable weight to one of several optimizers (Keras 3's MultiOptimizer).

    Built on the model's trainable weights (by `fit`, `compile` on a built model or the first
    `apply`), it asks `optimizer_map` for each weight's optimizer and builds every
    sub-optimizer that got weights on those weights. A step (fit's, `step()` or `apply`) runs
    each such sub-optimizer's update on its own weights, then counts one step of its own.

    Differences from Keras: with `loss_scale_factor`, the loss must go through `scale_loss`
    before a step (as for kerasish's other optimizers; Keras divides the gradients either way);
    under `compile(jit_compile=True)` the forward pass and loss compile and the sub-optimizers'
    updates run eagerly; `variables` lists the sub-optimizers' state tensors only (kerasish keeps
    step counts and rates on the host), while the `.keras` file and `get_state_tree` hold Keras's
    full list.

    Args:
        optimizer_map: an `OptimizerMap`, or a callable taking a variable and returning a
            kerasish optimizer (sub-optimizers are then found when the MultiOptimizer is built).
        loss_scale_factor: the loss is multiplied by it (`scale_loss`) and every sub-optimizer
            divides its gradients by it. It replaces the sub-optimizers' own, None included, as
            in Keras. Defaults to `None`.
        name: Defaults to `None` (`"multi_optimizer"`).

    Raises:
        TypeError: when `optimizer_map` is neither an OptimizerMap nor callable (Keras fails
            later, when it is built).

    Example:
        >>> import kerasish
        >>> from kerasish import layers, optimizers
        >>> model = kerasish.Sequential([kerasish.Input((3,)), layers.Dense(2, name="body"),
        ...                              layers.Dense(1, name="head")])
        >>> opt = optimizers.MultiOptimizer(optimizers.OptimizerMap(
        ...     optimizers.SGD(0.01, momentum=0.9), {".*/body/.*": optimizers.Adam(1e-3)}))
        >>> model.compile(optimizer=opt, loss="mse")
        >>> [type(o).__name__ for o in opt.optimizers]
        ['Adam', 'SGD']
    """

    def __init__(self, optimizer_map: Union[OptimizerMap, Callable[[Any], Optimizer]],
                 loss_scale_factor: Optional[float] = None, name: Optional[str] = None) -> None:
        if not isinstance(optimizer_map, OptimizerMap) and (not callable(optimizer_map)
                                                             or isinstance(optimizer_map, Optimizer)):
            raise TypeError(
                f"optimizer_map must be an OptimizerMap or a callable variable -> optimizer. Received: "
                f"{optimizer_map!r} of type {type(optimizer_map).__name__}. Example: MultiOptimizer(OptimizerMap("
                "default_optimizer=kerasish.optimizers.SGD(), optimizer_map={'.*encoder/.*': Adam()}))."
            )
        self._inner_optimizers: List[Optimizer] = []
        super().__init__(0.0, loss_scale_factor=loss_scale_factor, name=name)
        self._optimizer_map = optimizer_map
        self._groups: List[List[torch.Tensor]] = []
        self._index: Dict[int, int] = {}
        if isinstance(optimizer_map, OptimizerMap):
            for opt in list(optimizer_map.values()) + [optimizer_map.default_optimizer]:
                self._adopt(opt)

    def _adopt(self, optimizer: Optimizer) -> int:
        """The index of `optimizer` among the sub-optimizers, added (with this loss_scale_factor) if new."""
        for i, known in enumerate(self._inner_optimizers):
            if known is optimizer:
                return i
        optimizer.loss_scale_factor = self.loss_scale_factor
        self._inner_optimizers.append(optimizer)
        self._groups.append([])
        return len(self._inner_optimizers) - 1

    # ----------------------------------------------------------------- what Keras shows
    @property
    def optimizers(self) -> List[Optimizer]:
        """The sub-optimizers: the map's (in its order, then the default), then those a callable
        returned while building."""
        return self._inner_optimizers

    @property
    def learning_rate(self) -> Any:
        """Not available: the sub-optimizers have their own rates.

        Raises:
            AttributeError: always, as Keras's (read or set `optimizer.optimizers[i].learning_rate`).
        """
        raise AttributeError(
            "Learning rate cannot be accessed on a MultiOptimizer. Access the learning rate on the individual "
            "sub-optimizers instead (for opt in optimizer.optimizers: opt.learning_rate)."
        )

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        raise AttributeError(
            "Learning rate cannot be set on a MultiOptimizer. Set the learning rate on the individual "
            f"sub-optimizers instead (for opt in optimizer.optimizers: opt.learning_rate = ...). Received: {value!r}."
        )

    lr = learning_rate

    @property
    def loss_scale_factor(self) -> Optional[float]:
        return self.__dict__.get("_loss_scale_factor")

    @loss_scale_factor.setter
    def loss_scale_factor(self, value: Optional[float]) -> None:
        self.__dict__["_loss_scale_factor"] = value
        for opt in self.__dict__.get("_inner_optimizers", ()):
            opt.loss_scale_factor = value

    @property
    def variables(self) -> List[torch.Tensor]:
        """The sub-optimizers' state tensors, sub-optimizer by sub-optimizer."""
        return [v for opt in self._inner_optimizers for v in opt.variables]

    # The EMA averages and gradient accumulators of the sub-optimizers (what the non-finite
    # guard saves and restores around a step); the MultiOptimizer keeps none of its own.
    @property
    def _ema(self) -> List[torch.Tensor]:  # type: ignore[override]
        return [t for opt in self._stepping() for t in opt._ema]

    @_ema.setter
    def _ema(self, value: List[torch.Tensor]) -> None:
        if value:
            raise AttributeError("A MultiOptimizer's EMA averages are its sub-optimizers'.")

    @property
    def _accumulators(self) -> Dict[int, torch.Tensor]:  # type: ignore[override]
        return {k: t for opt in self._stepping() for k, t in opt._accumulators.items()}

    @_accumulators.setter
    def _accumulators(self, value: Dict[int, torch.Tensor]) -> None:
        if value:
            raise AttributeError("A MultiOptimizer's gradient accumulators are its sub-optimizers'.")

    def _stepping(self) -> List[Optimizer]:
        """The sub-optimizers that got weights (built, and stepped each step)."""
        return [opt for opt, params in zip(self._inner_optimizers, self._groups)
                if params and opt.torch_optimizer is not None]

    def exclude_from_weight_decay(self, var_list: Optional[Sequence[Any]] = None,
                                  var_names: Optional[Sequence[str]] = None) -> None:
        """Refused: weight decay is each sub-optimizer's setting.

        Raises:
            ValueError: always (Keras accepts the call and it has no effect).
        """
        raise ValueError(
            "exclude_from_weight_decay() on a MultiOptimizer would change nothing: weight decay is each "
            "sub-optimizer's. Call it on the sub-optimizer that decays those weights "
            "(optimizer.optimizers[i].exclude_from_weight_decay(...))."
        )

    # ----------------------------------------------------------------- building
    def build(self, params: Any) -> "MultiOptimizer":
        """Assigns each trainable weight its sub-optimizer and builds those that got weights.

        Raises:
            ValueError: when the map gives something that is not a kerasish optimizer, or a
                LossScaleOptimizer or MultiOptimizer, for a weight (Keras's messages).
        """
        params = [p for p in params if p.requires_grad]
        chosen = []
        for p in params:
            opt = self._optimizer_map(p)
            where = f"for variable {getattr(p, 'path', None) or tuple(p.shape)}"
            if not isinstance(opt, Optimizer):
                raise ValueError(f"Optimizer for variable {getattr(p, 'path', None) or tuple(p.shape)} is not an "
                                 f"Optimizer instance (received {opt!r}). The optimizer map must return a kerasish "
                                 "optimizer for every variable.")
            if isinstance(opt, LossScaleOptimizer):
                raise ValueError(f"LossScaleOptimizer cannot be used inside an MultiOptimizer ({where}). Wrap the "
                                 "MultiOptimizer in the LossScaleOptimizer instead.")
            if isinstance(opt, MultiOptimizer):
                raise ValueError(f"MultiOptimizer cannot be used inside an MultiOptimizer ({where}). Map the "
                                 "variables to its sub-optimizers directly.")
            chosen.append(opt)
        self._groups = [[] for _ in self._inner_optimizers]
        self._index = {}
        for p, opt in zip(params, chosen):
            i = self._adopt(opt)
            self._index[id(p)] = i
            self._groups[i].append(p)
        for opt, group in zip(self._inner_optimizers, self._groups):
            if group:
                opt.build(group)
        self._params, self._param_ids = params, None
        self._constrained = []
        self.torch_optimizer = SubOptimizers(self)
        return self

    # ----------------------------------------------------------------- stepping
    def scale_loss(self, loss: Any) -> Any:
        """The loss times `loss_scale_factor` (the loss itself without one)."""
        if self.loss_scale_factor is None:
            return loss
        self._loss_scaled = True
        for opt in self._inner_optimizers:
            opt._loss_scaled = True  # each divides its own gradients by the same factor
        return loss * self.loss_scale_factor

    def before_step(self) -> None:
        for opt in self._stepping():
            opt.before_step()

    def after_step(self) -> None:
        for opt in self._stepping():
            opt.after_step()
        self._iterations += 1

    @property
    def clips(self) -> bool:
        return any(opt.clips for opt in self._stepping())

    def clip_gradients(self) -> None:
        for opt in self._stepping():
            opt.clip_gradients()

    def step(self) -> None:
        """Each sub-optimizer's update from its weights' `.grad`, then one step counted here.

        Raises:
            RuntimeError: with `loss_scale_factor` set, when the loss was not passed through
                `scale_loss` since the last step.
        """
        self._check_loss_scaled()
        for opt in self._stepping():
            opt.step()
        self._iterations += 1

    def _check_loss_scaled(self) -> None:
        if self.loss_scale_factor is None:
            return
        if not self._loss_scaled:
            raise RuntimeError(
                f"MultiOptimizer(loss_scale_factor={self.loss_scale_factor}) divides the gradients by the factor, "
                "but the loss was not multiplied by it: call loss = optimizer.scale_loss(loss) before "
                "loss.backward()."
            )
        self._loss_scaled = False

    def zero_grad(self) -> None:
        for opt in self._stepping():
            opt.zero_grad()

    def apply(self, grads: Sequence[Any], trainable_variables: Optional[Sequence[torch.Tensor]] = None) -> None:
        """Applies one gradient per trainable weight, each through its sub-optimizer (Keras's `apply`).

        Unlike a single optimizer's `apply`, every weight the MultiOptimizer was built on must
        be given, as in Keras. An empty `grads` does nothing.

        Args:
            grads: one gradient per variable (None skips that variable).
            trainable_variables: the variables. Defaults to `None` (those it was built on).

        Raises:
            ValueError: without variables before it is built, for a count that is not one
                gradient per built variable, or for a variable it was not built on.
        """
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already be built on a list of "
                    "variables. Call `optimizer.build(trainable_variables)` first, or pass the variables: "
                    "optimizer.apply(grads, model.trainable_weights)."
                )
            variables = list(self._params)
        else:
            variables = list(trainable_variables)
        if not self.built:
            self.build(variables)
        if len(grads) != len(self._params) or len(variables) != len(grads):
            raise ValueError(
                "Gradients must match trainable variables one-to-one. Received "
                f"{len(grads)} gradients and {len(self._params)} variables"
                + ("" if len(variables) == len(grads) else f" ({len(variables)} passed)")
                + ". Pass a gradient for every trainable weight, in the same order as the variables."
            )
        per_optimizer: List[List[Any]] = [[] for _ in self._inner_optimizers]
        for g, v in zip(grads, variables):
            i = self._index.get(id(v))
            if i is None:
                raise ValueError(
                    f"MultiOptimizer.apply received the variable {getattr(v, 'path', None) or tuple(v.shape)}, which "
                    "it was not built on. It updates the variables of its first apply() (or of model.compile); "
                    "use one optimizer per set of variables."
                )
            per_optimizer[i].append((g, v))
        self._check_loss_scaled()
        for opt, pairs in zip(self._inner_optimizers, per_optimizer):
            if pairs:
                opt.apply([g for g, _ in pairs], [v for _, v in pairs])
        self._iterations += 1

    def finalize_variable_values(self, var_list: Optional[Sequence[torch.Tensor]] = None) -> None:
        """Each sub-optimizer writes its moving averages into its weights (those with `use_ema`).

        Raises:
            ValueError: for a variable the MultiOptimizer was not built on.
        """
        if var_list is None:
            for opt in self._stepping():
                opt.finalize_variable_values(None)
            return
        per_optimizer: List[List[torch.Tensor]] = [[] for _ in self._inner_optimizers]
        for v in var_list:
            i = self._index.get(id(v))
            if i is None:
                raise ValueError(
                    f"finalize_variable_values received the variable {getattr(v, 'path', None) or tuple(v.shape)}, "
                    "which this MultiOptimizer was not built on. Pass model.trainable_weights of the model it trains."
                )
            per_optimizer[i].append(v)
        for opt, variables in zip(self._inner_optimizers, per_optimizer):
            if variables:
                opt.finalize_variable_values(variables)

    # ----------------------------------------------------------------- state and config
    def state_dict(self) -> Dict[str, Any]:
        """The step count and each sub-optimizer's state dict (empty for one without weights)."""
        if self.torch_optimizer is None:
            return {}
        return {"iterations": self._iterations, "optimizers": [opt.state_dict() for opt in self._inner_optimizers]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restores what `state_dict` returned into a built MultiOptimizer.

        Raises:
            ValueError: when the state holds another number of sub-optimizers.
        """
        saved = list(state.get("optimizers", []))
        if len(saved) != len(self._inner_optimizers):
            raise ValueError(
                f"The state holds {len(saved)} sub-optimizer states, this MultiOptimizer has "
                f"{len(self._inner_optimizers)} sub-optimizers. Load a state saved from a MultiOptimizer with the "
                "same optimizer map."
            )
        for opt, sub in zip(self._inner_optimizers, saved):
            if sub:
                opt.load_state_dict(sub)
        if "iterations" in state:
            self._iterations = int(state["iterations"])

    def get_config(self) -> Dict[str, Any]:
        """Keras's keys: `optimizer_map` (its envelope), `loss_scale_factor` and `name`."""
        from kerasish.saving.keras_objects import serialize_keras_object

        found = self._optimizer_map
        if isinstance(found, OptimizerMap):  # a Mapping, which serialize_keras_object would write as a dict
            described: Any = {"module": "keras.optimizers", "class_name": "OptimizerMap",
                              "config": found.get_config(), "registered_name": None}
        else:
            described = serialize_keras_object(found)
        return {"optimizer_map": described, "loss_scale_factor": self.loss_scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config: Dict[str, Any],
                    custom_objects: Optional[Dict[str, Any]] = None) -> "MultiOptimizer":
        from kerasish.saving.keras_objects import deserialize_keras_object

        config = dict(config)
        found = config["optimizer_map"]
        if isinstance(found, Mapping) and found.get("class_name") == "OptimizerMap":
            found = OptimizerMap.from_config(dict(found.get("config") or {}), custom_objects)
        elif isinstance(found, Mapping):
            found = deserialize_keras_object(dict(found), custom_objects)
        config["optimizer_map"] = found
        return cls(**config)

    def __repr__(self) -> str:
        return f"MultiOptimizer({self._inner_optimizers!r})"
