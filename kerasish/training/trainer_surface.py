"""Keras 3's trainer attributes beside compile/fit (`TrainerSurface`, a base of `Trainer`).

- `jit_compile` and `run_eagerly`: read and written after (or before) `compile()`, they change
  the compiled setting itself, so the next `fit`/`evaluate` runs as if `compile()` had received
  the new value;
- `make_train_function` / `make_test_function` / `make_predict_function` and the
  `train_function` / `test_function` / `predict_function` they set: one step on `[batch]`, as
  Keras's torch trainer makes them;
- `get_state_tree` / `set_state_tree`: every variable by its Keras path (the weights, the optimizer's
  and the metrics' state), both ways (`state_tree.py`).

`Trainer` (model_trainer.py) inherits this class; it is not used on its own.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Callable, Dict, Optional

import torch

from kerasish.utils.tree import unpack_x_y_sample_weight

#: What `compile()` clears, as Keras's compile sets them back to None.
STEP_FUNCTIONS = ("train_function", "test_function", "predict_function")
#: Where `jit_compile` / `run_eagerly` set before `compile()` wait; compile replaces them, as Keras's does.
PRE_COMPILE_SETTINGS = ("_jit_compile_setting", "_run_eagerly_setting")


def _user_stacklevel() -> int:
    """The stacklevel of the first frame outside kerasish and torch: an attribute set on a model
    reaches its setter through the modules' `__setattr__` chain, whose depth varies by class."""
    roots = tuple(os.path.dirname(sys.modules[name].__file__) + os.sep for name in ("kerasish", "torch"))
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(roots):
        frame, level = frame.f_back, level + 1
    return level


