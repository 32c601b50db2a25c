"""A compiled model's optimizer state in Keras 3's weights file (`optimizer/vars`), both ways.

Keras 3 stores its optimizer's variables in `model.weights.h5` (inside a `.keras` file, and in
`.weights.h5` files too) as datasets `"0"`, `"1"`, ... of the group `optimizer/vars`, in the
order the optimizer created them:

1. `iteration` (an integer scalar: every step, also under gradient accumulation);
2. `learning_rate` (a float32 scalar), absent when the rate is a schedule;
3. with `use_ema=True`, one moving average per trainable weight;
4. with `gradient_accumulation_steps`, one accumulator per trainable weight;
5. the rule's slots: each `add_optimizer_variables` call makes one per trainable weight and, when
   it names several slots (Adam's `momentum` and `velocity`), interleaves them weight by weight;
6. Nadam's running momentum product, a float scalar.

Trainable weights come in the order of `model.trainable_weights` and slots have their weight's
shape in Keras's layout (a Conv kernel's slot is `(kh, kw, in, out)`). kerasish's Keras-rule
optimizers keep the same slots under the same names in `torch_optimizer.state`, so the state
moves across exactly: SGD (momentum), RMSprop, Adam, AdamW, Adamax, Nadam, Lamb, Adagrad,
Adadelta, Lion, Ftrl, Muon and ScheduleFreeAdamW. Others (Adafactor, `formula="torch"`, a wrapped torch optimizer, a
subclass) are not written and not restored, and a warning names the optimizer each time.

An optimizer not built yet is written as Keras writes one: `iteration` and `learning_rate` only.
A MultiOptimizer writes its own two (its learning rate is Keras's 0.0 placeholder), then each
sub-optimizer's variables in the order of `optimizers`, and, as Keras, each sub-optimizer's
again under `optimizer/optimizers/<class name>/vars`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from kerasish.layers.weight_layout import keras_shape, layouts_under

GROUP = "optimizer/vars"
_BFLOAT16 = np.dtype("V2")  # how a bfloat16 variable's values are stored (with the attribute dtype='bfloat16')

# The rule's slots per class, as Keras creates them: one tuple per add_optimizer_variables call.
_SLOTS: Dict[str, Callable[[Any], List[Tuple[str, ...]]]] = {
    "SGD": lambda o: [("momentum",)] if o.momentum else [],
    "Adam": lambda o: [("momentum", "velocity")] + ([("velocity_hat",)] if o.amsgrad else []),
    "AdamW": lambda o: [("momentum", "velocity")] + ([("velocity_hat",)] if o.amsgrad else []),
    "RMSprop": lambda o: [("velocity",)] + ([("momentum",)] if o.momentum > 0 else [])
    + ([("average_gradient",)] if o.centered else []),
    "Adamax": lambda o: [("momentum", "norm")],
    "Nadam": lambda o: [("momentum", "velocity")],
    "Lamb": lambda o: [("momentum", "velocity")],
    "Adagrad": lambda o: [("accumulator",)],
    "Adadelta": lambda o: [("accumulated_grad", "accumulated_delta_var")],
    "Lion": lambda o: [("momentum",)],
    "Ftrl": lambda o: [("accumulator", "linear")],
    "Muon": lambda o: [("momentum", "velocity?")],  # '?': only where the rule keeps it (Adam's weights)
    "ScheduleFreeAdamW": lambda o: [("momentum", "velocity")],
}


@dataclass
class _Var:
    """One of Keras's optimizer variables and where kerasish keeps it."""

    name: str                                  # Keras's variable path ('adam/seq_dense_kernel_momentum')
    shape: Tuple[int, ...]                     # in Keras's layout
    get: Callable[[], np.ndarray]
    set: Callable[[np.ndarray], None]
    tensor: Callable[[], torch.Tensor]         # the value as a tensor in Keras's layout (a copy or a view)


def _unsupported(optimizer: Any) -> Optional[str]:
    """Why `optimizer`'s state cannot be mapped to Keras's variables, or None when it can."""
    cls = type(optimizer)
    if cls.__name__ == "MultiOptimizer" and cls.__module__.startswith("kerasish.optimizers"):
        for inner in optimizer.optimizers:
            why = _unsupported(inner)
            if why is not None:
                return f"its sub-optimizer {inner.name!r}: {why}"
        return None
    if not cls.__module__.startswith("kerasish.optimizers") or cls.__name__ not in _SLOTS:
        return (f"{cls.__name__} keeps a state kerasish does not map to Keras's optimizer variables (mapped: "
                f"{', '.join(sorted(_SLOTS))})")
    if getattr(optimizer, "_formula", "keras") != "keras":
        return (f"{cls.__name__}(formula='torch') keeps torch.optim's state, which Keras's {cls.__name__} "
                "cannot continue")
    return None


