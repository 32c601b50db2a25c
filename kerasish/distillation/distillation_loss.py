"""The losses a `Distiller` adds to the student's own: what the student learns from the teacher.

- `DistillationLoss`: the base class. A subclass overrides `compute_loss(teacher_outputs,
  student_outputs)` and returns a scalar; `validate_outputs` and `validate_model_compatibility`
  check what it receives before any training.
- `LogitsDistillation`: a loss between the teacher's and the student's outputs, both divided by a
  temperature first.
- `FeatureDistillation`: a loss between the outputs of two layers picked by name (or the two
  models' outputs), to match internal representations.

As in Keras 3, a loss given by name (`'kl_divergence'`, `'mse'`) is the loss FUNCTION of that name
(`kerasish.losses.kl_divergence`), which returns one value per sample; a `kerasish.losses.Loss`
instance is used as it is. Nested structures of losses (a list or dict, one per output, `None` to
skip an output) follow the structure of the outputs.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch

from kerasish import losses as losses_mod
from kerasish import tree
from kerasish.utils.object_registration import register_builtin


def _as_loss(item: Any) -> Any:
    """A loss name as its loss function (as `keras.losses.get` gives it); anything else unchanged."""
    if isinstance(item, str):
        return losses_mod.deserialize(item)
    return item


def _shape_of_tree(value: Any) -> Any:
    """A readable outline of a nested structure: every leaf shown as `*`."""
    return tree.map_structure(lambda _: "*", value)


def _sum_scalars(parts: List[torch.Tensor]) -> torch.Tensor:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _resolve_losses(loss: Any, owner: str) -> Any:
    resolved = tree.map_structure(_as_loss, loss)
    if all(item is None for item in tree.flatten(resolved)):
        raise ValueError(
            f"{owner} received loss={loss!r}, which holds no loss at all: at least one entry must be a loss "
            "(`None` only skips an output). Pass a loss name such as 'mse', a kerasish.losses.Loss, or a list "
            "with a loss for some outputs and None for the others."
        )
    return resolved


def _apply(loss_fns: Any, teacher: Any, student: Any, each: Any) -> torch.Tensor:
    """The sum over outputs of `each(loss_fn, teacher_output, student_output)`, skipping `None` losses."""
    parts: List[torch.Tensor] = []

    def visit(loss_fn: Any, t: Any, s: Any) -> None:
        if loss_fn is not None:
            parts.append(each(loss_fn, t, s))

    tree.map_structure(visit, loss_fns, teacher, student)
    return _sum_scalars(parts)


class DistillationLoss:
    """Base class of the losses that transfer knowledge from a teacher model to a student.

    Subclass it and override `compute_loss(teacher_outputs, student_outputs, **kwargs)`; the
    `Distiller` calls it once per batch with the teacher's outputs (computed with
    `training=False`, without gradients reaching the teacher) and the student's. A subclass
    that also wants intermediate layers sets `teacher_layer_name` / `student_layer_name`, as
    `FeatureDistillation` does.

    Example:
        >>> class MeanGap(DistillationLoss):
        ...     def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        ...         return (teacher_outputs - student_outputs).abs().mean()
        >>> float(MeanGap().compute_loss(torch.ones(2, 3), torch.zeros(2, 3)))
        1.0
    """

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> torch.Tensor:
        """The distillation loss of one batch, a scalar tensor.

        Args:
            teacher_outputs: the teacher's outputs (a tensor, or a list/dict of them).
            student_outputs: the student's outputs, in the same structure.
            **kwargs: anything a subclass needs.

        Raises:
            NotImplementedError: always, in the base class.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not define compute_loss(teacher_outputs, student_outputs, **kwargs). "
            "A subclass of kerasish.distillation.DistillationLoss must override it and return a scalar tensor."
        )

    def validate_outputs(self, teacher_outputs: Any, student_outputs: Any) -> None:
        """Checks that the teacher's and the student's outputs have the same structure.

        Raises:
            ValueError: when one is a list (or dict) and the other is not, or their lengths or keys differ.
        """
        try:
            tree.assert_same_structure(teacher_outputs, student_outputs)
        except ValueError as e:
            raise ValueError(
                f"{type(self).__name__}: the teacher's and the student's outputs have different structures "
                f"(teacher: {_shape_of_tree(teacher_outputs)}, student: {_shape_of_tree(student_outputs)}): {e} "
                "Give both models the same outputs (one tensor each, or lists/dicts of the same length and keys)."
            ) from e

    def validate_model_compatibility(self, teacher: Any, student: Any) -> None:
        """Checks, when the `Distiller` is made, that this loss can work on `teacher` and `student`.

        The base class accepts any pair; a subclass raises `ValueError` for one it cannot use.
        """

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments as a JSON-ready dict (the base class takes none)."""
        return {}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "DistillationLoss":
        """Rebuilds the loss from `get_config()`."""
        return cls(**config)


class FeatureDistillation(DistillationLoss):
    """Matches the student's features to the teacher's, at the final outputs or at named layers.

    With `teacher_layer_name` and `student_layer_name`, the loss reads those layers' outputs:
    the `Distiller` builds a functional model per network that returns them together with the
    final outputs (so both models must be Sequential or functional, with symbolic inputs). The
    two features must have shapes the loss accepts ('mse' needs equal shapes).

    Args:
        loss: a loss name ('mse', 'mae', 'cosine_similarity' ...: the loss function of that
            name), a `kerasish.losses.Loss`, or a nested structure of them matching the
            outputs, `None` skipping an output. At least one must not be `None`. Defaults to
            `'mse'`.
        teacher_layer_name: the teacher layer whose output is used. Defaults to `None` (the
            teacher's final output).
        student_layer_name: the student layer whose output is used. Defaults to `None` (the
            student's final output).

    Raises:
        ValueError: for an unknown loss name, or a `loss` without any loss in it.

    Example:
        >>> fd = FeatureDistillation(loss="mse")
        >>> float(fd.compute_loss(torch.zeros(2, 3), torch.full((2, 3), 2.0)))
        4.0
    """

    def __init__(self, loss: Any = "mse", teacher_layer_name: Optional[str] = None,
                 student_layer_name: Optional[str] = None) -> None:
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name
        self.loss = _resolve_losses(loss, "FeatureDistillation")

    def validate_model_compatibility(self, teacher: Any, student: Any) -> None:
        """Checks that named layers can be read: both models are Sequential or functional, and
        each named layer exists.

        Raises:
            ValueError: for a model without symbolic inputs (subclassed, or a Sequential not
                built yet) when a layer is named, or an unknown layer name (the valid names listed).
        """
        if self.teacher_layer_name is None and self.student_layer_name is None:
            return
        from kerasish.distillation.distiller import symbolic_tensors

        missing = [role for role, model in (("teacher", teacher), ("student", student))
                   if symbolic_tensors(model, "inputs") is None]
        if missing:
            raise ValueError(
                f"FeatureDistillation(teacher_layer_name={self.teacher_layer_name!r}, student_layer_name="
                f"{self.student_layer_name!r}) reads layers by name, which needs Sequential or functional models "
                f"with symbolic inputs, but the {' and '.join(missing)} model has none (a subclassed model, or a "
                "Sequential never built). Build the model with an Input (or call it on data first), leave both "
                "layer names None to distill the final outputs, or use LogitsDistillation."
            )
        for role, model, name in (("teacher", teacher, self.teacher_layer_name),
                                  ("student", student, self.student_layer_name)):
            if name is not None:
                try:
                    model.get_layer(name=name)
                except ValueError as e:
                    raise ValueError(f"In the {role} model {model.name!r}: {e}") from e

    def validate_outputs(self, teacher_outputs: Any, student_outputs: Any) -> None:
        """Checks the two outputs' structures against each other and against `loss`'s.

        Raises:
            ValueError: when the structures differ.
        """
        super().validate_outputs(teacher_outputs, student_outputs)
        try:
            tree.assert_same_structure(self.loss, teacher_outputs)
        except ValueError as e:
            raise ValueError(
                f"FeatureDistillation's loss has the structure {_shape_of_tree(self.loss)} but the features have "
                f"{_shape_of_tree(teacher_outputs)}: {e} Give one loss per output (None to skip one), in the "
                "outputs' structure."
            ) from e

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> torch.Tensor:
        """The sum over outputs of the mean of `loss(teacher_feature, student_feature)`.

        Args:
            teacher_outputs: the teacher's features.
            student_outputs: the student's features.
            **kwargs: unused.

        Returns:
            A scalar tensor.
        """
        def each(fn: Any, teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
            try:
                return torch.mean(fn(teacher, student))
            except RuntimeError as e:  # torch's shape mismatch, said in the user's terms
                raise RuntimeError(
                    f"FeatureDistillation(teacher_layer_name={self.teacher_layer_name!r}, student_layer_name="
                    f"{self.student_layer_name!r}) could not compare teacher features of shape "
                    f"{tuple(teacher.shape)} with student features of shape {tuple(student.shape)}: {e}. Pick "
                    "layers whose outputs have the same shape, or pass a loss that maps one onto the other."
                ) from e

        return _apply(self.loss, teacher_outputs, student_outputs, each)

    def get_config(self) -> Dict[str, Any]:
        """`loss` (Keras's description of each loss), `teacher_layer_name` and `student_layer_name`."""
        return {"loss": losses_mod.serialize(self.loss), "teacher_layer_name": self.teacher_layer_name,
                "student_layer_name": self.student_layer_name}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "FeatureDistillation":
        config = dict(config)
        config["loss"] = _deserialize_losses(config.get("loss"))
        return cls(**config)


class LogitsDistillation(DistillationLoss):
    """A loss between the teacher's and the student's outputs, each divided by a temperature.

    Both outputs are divided by `temperature`. A `kerasish.losses.KLDivergence` instance then
    compares their softmax probabilities and its mean is multiplied by `temperature ** 2` (Hinton
    et al.'s scaling, which keeps the gradients' size independent of the temperature); any other
    loss reads the scaled outputs directly.

    Note that, as in Keras 3, the default `'kl_divergence'` is the loss FUNCTION of that name,
    not a `KLDivergence` instance: it reads the scaled logits as they are (no softmax, no
    `temperature ** 2`). Pass `loss=kerasish.losses.KLDivergence()` for the softmax version.

    Args:
        temperature: the divisor of both outputs; higher gives softer distributions. Must be a
            positive number. Defaults to `3.0`.
        loss: a loss name, a `kerasish.losses.Loss`, or a nested structure of them matching the
            outputs, `None` skipping an output. At least one must not be `None`. Defaults to
            `'kl_divergence'`.

    Raises:
        ValueError: for a `temperature` that is not a positive number, an unknown loss name, or
            a `loss` without any loss in it.

    Example:
        >>> ld = LogitsDistillation(temperature=2.0, loss=kerasish.losses.KLDivergence())
        >>> float(ld.compute_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 2.0]])))
        0.0
    """

    def __init__(self, temperature: float = 3.0, loss: Any = "kl_divergence") -> None:
        self.temperature = temperature
        self.loss = _resolve_losses(loss, "LogitsDistillation")
        if not isinstance(temperature, (int, float)):
            raise ValueError(
                f"LogitsDistillation's temperature must be a number, received {temperature!r} of type "
                f"{type(temperature).__name__}. Pass a positive float such as temperature=3.0."
            )
        if temperature <= 0:
            raise ValueError(
                f"LogitsDistillation's temperature must be positive, received temperature={temperature!r}. "
                "Pass a value above 0 (typical ones are 2 to 5)."
            )

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> torch.Tensor:
        """The sum over outputs of the loss between the temperature-scaled outputs.

        Args:
            teacher_outputs: the teacher's logits (a tensor, or a list/dict of them).
            student_outputs: the student's logits, in the same structure.
            **kwargs: unused.

        Returns:
            A scalar tensor.
        """
        t = self.temperature

        def each(fn: Any, teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
            teacher, student = teacher / t, student / t
            if isinstance(fn, losses_mod.KLDivergence):
                value = torch.mean(fn(torch.softmax(teacher, dim=-1), torch.softmax(student, dim=-1)))
                return value * (t * t)
            return torch.mean(fn(teacher, student))

        return _apply(self.loss, teacher_outputs, student_outputs, each)

    def get_config(self) -> Dict[str, Any]:
        """`temperature` and `loss` (Keras's description of each loss)."""
        return {"temperature": self.temperature, "loss": losses_mod.serialize(self.loss)}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "LogitsDistillation":
        config = dict(config)
        config["loss"] = _deserialize_losses(config.get("loss"))
        return cls(**config)


def _deserialize_losses(config: Any) -> Any:
    """`losses.serialize`'s output back to losses: a description, or a list/dict of them."""
    if isinstance(config, dict) and "class_name" not in config:
        return {k: _deserialize_losses(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [_deserialize_losses(v) for v in config]
    return losses_mod.deserialize(config)


register_builtin(DistillationLoss, FeatureDistillation, LogitsDistillation)
