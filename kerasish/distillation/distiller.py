"""`Distiller`: a model that trains a student on labels and on a frozen teacher's outputs.

It is written on kerasish's extension API as a Keras user would write it: a `Model` subclass
whose `call` is the student's and whose `compute_loss` adds the distillation losses to the
student's own loss. fit/evaluate run their built-in steps around it (compiled metrics, lazy
logs, no host sync), and the three trackers it holds (`student_loss`, `distillation_loss`,
`total_loss`) are in `model.metrics`, so History and `evaluate` report them as Keras 3 does.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from kerasish import tree
from kerasish.distillation.distillation_loss import _as_loss, _shape_of_tree
from kerasish.metrics import Mean
from kerasish.models.model import Model
from kerasish.utils.object_registration import register_builtin

_FINAL = "final_output"


def symbolic_tensors(model: Any, attr: str) -> Any:
    """`model.inputs` / `model.outputs` (symbolic tensors), or None for a model that has none: a
    subclassed model, or a Sequential that was never built."""
    try:
        return getattr(model, attr)
    except (AttributeError, ValueError):
        return None


class Distiller(Model):
    """Knowledge distillation: trains `student` on the labels and on what `teacher` predicts.

    The teacher is frozen (`teacher.trainable = False`) and runs with `training=False`; only
    the student's weights are trained. Each batch's loss is
    `student_loss_weight * student_loss + (1 - student_loss_weight) * distillation_loss`, where
    `student_loss` is the loss given to `compile` on `(y, student(x))` and `distillation_loss`
    is the weighted sum of `distillation_losses`. `call`, and so `predict`, give the student's
    outputs; `distiller.student` is a plain model to save or use afterwards.

    fit's History and `evaluate` report `loss` (the mean of the batch totals, weighted by
    batch size), the compiled metrics on the student's outputs, then `student_loss`,
    `distillation_loss` and `total_loss` (means over the batches), as in Keras 3.

    Differences from Keras 3, each an error where Keras silently drops something:
    `distillation_loss_weights` with a single (unlisted) distillation loss, `sample_weight` or
    `class_weight` in fit/evaluate (Keras's distiller ignores them in its loss), `y=None` while
    `student_loss_weight > 0` (Keras counts the student loss as 0) and `compile(loss_weights=...)`.
    With several outputs, each output's student loss is averaged before they are summed (Keras 3.15
    stacks them unreduced, which fails for mixed shapes and sums loss functions over the batch, and
    its attribute tracking makes lists of losses fail on torch). A `FeatureDistillation` with only
    `student_layer_name` reads that student layer (Keras reads
    the final output), and during `evaluate` the student's features are computed with
    `training=False` (Keras computes them with `training=True`, so dropout and batch statistics
    act during evaluation).

    To keep the result, save `distiller.student` (any format). The whole distiller saves as
    `.kerasish` (reload it with `load_model(path, compile=False)`, then `compile`), and a
    Distiller that Keras wrote to `.keras` loads (uncompiled, with Keras's warning); kerasish
    does not write a Distiller to `.keras` yet.

    Args:
        teacher: a trained `kerasish.Model`, frozen here.
        student: the `kerasish.Model` to train; same input and output shapes and dtypes as the
            teacher where both models declare them.
        distillation_losses: a `DistillationLoss` (`LogitsDistillation`,
            `FeatureDistillation` or your own), or a list of them.
        distillation_loss_weights: one weight per loss in the list. Defaults to `None` (1.0 each).
        student_loss_weight: the share of the student's own loss, between 0 and 1; 1 trains on
            the labels only, 0 on the teacher only. Defaults to `0.5`.
        name: the model's name. Defaults to `"distiller"`.
        **kwargs: passed to `Model` (`trainable`, `dtype`).

    Raises:
        ValueError: for a teacher or student that is not a `kerasish.Model`, input or output
            shapes or dtypes that differ, a `student_loss_weight` that is not a number in
            [0, 1], no distillation loss, a weight count that differs from the loss count, or a
            distillation loss the two models cannot serve (an unknown layer name).

    Example:
        >>> import numpy as np, kerasish
        >>> def mlp(units):
        ...     return kerasish.Sequential([kerasish.Input((4,)), kerasish.layers.Dense(units, activation="relu"),
        ...                                 kerasish.layers.Dense(3)])
        >>> distiller = Distiller(mlp(16), mlp(4), LogitsDistillation(temperature=2.0))
        >>> distiller.compile(optimizer="adam", device="cpu",
        ...                   loss=kerasish.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> history = distiller.fit(np.ones((8, 4)), np.zeros(8), epochs=1, verbose=0)
        >>> sorted(history.history)
        ['distillation_loss', 'loss', 'student_loss', 'total_loss']
    """

    def __init__(self, teacher: Model, student: Model, distillation_losses: Any,
                 distillation_loss_weights: Optional[Sequence[float]] = None, student_loss_weight: float = 0.5,
                 name: str = "distiller", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        _check_models(teacher, student)
        self.teacher = teacher
        self.student = student
        if not isinstance(student_loss_weight, (int, float)):
            raise ValueError(
                f"student_loss_weight must be a number between 0 and 1, received {student_loss_weight!r} of type "
                f"{type(student_loss_weight).__name__}. Pass a float such as student_loss_weight=0.5."
            )
        if not 0.0 <= student_loss_weight <= 1.0:
            raise ValueError(
                f"student_loss_weight must be between 0.0 and 1.0, received {student_loss_weight!r}. It is the "
                "student loss's share of the total (1 - it goes to the distillation losses)."
            )
        self.student_loss_weight = student_loss_weight
        self.distillation_losses, self.distillation_loss_weights = _losses_and_weights(
            distillation_losses, distillation_loss_weights)
        for loss in self.distillation_losses:
            loss.validate_model_compatibility(teacher, student)
        teacher_names, student_names = _layer_names(self.distillation_losses)
        self._teacher_feature_extractor = _feature_extractor(teacher, teacher_names)
        self._student_feature_extractor = _feature_extractor(student, student_names)
        self.teacher.trainable = False
        self.student_loss_tracker = Mean(name="student_loss")
        self.distillation_loss_tracker = Mean(name="distillation_loss")
        self.total_loss_tracker = Mean(name="total_loss")
        self._student_loss: Any = None
        self._zeros: Dict[Tuple[torch.dtype, torch.device], torch.Tensor] = {}

    # ----------------------------------------------------------------- compile
    def compile(self, optimizer: Any = "adam", loss: Any = None, metrics: Any = None,
                **kwargs: Any) -> None:
        """Configures training: the optimizer of the student, its own loss and the metrics.

        Args:
            optimizer: as in `Model.compile`. Defaults to `"adam"`.
            loss: the student's supervised loss: a name (the loss function of that name, as
                in Keras), a `kerasish.losses.Loss` or a callable; a list or dict for several
                outputs. Required.
            metrics: a list or tuple of metrics on the student's outputs. Defaults to `None`.
            **kwargs: the other arguments of `Model.compile` (`device`, `jit_compile` ...),
                except `loss_weights`.

        Raises:
            ValueError: for `loss=None`, `metrics` that is not a list or tuple, or `loss_weights`.
        """
        if loss is None:
            raise ValueError(
                "Distiller.compile() received loss=None: the distiller needs the student's own loss. Pass "
                "loss=... (e.g. kerasish.losses.SparseCategoricalCrossentropy(from_logits=True)); set "
                "student_loss_weight=0.0 on the Distiller to train on the teacher only."
            )
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise ValueError(
                f"Distiller.compile() takes metrics as a list or tuple, received {metrics!r} of type "
                f"{type(metrics).__name__}. Wrap it: metrics=[{metrics!r}]."
            )
        if kwargs.get("loss_weights") not in (None, 1.0):  # 1.0 (what a .kerasish file records) changes nothing
            raise ValueError(
                f"Distiller.compile() received loss_weights={kwargs['loss_weights']!r}, which a distiller does not "
                "use. Weigh the losses with the Distiller's student_loss_weight and distillation_loss_weights."
            )
        self._student_loss = tree.map_structure(_as_loss, loss)
        if all(item is None for item in tree.flatten(self._student_loss)):
            raise ValueError(
                f"Distiller.compile() received loss={loss!r}, which holds no loss at all: at least one entry must "
                "be a loss (None only skips an output). Pass a loss name such as 'mse' or a kerasish.losses.Loss."
            )
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)
        # What a `.kerasish` file records as the compile loss (the base compile saw loss=None): loss names
        # and built-in Loss objects, so that load_model compiles the distiller again; a plain callable
        # cannot be written, and loading then says to load with compile=False.
        self._compile_config.raw["loss"] = _file_form(loss)

    # ----------------------------------------------------------------- forward
    def call(self, inputs: Any, training: Optional[bool] = None) -> Any:
        """The student's outputs."""
        return self.student(inputs, training=training)

    # ----------------------------------------------------------------- loss
    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> torch.Tensor:
        """The batch's total loss; also updates the `student_loss`, `distillation_loss` and
        `total_loss` trackers.

        Args:
            x: the inputs (the teacher and any feature extractor read them).
            y: the targets. Defaults to `None` (allowed only with `student_loss_weight=0`).
            y_pred: the student's outputs. Defaults to `None` (computed from `x`).
            sample_weight: must be `None`. Defaults to `None`.
            training: whether this is a training step. Defaults to `True`.

        Returns:
            A scalar tensor.

        Raises:
            ValueError: for sample weights, a missing `y` while the student loss counts, a
                student loss before `compile`, or a distillation loss that is not a scalar.
        """
        if sample_weight is not None:
            raise ValueError(
                "The Distiller received sample weights (fit/evaluate's sample_weight or class_weight), which its "
                "loss cannot apply: the student, distillation and total losses are batch means (Keras's Distiller "
                "ignores them). Remove sample_weight/class_weight."
            )
        if y_pred is None:
            y_pred = self(x, training=training)
        student_loss = self._student_part(y, y_pred) if self.student_loss_weight > 0.0 else None
        distill_loss = self._distillation_part(x, y_pred, training) if self.student_loss_weight < 1.0 else None
        reference = student_loss if student_loss is not None else distill_loss
        if student_loss is None:
            student_loss = self._zero(reference)
        if distill_loss is None:
            distill_loss = self._zero(reference)
        total = self.student_loss_weight * student_loss + (1.0 - self.student_loss_weight) * distill_loss
        self.student_loss_tracker.update_state(student_loss)
        self.distillation_loss_tracker.update_state(distill_loss)
        self.total_loss_tracker.update_state(total)
        return total

    def _zero(self, like: torch.Tensor) -> torch.Tensor:
        """A 0-d zero of `like`'s dtype and device, made once per pair (no per-batch tensor from a number)."""
        key = (like.dtype, like.device)
        zero = self._zeros.get(key)
        if zero is None:
            with torch.inference_mode(False):  # a normal tensor even when first made during evaluate
                zero = self._zeros[key] = torch.zeros((), dtype=like.dtype, device=like.device)
        return zero

    def _student_part(self, y: Any, y_pred: Any) -> torch.Tensor:
        if self._student_loss is None:
            raise ValueError(
                "The Distiller has no student loss yet: compute_loss ran before compile(). Call "
                "distiller.compile(optimizer=..., loss=...) first."
            )
        if y is None:
            raise ValueError(
                f"The Distiller received no targets (y=None) while student_loss_weight={self.student_loss_weight!r} "
                "counts the student's loss on them (Keras's Distiller counts it as 0). Pass y to fit/evaluate, or "
                "make the Distiller with student_loss_weight=0.0 to learn from the teacher only."
            )
        try:
            values = tree.flatten(tree.map_structure(lambda fn, t, p: None if fn is None else fn(t, p),
                                                     self._student_loss, y, y_pred))
        except ValueError as e:
            if "structures differ" not in str(e):
                raise
            raise ValueError(
                f"The Distiller's student loss does not match the student's outputs and targets ({e}): the loss "
                f"is {_outline(self._student_loss)}, the outputs {_outline(y_pred)}, the targets {_outline(y)}. "
                "Pass compile(loss=...) one loss per output, in the outputs' structure (a list for a list of "
                "outputs, None for an output without a loss)."
            ) from None
        values = [v for v in values if v is not None]
        # Each output's loss is reduced to its mean before the sum (a loss function gives per-sample values).
        values = [v.mean() if v.dim() > 0 else v for v in values]
        return values[0] if len(values) == 1 else torch.stack(values).sum()

    def _distillation_part(self, x: Any, y_pred: Any, training: bool) -> torch.Tensor:
        if self._teacher_feature_extractor is not None:
            teacher_features = self._teacher_feature_extractor(x, training=False)
        else:
            teacher_features = {_FINAL: self.teacher(x, training=False)}
        # The student's named layers need a pass of their own (the step's call gave only the outputs).
        student_features = ({_FINAL: y_pred} if self._student_feature_extractor is None
                            else self._student_feature_extractor(x, training=training))
        total: Optional[torch.Tensor] = None
        for loss_fn, weight in zip(self.distillation_losses, self.distillation_loss_weights):
            teacher_name = getattr(loss_fn, "teacher_layer_name", None)
            student_name = getattr(loss_fn, "student_layer_name", None)
            teacher_out = _feature(loss_fn, teacher_features, teacher_name, "teacher")
            student_out = y_pred if student_name is None else _feature(loss_fn, student_features, student_name,
                                                                        "student")
            loss_fn.validate_outputs(teacher_out, student_out)
            value = loss_fn.compute_loss(teacher_out, student_out)
            if not isinstance(value, torch.Tensor) or value.dim() > 0:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(
                    f"{type(loss_fn).__name__}.compute_loss returned {shape} where a scalar tensor was expected. "
                    "Reduce it in compute_loss (e.g. return loss.mean())."
                )
            term = weight * value
            total = term if total is None else total + term
        return total

    # ----------------------------------------------------------------- config
    def get_config(self) -> Dict[str, Any]:
        """The constructor arguments: the two models and the distillation losses as Keras
        descriptions, the weights, `name`, `trainable` and `dtype`."""
        from kerasish.saving.keras_objects import serialize_keras_object

        config = super().get_config()
        config.update({
            "teacher": serialize_keras_object(self.teacher),
            "student": serialize_keras_object(self.student),
            "distillation_losses": [serialize_keras_object(loss) for loss in self.distillation_losses],
            "distillation_loss_weights": list(self.distillation_loss_weights),
            "student_loss_weight": self.student_loss_weight,
        })
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]] = None) -> "Distiller":
        """Rebuilds the distiller (fresh, uncompiled models) from `get_config()`."""
        from kerasish.saving.keras_objects import deserialize_keras_object

        config = dict(config)
        for key in ("teacher", "student"):
            config[key] = deserialize_keras_object(config[key], custom_objects)
        config["distillation_losses"] = [deserialize_keras_object(loss, custom_objects)
                                         for loss in config["distillation_losses"]]
        return cls(**config)


