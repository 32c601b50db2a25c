"""One step kind ('train' or 'test') as the loops run it: the model's override, or the built-in.

The loops never ask which one runs: they call the stepper per batch, then ask it for
the batch logs (lazy) and the epoch logs (one host sync). A model that overrides
`train_step` / `test_step` receives the batch packed as Keras packs it and its returned
dict becomes the logs (and, in a `train_step` where the built-in step would compute the loss
from logits, the model's own call keeps them for `compute_loss`: see `kept_logits`; class
weights arrive as its sample weights, as in Keras); otherwise the built-in `Steps`
arithmetic runs, with no detour through packing.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

from kerasish import distributed
from kerasish.layers import call_context
from kerasish.layers.calling import logits_path_skips
from kerasish.layers.layer_state import LayerState
from kerasish.training import step_logs
from kerasish.training.logs import LazyLogs, results_to_floats
from kerasish.utils.tree import pack_x_y_sample_weight


def overrides(model: Any, method: str) -> bool:
    """Whether the model's class overrides one of Trainer's steps."""
    from kerasish.training.model_trainer import Trainer

    return getattr(type(model), method) is not getattr(Trainer, method)


class Stepper:
    """Runs `kind` steps of `model` for one fit/evaluate/*_on_batch call.

    While active (`with stepper:`), the model's default `train_step`/`test_step` find the
    built-in step state (`steps`), so `super().train_step(data)` works inside an override.

    Args:
        model: the model.
        steps: the built-in step state (`Steps`), resolved for this call.
        kind: 'train' or 'test'.
    """

    def __init__(self, model: Any, steps: Any, kind: str) -> None:
        self.model, self.steps, self.kind = model, steps, kind
        self.training = kind == "train"
        self.custom = overrides(model, f"{kind}_step")
        self.method = getattr(model, f"{kind}_step")
        self.key = f"_active_{kind}_steps"
        self.names, self.trackers = steps.tracker_names(), steps.trackers()
        # The logits path runs the output layer's logits form, which attaches no Keras mask: a model whose
        # layers make masks keeps its plain call (its output may carry one).
        self.masks = any(getattr(m, "produces_mask", False) for m in model.modules())
        self.result: Any = None
        self._training_modules: Any = None  # a custom step's modules in train mode (see train_modes)
        self.ddp: Any = None  # a custom training step under torchrun: see ddp_custom_step

    def __enter__(self) -> "Stepper":
        self.model.__dict__[self.key] = self.steps
        # Between training steps (callbacks, e.g. a GAN monitor calling `self.model.generator(z)`), a layer
        # called without `training` infers, as in Keras, although the modules are in train mode: the call
        # context says False there; each step sets its own (True, or None for a custom step).
        st = call_context.state()
        self._outer_training = st.training
        if self.training:
            st.training = False
        if self.custom and self.training and distributed.is_distributed():
            from kerasish.training.ddp_custom_step import AveragedGradients

            try:
                self.ddp = AveragedGradients(self.model).__enter__()  # rank 0's weights everywhere, gradient hooks
            except BaseException:
                self.model.__dict__.pop(self.key, None)
                st.training = self._outer_training
                raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.model.__dict__.pop(self.key, None)
        call_context.state().training = self._outer_training
        if self.ddp is not None:
            self.ddp.__exit__(*exc)
            self.ddp = None

    def train_modes(self) -> None:
        """Module modes for a training run. The built-in step: every module in train mode. A custom
        `train_step`, called outside any layer call as in Keras: kerasish's layers in eval mode, so a
        layer called without `training` (None) behaves as in inference, as Keras's do, while
        `self(x, training=True)` trains them; plain torch modules in train mode, as Keras's
        TorchModuleWrapper trains them unless it is told `training=False`."""
        if not self.custom:
            if not self.model.training:  # walking every module costs ~10 us per epoch; skip when already set
                self.model.train()
            return
        raw = self._training_modules
        if raw is not None and not self.model.training and all(m.training for m in raw):
            return  # still as set (one-step epochs would otherwise pay a module walk per step)
        from kerasish.layers.structure import TorchModuleWrapper

        raw = []
        for m in self.model.modules():
            m.training = not isinstance(m, LayerState) or isinstance(m, TorchModuleWrapper)
            if m.training:
                raw.append(m)
        self._training_modules = raw

    def reset(self) -> None:
        """Start of an epoch or evaluation: the built-in trackers and every metric the model lists."""
        self.steps.reset()
        if self.custom:
            self.model.reset_metrics()

    def __call__(self, x: Any, y: Any, w: Any) -> None:
        if not self.custom:
            if self.training:
                self.steps.train_step(x, y, w)
            else:
                self.steps.test_step(x, y, w)
            return
        steps, st = self.steps, call_context.state()
        if steps.fuse and self.training and logits_path_skips(self.model):
            steps.leave_logits_path()  # as the built-in step does: a hook/regularizer/policy appeared
        if steps.class_weight is not None:
            w = steps.sample_weights(y, w)  # Keras hands a custom step the class weights as its sample_weight
        if self.ddp is not None:
            self.ddp.begin_step()  # rank 0's buffers and untrained weights, as DDP before each forward
        outer = st.keep_logits  # a fit nested in another model's custom step gives the outer one back
        # A training step's own call keeps its logits for compute_loss (not an evaluation's: its outputs are
        # inference tensors, whose in-place changes no version counter would reveal).
        st.keep_logits = (self.model, steps.fuse_fn, steps.loss) if steps.fuse and self.training and not self.masks \
            else None
        try:
            # Keras calls a custom step outside any layer call: `self(x, training=True)` inside it trains, a
            # layer called without `training` (a GAN's discriminator, a Dropout) gets None and keeps its
            # inference behaviour (see `train_modes` for the module modes that give this).
            if self.ddp is not None:
                self.ddp.active = True  # gradients averaged across processes during the step only
            with call_context.training_scope(None, steps.module_ids):
                result = self.method(pack_x_y_sample_weight(x, y, w))
        finally:
            st.keep_logits = outer
            if self.ddp is not None:
                self.ddp.active = False
        if type(result) is not dict:
            step_logs.check_step_result(result, f"{self.kind}_step")
        self.result = result

    def batch_logs(self) -> Mapping[str, float]:
        """The running results, converted only if a callback reads them."""
        return step_logs.StepLogs(self.result) if self.custom else LazyLogs(self.names, self.trackers)

    def epoch_logs(self) -> Dict[str, float]:
        """The results as floats: host sync, once per epoch or evaluation."""
        if self.custom:
            result = self.result
            if distributed.is_distributed():  # collectives: every process ends its epoch here
                from kerasish.training.ddp_custom_step import reduced_result

                if self.ddp is not None:
                    self.ddp.check_in_step()
                result = reduced_result(self.model, step_logs.check_step_result(result, f"{self.kind}_step"))
            return step_logs.to_floats(result)
        return results_to_floats(self.names, self.trackers)


def module_modes(model: Any) -> List[Tuple[Any, bool]]:
    """Every module's train/eval mode, for `restore_modes` after an evaluation or prediction run
    inside a fit (a callback's): `model.train(flag)` would flatten a custom step's mixed modes."""
    return [(m, m.training) for m in model.modules()]


def restore_modes(modes: List[Tuple[Any, bool]]) -> None:
    for m, training in modes:
        m.training = training
