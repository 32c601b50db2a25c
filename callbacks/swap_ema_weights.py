"""SwapEMAWeights: evaluate (and optionally checkpoint) with the optimizer's moving average of the
weights, as Keras's callback of that name does."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Tuple

import torch

from kerasish.callbacks.callback import Callback


class SwapEMAWeights(Callback):
    """Puts the optimizer's exponential moving average of the weights (`use_ema=True`) into the
    model while it is evaluated or predicts, and the trained weights back afterwards.

    The swap is in place (no second copy of the model is kept beyond one temporary per weight)
    and on the device: no host sync. With `swap_on_epoch=True` the averages are also in the model
    between an epoch's end and the next epoch's start, so callbacks placed after this one (a
    `ModelCheckpoint`) see them; after the last epoch they stay, as `fit` then writes the
    averages into the weights anyway.

    Args:
        swap_on_epoch: also swap at each epoch's end and back at the next epoch's start.
            Defaults to `False`.

    Raises:
        ValueError: when the model's optimizer was made without `use_ema=True`, or (a deliberate
            difference from Keras, which then swaps in zeros) has not taken a step yet.

    Example:
        >>> model.compile(optimizer=kerasish.optimizers.SGD(use_ema=True), loss="mse")  # doctest: +SKIP
        >>> model.fit(x, y, validation_data=(xv, yv), callbacks=[SwapEMAWeights()])  # doctest: +SKIP
    """

    def __init__(self, swap_on_epoch: bool = False) -> None:
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._averages_in_model = False

    def _pairs(self) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """The optimizer's weights and their averages (a loss-scale optimizer's inner one's)."""
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        subs = getattr(optimizer, "optimizers", None)
        if subs is not None:  # a MultiOptimizer: the weights of the sub-optimizers with use_ema, as Keras
            averaging = [opt for opt in subs if getattr(opt, "use_ema", False)]
            if not averaging:
                raise ValueError(
                    "SwapEMAWeights must be used when at least one inner optimizer has `use_ema=True` set. Received "
                    "a MultiOptimizer with all inner optimizers having `use_ema=False`. Create one sub-optimizer "
                    "with use_ema=True."
                )
            pairs = [self._pairs_of(opt) for opt in averaging if opt._ema]
            if not pairs:
                self._pairs_of(averaging[0])  # raises: no step taken yet
            return [w for ws, _ in pairs for w in ws], [a for _, avs in pairs for a in avs]
        return self._pairs_of(optimizer)

    def _pairs_of(self, optimizer: Any) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        if not getattr(optimizer, "use_ema", False):
            raise ValueError(
                "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. Received: "
                f"use_ema={getattr(optimizer, 'use_ema', None)}. Compile with e.g. "
                "optimizer=kerasish.optimizers.Adam(use_ema=True)."
            )
        averages = getattr(optimizer, "_ema", [])
        if not averages or optimizer.iterations == 0:
            raise ValueError(
                "SwapEMAWeights: the optimizer has not taken a training step yet, so it has no moving average of "
                "the weights to swap in (Keras would swap in zeros). Use the callback in fit, or evaluate/predict "
                "with it after training."
            )
        return optimizer._params, averages

    def _swap(self) -> None:
        weights, averages = self._pairs()
        with torch.no_grad():
            held = [w.detach().clone() for w in weights]
            torch._foreach_copy_(weights, averages)
            torch._foreach_copy_(averages, held)

    def _swap_in(self) -> None:
        if not self._averages_in_model:
            self._swap()
            self._averages_in_model = True

    def _swap_out(self) -> None:
        if self._averages_in_model:
            self._swap()
            self._averages_in_model = False

    def on_epoch_begin(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        if self.swap_on_epoch:
            self._swap_out()

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        if not self.swap_on_epoch or self._averages_in_model:
            return
        self._swap_in()
        if epoch == self.params.get("epochs", 0) - 1:
            # fit ends by writing the averages into the weights: they are the weights now.
            weights, averages = self._pairs()
            with torch.no_grad():
                torch._foreach_copy_(averages, weights)

    def on_test_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._swap_in()

    def on_test_end(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._swap_out()

    def on_predict_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._swap_in()

    def on_predict_end(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._swap_out()