def _check_models(teacher: Any, student: Any) -> None:
    for role, model in (("teacher", teacher), ("student", student)):
        if not isinstance(model, Model):
            raise ValueError(
                f"The Distiller's {role} must be a kerasish.Model, received {type(model).__name__}. Wrap a torch "
                "module as kerasish.Model(module), or build a Sequential or functional model."
            )
    for attr, what in (("inputs", "input"), ("outputs", "output")):
        t, s = symbolic_tensors(teacher, attr), symbolic_tensors(student, attr)
        if t is None or s is None:
            continue
        _pairwise(t, s, what, lambda a, b: _check_shapes(a.shape, b.shape, what))
        _pairwise(t, s, what, lambda a, b: _check_dtypes(a.dtype, b.dtype, what))


def _pairwise(teacher: Any, student: Any, what: str, check: Any) -> None:
    try:
        tree.assert_same_structure(teacher, student)
    except ValueError as e:
        raise ValueError(
            f"The teacher and the student have different {what} structures ({len(tree.flatten(teacher))} vs "
            f"{len(tree.flatten(student))} {what}s): {e} Give both models the same {what}s."
        ) from e
    tree.map_structure(check, teacher, student)


def _check_shapes(teacher: Any, student: Any, what: str) -> None:
    teacher, student = tuple(teacher), tuple(student)
    if len(teacher) != len(student) or any(
            a is not None and b is not None and a != b for a, b in zip(teacher, student)):
        raise ValueError(
            f"The teacher's and the student's {what} shapes differ: teacher {teacher}, student {student}. Every "
            f"dimension both models fix must match (None matches anything); give the models the same {what} shape."
        )