class _Mismatch(Exception):
    """The optimizer's parameters are not the model's trainable weights."""


def _keras_order(model: Any, optimizer: Any) -> List[torch.Tensor]:
    """The optimizer's parameters in Keras's order (`model.trainable_weights`)."""
    params = list(optimizer._params)
    ids = {id(p) for p in params}
    order = [w for w in model.trainable_weights if id(w) in ids]
    if len(order) != len(params):
        raise _Mismatch(
            f"it updates {len(params)} weights but {len(order)} of them are among the model's "
            f"{len(model.trainable_weights)} trainable weights (trainable flags changed after it was built?)")
    return order


def _scalar(name: str, get: Callable[[], Any], put: Callable[[Any], None], dtype: Any) -> _Var:
    return _Var(name, (), lambda: np.asarray(get(), dtype=dtype), lambda a: put(np.asarray(a)[()]),
                lambda: torch.from_numpy(np.asarray(get(), dtype=dtype)))


def _tensor(name: str, tensor_of: Callable[[bool], torch.Tensor], layout: Any, shape: Tuple[int, ...]) -> _Var:
    """`tensor_of(create)` gives the tensor; `create=False` (reading it out) must not change any state."""

    def keras_tensor() -> torch.Tensor:
        value = tensor_of(False).detach()
        return value if layout is None else layout.to_keras(value)

    def get() -> np.ndarray:
        value = keras_tensor().cpu().contiguous()
        if value.dtype == torch.bfloat16:  # NumPy has none: Keras stores the 2-byte patterns (see keras_weights)
            return value.view(torch.int16).numpy().view(_BFLOAT16)
        return value.numpy()

    def put(array: Any) -> None:
        target = tensor_of(True)
        if isinstance(array, torch.Tensor):
            value = array.detach()
        else:
            array = np.array(array)
            if array.dtype == _BFLOAT16:
                value = torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
            else:
                value = torch.from_numpy(array)
        if layout is not None:
            value = layout.from_keras(value, tuple(target.shape))
        with torch.no_grad():
            target.copy_(value.to(target.dtype))

    return _Var(name, shape, get, put, keras_tensor)


def _held(tensor: torch.Tensor) -> Callable[[bool], torch.Tensor]:
    """`tensor_of` for a tensor that always exists once the optimizer is built."""
    return lambda create: tensor


def _variables(model: Any, optimizer: Any, built: bool = True) -> List[_Var]:
    """Keras's optimizer variables for `optimizer`, in Keras's order (see the module docstring);
    with `built=False` those of the optimizer before it is built (what Keras saves then).

    Raises:
        _Mismatch: when the optimizer's parameters are not the model's trainable weights.
    """
    prefix = f"{optimizer.name}/"
    out = [_scalar(prefix + "iteration", lambda: optimizer._iterations,
                   lambda v: setattr(optimizer, "_iterations", int(v)), np.int32)]
    if type(optimizer).__name__ == "MultiOptimizer":
        # Keras's MultiOptimizer: its own two (its learning rate a 0.0 placeholder), then every
        # sub-optimizer's variables in the order of `optimizers` (one without weights: its two).
        out.append(_scalar(prefix + "learning_rate", lambda: optimizer._lr,
                           lambda v: setattr(optimizer, "_lr", float(v)), np.float32))
        for inner in optimizer.optimizers:
            out += _variables(model, inner, built and inner.built)
        return out
    if optimizer.learning_rate_schedule is None:
        out.append(_scalar(prefix + "learning_rate", lambda: optimizer.learning_rate,
                           lambda v: setattr(optimizer, "learning_rate", float(v)), np.float32))
    if not (built and optimizer.built):
        return out
    torch_opt = optimizer.torch_optimizer
    params = _keras_order(model, optimizer)
    layouts = layouts_under(model)
    index = {id(p): i for i, p in enumerate(optimizer._params)}
    group_of = {id(p): g for g in torch_opt.param_groups for p in g["params"]}

    def shape(p: torch.Tensor) -> Tuple[int, ...]:
        return tuple(keras_shape(p, layouts.get(id(p))))

    def label(p: torch.Tensor, slot: str) -> str:
        # Keras names a slot `<optimizer>/<weight path with '/' as '_'>_<slot>`.
        ref = getattr(p, "path", None) or getattr(p, "name", None) or "x".join(map(str, p.shape))
        return f"{prefix}{str(ref).replace('/', '_')}_{slot}"

    if optimizer.use_ema:
        out += [_tensor(label(p, "average"), _held(optimizer._ema[index[id(p)]]), layouts.get(id(p)), shape(p))
                for p in params]
    if optimizer.gradient_accumulation_steps:
        out += [_tensor(label(p, "gradient_accumulator"), _held(optimizer._accumulators[id(p)]), layouts.get(id(p)),
                        shape(p)) for p in params]

    def slot_of(p: torch.Tensor, slot: str, create: bool) -> torch.Tensor:
        state = torch_opt.state.get(p, {})
        if slot in state:
            return state[slot]
        # Never stepped: the rule's initial value (zeros; Adagrad's and Ftrl's constant), as Keras holds.
        fresh: Dict[str, Any] = {}
        torch_opt.init_state(fresh, p, group_of[id(p)])
        if create:
            state = torch_opt.state[p]
            for key, value in fresh.items():
                state.setdefault(key, value)
            return state[slot]
        return fresh[slot]

    def kept(p: torch.Tensor, slot: str) -> bool:
        """A slot named 'x?' exists for the weights whose rule state has 'x' (Muon: Adam's weights only)."""
        if not slot.endswith("?"):
            return True
        fresh: Dict[str, Any] = {}
        torch_opt.init_state(fresh, p, group_of[id(p)])
        return slot[:-1] in fresh

    for names in _SLOTS[type(optimizer).__name__](optimizer):
        out += [_tensor(label(p, slot.rstrip("?")), lambda create, p=p, slot=slot.rstrip("?"): slot_of(p, slot, create),
                        layouts.get(id(p)), shape(p)) for p in params for slot in names if kept(p, slot)]
    if type(optimizer).__name__ == "Nadam":
        groups = torch_opt.param_groups

        def set_product(v: Any) -> None:
            for g in groups:
                g["u_product"] = float(v)

        out.append(_scalar("variable", lambda: groups[0].get("u_product", 1.0), set_product, np.float32))
    return out