class TrainerSurface:
    """The `jit_compile`/`run_eagerly` settings, step functions and state trees of `Trainer`."""

    train_function: Optional[Callable[[Any], Any]] = None
    test_function: Optional[Callable[[Any], Any]] = None
    predict_function: Optional[Callable[[Any], Any]] = None

    # ----------------------------------------------------------------- compiled settings
    @property
    def jit_compile(self) -> Any:
        """Whether fit/evaluate run the built-in steps under `torch.compile`: `False`, `True`, or the
        dict of torch.compile options given to compile (see `compile(jit_compile=...)`).

        Setting it (`model.jit_compile = False`) changes the compiled setting: the next `fit` or
        `evaluate` runs as if `compile()` had received the value (a fit already running keeps its
        steps). Before `compile()`, the value is kept until compile, which replaces it, as in Keras.

        Raises:
            ValueError: for a value compile would refuse (anything but True, False, 'auto' or a dict of
                torch.compile options), or `True` while `run_eagerly` is True (set
                `model.run_eagerly = False` first).
        """
        cfg = self._compile_config
        if cfg is None:
            return self.__dict__.get("_jit_compile_setting", False)
        if not cfg.jit_compile:
            return False
        return dict(cfg.jit_compile_options) if cfg.jit_compile_options else True

    @jit_compile.setter
    def jit_compile(self, value: Any) -> None:
        from kerasish.training.compiled_step import resolve_jit_compile

        options = resolve_jit_compile(value)  # raises for what compile(jit_compile=...) refuses
        if options is not None and self.run_eagerly:
            raise ValueError(
                f"model.jit_compile = {value!r} on {self.name!r}, whose run_eagerly is True: an eager run is not "
                "compiled (Keras's compile turns jit_compile off in that case). Set model.run_eagerly = False first, "
                "then model.jit_compile = True."
            )
        cfg = self._compile_config
        if cfg is None:
            self.__dict__["_jit_compile_setting"] = False if options is None else (dict(options) or True)
            return
        cfg.jit_compile, cfg.jit_compile_options = options is not None, options

    @property
    def run_eagerly(self) -> bool:
        """Whether fit/evaluate run every step eagerly. In kerasish a step is eager unless
        `jit_compile` puts it under `torch.compile`, so `run_eagerly=True` means no torch.compile:
        setting it True turns `jit_compile` off (with compile's warning when it was on), and it
        must be set False again before `jit_compile` can be turned on. Before `compile()`, the value
        is kept until compile, which replaces it, as in Keras."""
        cfg = self._compile_config
        if cfg is None:
            return self.__dict__.get("_run_eagerly_setting", False)
        return cfg.run_eagerly

    @run_eagerly.setter
    def run_eagerly(self, value: Any) -> None:
        value = bool(value)
        cfg = self._compile_config
        if cfg is None:
            self.__dict__["_run_eagerly_setting"] = value
            return
        if value and cfg.jit_compile:
            warnings.warn(f"model.run_eagerly = True on {self.name!r}: an eager run is not compiled, so jit_compile "
                          "is turned off.", stacklevel=_user_stacklevel())
            cfg.jit_compile, cfg.jit_compile_options = False, None
        cfg.run_eagerly = value

    # ----------------------------------------------------------------- step functions
    def _check_step_functions_not_overridden(self, what: str, names: tuple) -> None:
        """fit/evaluate/predict run kerasish's own loop, which never calls `make_*_function`: an
        override of one would be silently ignored, so it is refused instead (once per call)."""
        base = TrainerSurface
        for name in names:
            if getattr(type(self), name) is not getattr(base, name):
                raise NotImplementedError(
                    f"{type(self).__name__} overrides {name}(), which kerasish's {what}() never calls (its loop "
                    "runs the step itself), so the override would be ignored. Override train_step / test_step / "
                    "predict_step instead (fit, evaluate and predict call them once per batch)."
                )

    def make_train_function(self, force: bool = False) -> Optional[Callable[[Any], Any]]:
        """Sets `model.train_function`: one training step on `[batch]` (a list holding one batch, as
        Keras's torch trainer passes it) returning the logs dict. The built-in step runs through
        `train_on_batch`, whose logs are that batch's: the metrics restart each call, where Keras's
        keep adding up until `reset_metrics()`. An overridden `train_step` is called as is.

        Args:
            force: make a new function even if one exists. Defaults to `False`.

        Returns:
            The existing function when there is one and `force` is False; otherwise None (read
            `model.train_function`), as Keras's torch trainer returns.
        """
        if self.train_function is not None and not force:
            return self.train_function
        from kerasish.training.model_trainer import Trainer

        custom = type(self).train_step is not Trainer.train_step

        def one_step_on_data(data: Any) -> Any:
            if custom:
                return self.train_step(data[0])
            x, y, w = unpack_x_y_sample_weight(data[0])
            return self.train_on_batch(x, y, w, return_dict=True)

        self.train_function = one_step_on_data
        return None

    def make_test_function(self, force: bool = False) -> Optional[Callable[[Any], Any]]:
        """Sets `model.test_function`: one evaluation step on `[batch]` without gradients, returning
        the logs dict (the built-in step through `test_on_batch`, whose metrics restart each call;
        an overridden `test_step` as is).

        Args:
            force: make a new function even if one exists. Defaults to `False`.

        Returns:
            The existing function when there is one and `force` is False; otherwise None.
        """
        if self.test_function is not None and not force:
            return self.test_function
        from kerasish.training.model_trainer import Trainer

        custom = type(self).test_step is not Trainer.test_step

        def one_step_on_data(data: Any) -> Any:
            if custom:
                with torch.no_grad():
                    return self.test_step(data[0])
            x, y, w = unpack_x_y_sample_weight(data[0])
            return self.test_on_batch(x, y, w, return_dict=True)

        self.test_function = one_step_on_data
        return None

    def make_predict_function(self, force: bool = False) -> Optional[Callable[[Any], Any]]:
        """Sets `model.predict_function`: `predict_step` on `[batch]` without gradients, returning the
        outputs as tensors.

        Args:
            force: make a new function even if one exists. Defaults to `False`.

        Returns:
            The existing function when there is one and `force` is False; otherwise None.
        """
        if self.predict_function is not None and not force:
            return self.predict_function

        def one_step_on_data(data: Any) -> Any:
            with torch.no_grad():
                return self.predict_step(data[0])

        self.predict_function = one_step_on_data
        return None

    # ----------------------------------------------------------------- state trees
    def get_state_tree(self, value_format: str = "backend_tensor") -> Dict[str, Any]:
        """Every variable of the model by its Keras path, as Keras 3's `get_state_tree`.

        Returns `{'trainable_variables', 'non_trainable_variables', 'optimizer_variables',
        'metrics_variables'}`, each a nested dict made by splitting the variables' paths at '/':
        the weights in Keras's layout (`{'seq': {'dense': {'kernel': ...}}}`), the optimizer's
        variables as Keras names them (`{'adam': {'iteration': ..., 'learning_rate': ...,
        'seq_dense_kernel_momentum': ...}}`; before the first update only `iteration` and
        `learning_rate`, as Keras's unbuilt optimizer) and the metrics' state (`{'loss':
        {'total': ..., 'count': ...}}`). See `kerasish/training/state_tree.py`.

        With `"backend_tensor"` a weight in torch's own layout is the variable's tensor (detached:
        it shares its storage, as Keras's tree holds the live value), others are copies: a weight
        in another layout, the optimizer's step count and rate (kept on the host) and the metric
        accumulators kerasish keeps in float64 (given in the metric's dtype, as Keras's).

        Args:
            value_format: `"backend_tensor"` (torch tensors) or `"numpy_array"`. Defaults to
                `"backend_tensor"`.

        Raises:
            ValueError: for another `value_format`, a path found twice, a model not compiled, or
                an optimizer whose state has no Keras form (Adafactor, `formula="torch"`, a torch
                optimizer, and, unlike Keras, a `LossScaleOptimizer`, whose state kerasish does not
                map to Keras's paths yet).
            NotImplementedError: for a metric whose state has no Keras variable paths.

        Example:
            >>> import kerasish, numpy as np
            >>> model = kerasish.Sequential([kerasish.Input((1,)), kerasish.layers.Dense(1, name="d")], name="s")
            >>> model.compile(optimizer=kerasish.optimizers.Adam(name="adam"), loss="mse")
            >>> _ = model.fit(np.ones((2, 1)), np.ones((2, 1)), verbose=0)
            >>> sorted(model.get_state_tree()["optimizer_variables"]["adam"])[:3]
            ['iteration', 'learning_rate', 's_d_bias_momentum']
        """
        from kerasish.training import state_tree

        if value_format not in ("backend_tensor", "numpy_array"):
            raise ValueError(
                "Invalid `value_format` argument. Expected one of {'numpy_array', 'backend_tensor'}. Received: "
                f"value_format={value_format!r}"
            )
        self._check_state_tree_compiled("get_state_tree()")
        groups = {"trainable_variables": state_tree.model_entries(self, self.trainable_variables),
                  "non_trainable_variables": state_tree.model_entries(self, self.non_trainable_variables),
                  "optimizer_variables": state_tree.optimizer_entries(self, created_only=True),
                  "metrics_variables": state_tree.metrics_entries(self)}
        return {key: state_tree.nest(entries, value_format) for key, entries in groups.items()}

    def _check_state_tree_compiled(self, call: str) -> None:
        if getattr(self, "optimizer", None) is None:
            raise ValueError(
                f"{call} on model {self.name!r}, which is not compiled: the state tree holds the optimizer's "
                "variables (Keras fails with AttributeError here). Call model.compile(optimizer=..., loss=...) "
                "first; the weights alone are {w.path: w for w in model.weights}."
            )

    def set_state_tree(self, state_tree: Dict[str, Any]) -> None:
        """Assigns the values of a state tree (`get_state_tree()`'s, or Keras's own) to the model's
        variables, the optimizer's and the metrics', matched by Keras path, in Keras's layout.

        Optimizer state that does not exist yet (a model compiled but not trained) is created, so
        a tree from a trained Keras model continues training exactly; every path is checked
        before anything is assigned.

        Args:
            state_tree: a dict with any of `'trainable_variables'`, `'non_trainable_variables'`,
                `'optimizer_variables'`, `'metrics_variables'`, each a nested dict of tensors or
                arrays keyed by the parts of each variable's path.

        Raises:
            ValueError: for another top-level key (Keras's message), a path that matches no
                variable of its group (Keras skips such a path silently; kerasish refuses, listing
                the model's paths), a value of another shape, or optimizer/metric variables for a
                model that is not compiled.
            NotImplementedError: for 'metrics_variables' when a metric has no Keras paths.
        """
        from kerasish.training import state_tree as trees

        writes = []
        for key, tree in state_tree.items():
            if key == "trainable_variables":
                entries = trees.model_entries(self, self.trainable_variables)
            elif key == "non_trainable_variables":
                entries = trees.model_entries(self, self.non_trainable_variables)
            elif key == "optimizer_variables":
                self._check_state_tree_compiled("set_state_tree() with 'optimizer_variables'")
                entries = trees.optimizer_entries(self, created_only=False)
            elif key == "metrics_variables":
                self._check_state_tree_compiled("set_state_tree() with 'metrics_variables'")
                entries = trees.metrics_entries(self)
            else:
                raise ValueError(
                    f"Unknown variable name: {key}. Expected the keys of get_state_tree(): 'trainable_variables', "
                    "'non_trainable_variables', 'optimizer_variables' or 'metrics_variables'."
                )
            hint = ""
            if key == "metrics_variables" and trees.metrics_pending(self):
                hint = (" The compiled metrics are made by the first batch, as Keras's: run a step first (e.g. "
                        "model.evaluate on one batch, then reset_metrics()), or leave 'metrics_variables' out.")
            writes += trees.plan(key, entries, tree, hint)
        for write, value in writes:
            write(value)
        if "optimizer_variables" in state_tree:
            from kerasish.saving.keras_optimizer import sync_step_counts

            sync_step_counts(self.optimizer)