def _check_dtypes(teacher: Any, student: Any, what: str) -> None:
    if teacher != student:
        raise ValueError(
            f"The teacher's and the student's {what} dtypes differ: teacher {teacher}, student {student}. Build "
            "both models with the same dtype."
        )


def _losses_and_weights(losses: Any, weights: Any) -> Tuple[List[Any], List[float]]:
    if losses is None:
        raise ValueError(
            "The Distiller received distillation_losses=None: it needs at least one. Pass a DistillationLoss, "
            "e.g. LogitsDistillation(temperature=3.0) or FeatureDistillation(...), or a list of them."
        )
    if not isinstance(losses, (list, tuple)):
        if weights is not None:
            raise ValueError(
                f"The Distiller received distillation_loss_weights={weights!r} with a single distillation loss "
                "(Keras ignores them then). Pass the loss in a list, distillation_losses=[loss], to weigh it, or "
                "leave distillation_loss_weights=None."
            )
        return [losses], [1.0]
    losses = list(losses)
    if weights is None:
        return losses, [1.0] * len(losses)
    if len(weights) != len(losses):
        raise ValueError(
            f"The Distiller received {len(weights)} distillation_loss_weights for {len(losses)} distillation_losses. "
            "Give one weight per loss, in the same order, or leave distillation_loss_weights=None (1.0 each)."
        )
    return losses, list(weights)