def _attrs(stored: Any) -> Any:
    return getattr(stored, "attrs", {})


def _warn(optimizer: Any, why: str, verb: str) -> None:
    warnings.warn(
        f"The state of optimizer {optimizer.name!r} ({type(optimizer).__name__}) was not {verb}: {why}. "
        + ("Keras will start it fresh when it loads the file; save as '.kerasish' to keep it."
           if verb == "written" else
           "The optimizer keeps the state it had (a fresh one in a model just loaded); to continue exactly, "
           "resume from a file saved with the same optimizer class, settings and trainable weights, or from a "
           "'.kerasish' file."),
        stacklevel=3,
    )


def optimizer_arrays(model: Any) -> Optional[Tuple[str, List[np.ndarray]]]:
    """(the optimizer's name, its variables as Keras stores them) for a compiled model, or None.

    None, with a warning naming the optimizer, for an optimizer whose state has no Keras form;
    None without one for a model that is not compiled.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "_iterations"):
        return None
    why = _unsupported(optimizer)
    if why is None:
        try:
            return optimizer.name, [v.get() for v in _variables(model, optimizer)]
        except _Mismatch as e:
            why = str(e)
    _warn(optimizer, why, "written")
    return None


def restore_optimizer(model: Any, arrays: Sequence[Any], where: str) -> bool:
    """Puts Keras's optimizer variables (h5py datasets or arrays, in file order) into the model's
    optimizer, building it first. Each dataset's shape is checked before any is read.

    Returns:
        True when the state was restored; False, with a warning that names the optimizer and
        what did not fit, when it was not (the optimizer then starts fresh, as in Keras).
    """
    optimizer = model.optimizer
    why = _unsupported(optimizer)
    if why is not None:
        if len(arrays) > 2:  # more than a fresh optimizer's iteration and learning_rate
            _warn(optimizer, f"{why} (in {where})", "restored")
        return False
    model.ensure_optimizer()
    try:
        expected = _variables(model, optimizer)
    except _Mismatch as e:
        _warn(optimizer, str(e), "restored")
        return False
    unbuilt = _variables(model, optimizer, built=False)
    fresh = len(arrays) == len(unbuilt) and tuple(arrays[0].shape) == () and int(np.asarray(arrays[0][()])) == 0
    if fresh:  # a compiled model Keras saved before training: nothing but the base variables
        expected = unbuilt
    problems = []
    if len(arrays) != len(expected):
        problems.append(f"{where} holds {len(arrays)} optimizer variables, {type(optimizer).__name__} with these "
                        f"settings and weights has {len(expected)}")
    else:
        for i, (var, stored) in enumerate(zip(expected, arrays)):
            if tuple(stored.shape) != var.shape:
                problems.append(f"variable {i} ({var.name}) has shape {tuple(stored.shape)} in the file, "
                                f"expected {var.shape}")
            elif np.dtype(stored.dtype).kind not in ("iu" if var.name.endswith("/iteration") else "f") and not (
                    i > 0 and stored.dtype == _BFLOAT16 and _attrs(stored).get("dtype") == "bfloat16"):
                problems.append(f"variable {i} ({var.name}) has dtype {stored.dtype} in the file")
    if problems:
        _warn(optimizer, "; ".join(problems[:3]), "restored")
        return False
    try:
        values = [np.array(stored[()]) for stored in arrays]  # read everything before changing anything
    except OSError as e:
        _warn(optimizer, f"reading {where} failed ({e}): the file is truncated or corrupt", "restored")
        return False
    for var, value in zip(expected, values):
        var.set(value)
    sync_step_counts(optimizer)
    return True


def sync_step_counts(optimizer: Any) -> None:
    """Sets the update rules' step counts from `iterations` after Keras's variables were assigned."""
    for opt in _updaters(optimizer):
        for group in opt.torch_optimizer.param_groups:
            group["step"] = int(opt.iterations)  # the rule's step counts updates, as Keras's bias corrections


def _updaters(optimizer: Any) -> List[Any]:
    """The built optimizers whose torch param groups count steps: the optimizer, or a
    MultiOptimizer's sub-optimizers."""
    inner = optimizer.optimizers if _is_multi(optimizer) else [optimizer]
    return [opt for opt in inner if opt.torch_optimizer is not None]


