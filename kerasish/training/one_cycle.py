"""`model.fit_one_cycle(x, y, max_lr, epochs)`: fit with a `OneCycle` callback (fastai's name)."""

from __future__ import annotations

from typing import Any, Optional


def fit_one_cycle(model: Any, x: Any = None, y: Any = None, max_lr: Optional[float] = None, epochs: int = 1,
                  *, pct_start: float = 0.25, div_factor: float = 25.0, final_div_factor: float = 1e4,
                  anneal: str = "cos", cycle_momentum: bool = True, base_momentum: float = 0.85,
                  max_momentum: float = 0.95, **fit_kwargs: Any) -> Any:
    """Trains with the one-cycle policy: `fit` plus a `kerasish.callbacks.OneCycle` callback.

    The cycle spans every step of this call (`epochs * steps per epoch`). The one-cycle
    arguments are keyword-only; everything else goes to `fit`.

    Args:
        model: a compiled kerasish model whose optimizer has a constant rate.
        x, y: the training data, as in `fit`.
        max_lr: the peak rate. Defaults to `None` (the optimizer's current rate).
        epochs: as in `fit`. Defaults to `1`.
        pct_start, div_factor, final_div_factor, anneal, cycle_momentum, base_momentum,
            max_momentum: as in `OneCycle`.
        **fit_kwargs: `batch_size`, `callbacks`, `validation_data`, ... passed to `fit`.

    Returns:
        The `History` of the `fit` call.

    Raises:
        RuntimeError: if the model is not compiled.
        ValueError: for a bad one-cycle argument (before any training).

    Example:
        >>> result = model.find_learning_rate(x_train, y_train)                  # doctest: +SKIP
        >>> model.fit_one_cycle(x_train, y_train, max_lr=result.minimum, epochs=5)  # doctest: +SKIP
    """
    from kerasish.callbacks.one_cycle import OneCycle  # callbacks sit above training: import lazily

    model.require_compiled("fit_one_cycle")
    if max_lr is None:
        max_lr = model.optimizer.learning_rate
    one_cycle = OneCycle(max_lr, pct_start=pct_start, div_factor=div_factor, final_div_factor=final_div_factor,
                         anneal=anneal, cycle_momentum=cycle_momentum, base_momentum=base_momentum,
                         max_momentum=max_momentum)
    callbacks = list(fit_kwargs.pop("callbacks", None) or [])
    # After BackupAndRestore (which must come first) and the user's callbacks, as the user listed them.
    callbacks.append(one_cycle)
    return model.fit(x, y, epochs=epochs, callbacks=callbacks, **fit_kwargs)