def _layer_names(losses: List[Any]) -> Tuple[List[str], List[str]]:
    """The teacher's and the student's layer names the losses read, each once, in order."""
    teacher: List[str] = []
    student: List[str] = []
    for loss in losses:
        for attr, names in (("teacher_layer_name", teacher), ("student_layer_name", student)):
            name = getattr(loss, attr, None)
            if name and name not in names:
                names.append(name)
    return teacher, student


def _feature_extractor(model: Any, layer_names: List[str]) -> Optional[Model]:
    """A functional model returning `{'final_output': ..., <layer name>: ...}` in one pass, or None."""
    if not layer_names:
        return None
    inputs = symbolic_tensors(model, "inputs")
    if inputs is None:
        raise ValueError(
            f"The Distiller cannot read layers {layer_names} of {model.name!r}: the model has no symbolic inputs (a "
            "subclassed model, or a Sequential never built). Build it with an Input, or distill its final outputs."
        )
    outputs = {_FINAL: model.output}
    for name in layer_names:
        outputs[name] = model.get_layer(name=name).output
    return Model(inputs=inputs, outputs=outputs, name=f"{model.name}_multi_feature_extractor")


def _feature(loss_fn: Any, features: Dict[str, Any], name: Optional[str], role: str) -> Any:
    key = name or _FINAL
    if key not in features:
        raise RuntimeError(
            f"{type(loss_fn).__name__} asks for the {role} layer {key!r}, which the Distiller did not extract "
            f"(it extracted {sorted(features)}). Set the layer names before making the Distiller; they are read "
            "once, when it is made."
        )
    return features[key]


def _outline(value: Any) -> str:
    """A structure with its leaves as `*` (tensors, losses ...), for messages."""
    return repr(_shape_of_tree(value)) if isinstance(value, (list, tuple, dict)) else "a single one"


def _file_form(loss: Any) -> Any:
    """`loss` as a `.kerasish` file writes it (names as they are, built-in Loss objects by their
    envelope); None when an entry cannot be written (a plain callable)."""
    from kerasish import losses

    def one(item: Any) -> Any:
        if item is None or isinstance(item, str):
            return item
        return losses._file_form(item) if isinstance(item, losses.Loss) else _UNWRITABLE

    written = tree.map_structure(one, loss)
    return None if any(item is _UNWRITABLE for item in tree.flatten(written)) else written


_UNWRITABLE = object()


register_builtin(Distiller)
