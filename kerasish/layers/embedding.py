"""Embedding (token ids to vectors, optionally masking id 0), ReversibleEmbedding and Masking.

Both produce a Keras mask, a bool tensor `(batch, steps)` that is True on real steps. A
`Sequential` hands it to the layers that accept one (the recurrent layers, `Bidirectional`,
`GlobalAveragePooling1D`), so padded steps do not change their results.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from kerasish import config, constraints, initializers, regularizers
from kerasish.layers.layer import Layer, Shape, quiet_input_shape
from kerasish.layers.unsupported import reject_unsupported
from kerasish.layers.weight_layout import attach_constraint


def _positive(value: Any, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"Embedding: {arg} must be a positive integer, received {arg}={value!r}. "
            "Example: Embedding(input_dim=10000, output_dim=100) for a 10,000-token vocabulary."
        )
    return value


class Embedding(Layer):
    """Turns integer token ids into dense vectors: `embeddings[ids]`.

    The weight `embeddings` has shape `(input_dim, output_dim)` and Keras's initialiser,
    uniform in [-0.05, 0.05] (torch's N(0, 1) with `kerasish.config.set_defaults('torch')`).
    Integer inputs are used as they are (`fit` does not cast them to float).

    As in Keras 3, the layer is built (its weight made) on its first call, by `layer.build()`
    or `model.build(input_shape)`, or at once when `weights` is given. Until then it has no
    weights: `weights` and `get_weights()` are empty, `count_params()` and `set_weights()`
    raise, `embeddings` is missing, and a model's `summary()` shows it as `0 (unbuilt)`.

    Args:
        input_dim: vocabulary size; ids must lie in `[0, input_dim)`.
        output_dim: size of each vector.
        embeddings_initializer: Defaults to `'uniform'`.
        embeddings_regularizer: penalty added to the loss. Defaults to `None`.
        embeddings_constraint: applied to the embeddings `(input_dim, output_dim)` after each
            optimizer step, e.g. `UnitNorm(axis=1)` for unit-length vectors. Defaults to `None`.
        mask_zero: treat id 0 as padding and emit a mask for the following layers (id 0 is then
            reserved, so `input_dim` should be the vocabulary size + 1). Defaults to `False`.
        input_length: Keras 2's fixed sequence length; sets `input_shape=(input_length,)` so the
            model builds at once. Defaults to `None`.
        weights: initial embeddings, an array `(input_dim, output_dim)` or a list holding it.
            Defaults to `None` (use `embeddings_initializer`).
        lora_rank: not supported; must stay `None`. Defaults to `None`.
        lora_alpha: not supported; must stay `None`. Defaults to `None`.
        quantization_config: not supported; must stay `None`. Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`, `activity_regularizer`.

    Raises:
        ValueError: for sizes < 1, `weights` of the wrong shape, or a LoRA / quantization
            argument; from `set_weights()` before the layer is built.
        AttributeError: reading `embeddings` before the layer is built.

    Example:
        >>> layer = Embedding(1000, 8, mask_zero=True)
        >>> ids = torch.tensor([[0, 0, 5, 7]])
        >>> layer(ids).shape, layer.compute_mask(ids).tolist()
        (torch.Size([1, 4, 8]), [[False, False, True, True]])
    """

    integer_input = True
    #: As Keras's Embedding (autocast=False): ids reach call() as they are (float ids are not
    #: rounded to a float16/bfloat16 table's dtype first).
    _convert_input_args = False

    regularized_weights = (("embeddings_regularizer", "embeddings"),)

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        weights: Any = None,
        lora_rank: Optional[int] = None,
        lora_alpha: Optional[float] = None,
        quantization_config: Any = None,
        input_length: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        reject_unsupported("Embedding", lora_rank=lora_rank, lora_alpha=lora_alpha,
                           quantization_config=quantization_config)
        quiet = False
        if input_length is not None:
            # Keras 3's warning; it then ignores the argument, kerasish still uses it (Keras 2's meaning).
            warnings.warn("Argument `input_length` is deprecated. Just remove it. (kerasish still reads it as "
                          "input_shape=(input_length,), so a Sequential starting with this layer is built at once; "
                          "Keras 3 ignores it.)", UserWarning, stacklevel=2)
            if not any(k in kwargs for k in ("input_shape", "batch_input_shape")):
                kwargs["input_shape"] = (input_length,)
                quiet = True  # the input_shape is ours, not the user's: no input_shape warning for it
        with quiet_input_shape() if quiet else contextlib.nullcontext():
            super().__init__(**kwargs)
        self.input_dim = _positive(input_dim, "input_dim")
        self.output_dim = _positive(output_dim, "output_dim")
        self._init_arg = embeddings_initializer
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        # Sequential threads masks only when some layer says it produces one.
        self.produces_mask = self.mask_zero
        self.input_length = input_length
        self._torch_init = config.defaults() == "torch"
        # No weight yet: Keras builds an Embedding on its first call (or build()), not here.
        if weights is not None:
            # Keras's `weights=`: build now (the shape does not depend on the input), then load
            # one array, or a list holding it.
            self.build()
            self.set_weights(weights if isinstance(weights, (list, tuple)) and len(weights) == 1 else [weights])

    def __getattr__(self, name: str) -> Any:
        # Reached for every parameter read (torch keeps them out of __dict__): the common case first.
        if name != "embeddings" or "embeddings" in self.__dict__["_parameters"] or self.__dict__.get("built", False):
            return nn.Module.__getattr__(self, name)
        raise AttributeError(
            f"{type(self).__name__} {self.__dict__.get('name')!r} is not built yet, so it has no "
            "`embeddings`. Call it on token ids first, or build it with layer.build() (or "
            "model.build(input_shape)), or pass weights=... to the constructor."
        )

    def _load_from_state_dict(self, state_dict: Dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # torch's load_state_dict into a layer not built yet: build it first (the shape is known).
        if not self.built and prefix + "embeddings" in state_dict:
            self.build()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def get_build_config(self) -> Optional[Dict[str, Any]]:
        """As Keras: the input shape it was called with, `{"shapes_dict": {}}` when `build()` made it
        with none, None while unbuilt."""
        config_ = super().get_build_config()
        return config_ if config_ is not None or not self.built else {"shapes_dict": {}}

    def build_from_config(self, config: Optional[Dict[str, Any]]) -> None:
        """Builds from `get_build_config()`'s dict (Keras's `shapes_dict` form too)."""
        if config and "shapes_dict" in config and config.get("input_shape") is None:
            self.build()
            return
        super().build_from_config(config)

    def build(self, input_shape: Optional[Shape] = None) -> None:
        """Makes `embeddings`; the input shape is not needed (Keras's `build()` takes none)."""
        if self.built:
            return
        dtype = getattr(torch, self.dtype)
        self.embeddings = nn.Parameter(torch.empty(self.input_dim, self.output_dim, dtype=dtype))
        if self._torch_init:
            nn.init.normal_(self.embeddings)
        else:
            self.embeddings_initializer(self.embeddings.data)
        attach_constraint(self.embeddings, self.embeddings_constraint)  # Keras's layout already

    def set_weights(self, weights: Any) -> None:
        """Sets `[embeddings]` from arrays, as `get_weights()` returns them.

        Raises:
            ValueError: before the layer is built (as Keras, which expects 0 arrays then), or for
                arrays of the wrong number or shape.
        """
        if not self.built and not (isinstance(weights, (list, tuple)) and len(weights) == 0):
            received = (f"{len(weights)}" if isinstance(weights, (list, tuple))
                        else f"an object of type {type(weights).__name__} (expected a list of arrays)")
            raise ValueError(
                f"{type(self).__name__} {self.name!r} is not built yet, so it expects 0 weight arrays, received "
                f"{received}. Build it first with layer.build() (or call it on token ids, or model.build("
                "input_shape)), or pass the array as Embedding(..., weights=...)."
            )
        super().set_weights(weights)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, inputs: torch.Tensor, previous_mask: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
        """True where the id is not 0 (when `mask_zero`), else None."""
        if not self.mask_zero:
            return None
        return inputs != 0

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.is_floating_point():
            # Token ids that went through a float array; exact for ids below 2**24.
            inputs = inputs.long()
        return F.embedding(inputs, self.embeddings)

    def get_config(self) -> Dict[str, Any]:
        # Keras 3 writes no `input_length` (it only warns about it); the input shape it set is
        # written as `input_shape`, which the constructor takes too.
        config_ = super().get_config()
        config_.update(
            input_dim=self.input_dim,
            output_dim=self.output_dim,
            embeddings_initializer=initializers.serialize(self._init_arg),
            embeddings_regularizer=regularizers.serialize(self.embeddings_regularizer),
            embeddings_constraint=constraints.serialize(self.embeddings_constraint),
            mask_zero=self.mask_zero,
            activity_regularizer=regularizers.serialize(self.activity_regularizer),
            quantization_config=None,  # Keras writes it; kerasish refuses any other value
        )
        return config_

    def extra_repr(self) -> str:
        return f"name={self.name!r}, input_dim={self.input_dim}, output_dim={self.output_dim}, mask_zero={self.mask_zero}"


class ReversibleEmbedding(Embedding):
    """An Embedding that can also project vectors back to vocabulary logits: `layer(x, reverse=True)`.

    A forward call looks ids up as `Embedding` does (and sets the mask on the result when
    `mask_zero`); a reverse call computes `x @ embeddings.T` (tied weights) or
    `x @ reverse_embeddings`, the separate weight `(output_dim, input_dim)` made when
    `tie_weights=False`, optionally in `reverse_dtype` and soft-capped as
    `tanh(logits / logit_soft_cap) * logit_soft_cap`.

    Args:
        input_dim: vocabulary size.
        output_dim: size of each vector.
        tie_weights: reuse the embeddings for the reverse projection. Defaults to `True`.
        embeddings_initializer: also used for `reverse_embeddings`. Defaults to `'uniform'`.
        embeddings_regularizer: Defaults to `None`.
        embeddings_constraint: Defaults to `None`.
        mask_zero: treat id 0 as padding. Defaults to `False`.
        reverse_dtype: the dtype of the reverse matmul, e.g. `'float32'` under mixed precision.
            Defaults to `None` (the inputs' dtype).
        logit_soft_cap: a positive cap for the reverse logits. Defaults to `None` (no cap).
        **kwargs: `Embedding`'s other arguments and `name`, `dtype`, `trainable`.

    Raises:
        ValueError: for sizes < 1, or a `logit_soft_cap` that is not a positive number.

    Example:
        >>> layer = ReversibleEmbedding(10, 4)
        >>> vectors = layer(torch.tensor([[1, 2]]))
        >>> layer(vectors, reverse=True).shape
        torch.Size([1, 2, 10])
    """

    def __init__(self, input_dim: int, output_dim: int, tie_weights: bool = True,
                 embeddings_initializer: Any = "uniform", embeddings_regularizer: Any = None,
                 embeddings_constraint: Any = None, mask_zero: bool = False, reverse_dtype: Optional[str] = None,
                 logit_soft_cap: Optional[float] = None, **kwargs: Any) -> None:
        if logit_soft_cap is not None and (isinstance(logit_soft_cap, bool) or
                                           not isinstance(logit_soft_cap, (int, float)) or logit_soft_cap <= 0):
            raise ValueError(
                f"ReversibleEmbedding: logit_soft_cap must be a positive number or None, received "
                f"logit_soft_cap={logit_soft_cap!r}. Example: logit_soft_cap=30.0."
            )
        if reverse_dtype is not None:
            from kerasish.ops.dtypes import to_torch_dtype

            to_torch_dtype(reverse_dtype)  # refuses an unknown dtype name before anything is built
        # Read by build(), which Embedding.__init__ runs when `weights` is given.
        self.tie_weights = bool(tie_weights)
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer, embeddings_constraint=embeddings_constraint,
                         mask_zero=mask_zero, **kwargs)
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap

    def build(self, input_shape: Optional[Shape] = None) -> None:
        if self.built:
            return
        super().build(input_shape)
        self.reverse_embeddings: Optional[torch.Tensor] = None
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight((self.output_dim, self.input_dim), self._init_arg,
                                                      name="reverse_embeddings")

    def call(self, inputs: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        if not reverse:
            out = super().call(inputs)
            if self.mask_zero:
                out._keras_mask = inputs != 0
            return out
        kernel = self.embeddings.T if self.tie_weights else self.reverse_embeddings
        if self.reverse_dtype is not None:
            from kerasish.ops.dtypes import to_torch_dtype

            dtype = to_torch_dtype(self.reverse_dtype)
            inputs, kernel = inputs.to(dtype), kernel.to(dtype)
        else:  # as Keras's matmul: the promoted dtype (float32 hidden states @ a bfloat16 table: float32)
            dtype = torch.promote_types(inputs.dtype, kernel.dtype)
            inputs, kernel = inputs.to(dtype), kernel.to(dtype)
        logits = inputs @ kernel
        if self.logit_soft_cap is not None:
            logits = torch.tanh(logits / self.logit_soft_cap) * self.logit_soft_cap
        return logits

    def compute_mask(self, inputs: torch.Tensor, previous_mask: Optional[torch.Tensor] = None) -> None:
        """None: a forward call sets its mask itself, a reverse call has none."""
        return None

    def compute_output_shape(self, input_shape: Shape, reverse: bool = False) -> Shape:
        if reverse:
            return tuple(input_shape[:-1]) + (self.input_dim,)
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(tie_weights=self.tie_weights, reverse_dtype=self.reverse_dtype,
                       logit_soft_cap=self.logit_soft_cap)
        return config_


class Masking(Layer):
    """Masks the time steps whose features all equal `mask_value` (and zeroes them).

    Args:
        mask_value: the padding value. Defaults to `0.0`.
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> x = torch.tensor([[[0.0, 0.0], [1.0, 2.0]]])
        >>> Masking().compute_mask(x).tolist()
        [[False, True]]
    """

    produces_mask = True
    accepts_mask = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)):
            raise TypeError(
                f"Masking: mask_value must be a number, received mask_value={mask_value!r}. "
                "Example: Masking(mask_value=0.0)."
            )
        self.mask_value = float(mask_value)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def compute_mask(self, inputs: torch.Tensor, previous_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """True for steps with at least one feature different from `mask_value`."""
        mask = (inputs != self.mask_value).any(dim=-1)
        return mask if previous_mask is None else mask & previous_mask

    def call(self, inputs: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        keep = self.compute_mask(inputs, mask)
        return inputs * keep.unsqueeze(-1).to(inputs.dtype)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_["mask_value"] = self.mask_value
        return config_