def _is_multi(optimizer: Any) -> bool:
    return type(optimizer).__name__ == "MultiOptimizer" and type(optimizer).__module__.startswith("kerasish.")


def keras_state_variables(model: Any, built: bool = True) -> List[_Var]:
    """The compiled model's optimizer variables as Keras names them (`name` is the variable's
    path), in Keras's order, for `get_state_tree` / `set_state_tree`; with `built=False` those
    of Keras's optimizer before it is built (`iteration` and `learning_rate`).

    Raises:
        ValueError: for an optimizer whose state has no Keras form (the message says why).
    """
    optimizer = model.optimizer
    why = _unsupported(optimizer)
    if why is None:
        try:
            return _variables(model, optimizer, built)
        except _Mismatch as e:
            why = str(e)
    raise ValueError(
        f"The state of optimizer {optimizer.name!r} ({type(optimizer).__name__}) has no Keras variable paths: {why}. "
        "Use one of the mapped optimizers with Keras's formula, or read its state with "
        "model.optimizer.state_dict()."
    )


def _write_arrays(group: Any, arrays: Sequence[np.ndarray]) -> None:
    for i, array in enumerate(arrays):
        dataset = group.create_dataset(str(i), data=array)
        if array.dtype == _BFLOAT16:
            dataset.attrs["dtype"] = "bfloat16"  # Keras's marker on its 2-byte opaque datasets


def write_group(h5file: Any, model: Any) -> None:
    """Adds `optimizer/vars` to an open, writable h5py file when `model` has a mapped optimizer
    (for a MultiOptimizer also `optimizer/optimizers/<class>/vars` per sub-optimizer, as Keras)."""
    found = optimizer_arrays(model)
    if found is None:
        return
    name, arrays = found
    group = h5file.require_group(GROUP)
    group.attrs["name"] = name
    _write_arrays(group, arrays)
    optimizer = model.optimizer
    if _is_multi(optimizer):
        from kerasish.layers.layer import to_snake_case

        used: Dict[str, int] = {}
        for inner in optimizer.optimizers:
            key = to_snake_case(type(inner).__name__)  # Keras names a list's items by class, numbered
            used[key] = used.get(key, -1) + 1
            key = key if used[key] == 0 else f"{key}_{used[key]}"
            _write_arrays(h5file.require_group(f"optimizer/optimizers/{key}/vars"),
                          [v.get() for v in _variables(model, inner)])


def read_group(h5file: Any, model: Any, where: str) -> Optional[bool]:
    """Restores the model's optimizer from an open h5py file's `optimizer/vars`.

    Returns:
        None when there is nothing to do (no such group, or a model not compiled), else what
        `restore_optimizer` returns.
    """
    if getattr(model, "optimizer", None) is None or GROUP not in h5file:
        return None
    group = h5file[GROUP]
    keys = sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1)
    if any(not k.isdigit() for k in keys) or keys != [str(i) for i in range(len(keys))]:
        _warn(model.optimizer, f"{where} has unexpected members {keys[:8]} at {GROUP!r}", "restored")
        return False
    return restore_optimizer(model, [group[k] for k in keys], where)
