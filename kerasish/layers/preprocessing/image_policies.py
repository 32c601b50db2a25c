"""Augmentation policies: RandAugment and AugMix.

Both draw operations from one bank of kerasish layers (shear, translation, rotation,
posterization, solarization, auto-contrast, equalization and, with AugMix's `all_ops`,
brightness, color degeneration, contrast and sharpness), each configured from the policy's
`factor` as Keras 3 does. Which operations run is drawn per call (one choice for the whole
batch, as in Keras) from a Python `random.Random` seeded by the layer's `SeedGenerator`: no
tensor is read back to choose, and only the chosen layers run (Keras computes every layer
and selects). Each bank layer draws its own amounts from its own generator, seeded
`seed + i`, and saved in the state dict. As the other augmentation layers they act in
training and on a direct call, not in evaluate and predict or after `layer.eval()`.
"""

from __future__ import annotations

import numbers
import random as python_random
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from kerasish.layers.layer import Layer
from kerasish.layers.preprocessing.image_augmentation import RandomRotation, RandomTranslation
from kerasish.layers.preprocessing.image_color import RandomBrightness, RandomContrast
from kerasish.layers.preprocessing.image_data import ImageDataLayer, Transformation
from kerasish.layers.preprocessing.image_filters import RandomColorDegeneration, RandomSharpness
from kerasish.layers.preprocessing.image_pixel_ops import Equalization, RandomPosterization, Solarization
from kerasish.layers.preprocessing.image_preprocessing import AutoContrast, parse_factor, parse_value_range
from kerasish.layers.preprocessing.image_warps import RandomShear

# The bank, in Keras's order for each policy.
RAND_AUGMENT_OPS = (
    "random_shear", "random_translation", "random_rotation", "random_brightness", "random_color_degeneration",
    "random_contrast", "random_sharpness", "random_posterization", "solarization", "auto_contrast", "equalization",
)
AUGMIX_OPS = (
    "random_shear", "random_translation", "random_rotation", "random_posterization", "solarization", "auto_contrast",
    "equalization",
)
AUGMIX_ALL_OPS = AUGMIX_OPS + ("random_brightness", "random_color_degeneration", "random_contrast",
                               "random_sharpness")


def _bank(names: Sequence[str], factor: Tuple[float, float], value_range: Tuple[float, float], interpolation: str,
          seed: Optional[int], data_format: str, dtype: Any) -> List[Layer]:
    """The named layers configured from `factor` as Keras's policies configure theirs."""
    common = {"data_format": data_format, "dtype": dtype}
    makers = {
        "random_shear": lambda s: RandomShear(x_factor=factor, y_factor=factor, interpolation=interpolation, seed=s,
                                              **common),
        "random_translation": lambda s: RandomTranslation(factor, factor, interpolation=interpolation, seed=s,
                                                          **common),
        "random_rotation": lambda s: RandomRotation(factor, interpolation=interpolation, seed=s, **common),
        "random_brightness": lambda s: RandomBrightness(factor, value_range=value_range, seed=s, **common),
        "random_color_degeneration": lambda s: RandomColorDegeneration(factor, value_range=value_range, seed=s,
                                                                       **common),
        "random_contrast": lambda s: RandomContrast(factor, value_range=value_range, seed=s, **common),
        "random_sharpness": lambda s: RandomSharpness(factor, value_range=value_range, seed=s, **common),
        "random_posterization": lambda s: RandomPosterization(max(1, int(8 * factor[1])), value_range=value_range,
                                                              seed=s, **common),
        "solarization": lambda s: Solarization(addition_factor=factor, threshold_factor=factor,
                                               value_range=value_range, seed=s, **common),
        "auto_contrast": lambda s: AutoContrast(value_range=value_range, **common),
        "equalization": lambda s: Equalization(value_range=value_range, **common),
    }
    return [makers[name](None if seed is None else seed + i) for i, name in enumerate(names)]


def _count(value: Any, arg: str, layer: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{layer}: `{arg}` must be an int >= {minimum}. Received: {arg}={value!r}. "
                         f"Example: {arg}=2.")
    return value


def _chooser(generator: Optional[torch.Generator]) -> python_random.Random:
    """A Python generator for this call's choices, from the call's torch generator (no device read)."""
    return python_random.Random(0 if generator is None else generator.initial_seed())


class _Policy(ImageDataLayer):
    """Shared by RandAugment and AugMix: the bank, its construction and the segmentation-mask refusal."""

    _CAST_IN_INFERENCE = True

    def _make_bank(self, names: Sequence[str], seed: Optional[int], dtype: Any) -> None:
        self.op_names = tuple(names)
        self.ops = _bank(names, self.factor, self.value_range, self.interpolation, seed, self.data_format, dtype)

    def _run(self, images: torch.Tensor, chain: Sequence[int]) -> torch.Tensor:
        for index in chain:
            images = self.ops[index](images, training=True)
        return images

    def call(self, inputs: Any, training: Optional[bool] = None) -> Any:
        if isinstance(inputs, dict) and "segmentation_masks" in inputs:
            raise NotImplementedError(
                f"{type(self).__name__} does not transform segmentation masks (kerasish's geometric layers move "
                "images only). Pass {'images': ..., 'labels': ...}."
            )
        return super().call(inputs, training=training)


class RandAugment(_Policy):
    """RandAugment: `num_ops` operations drawn at random from a fixed bank, per batch.

    Each call draws `num_ops` operations (with replacement, uniformly from 11: shear,
    translation, rotation, brightness, color degeneration, contrast, sharpness,
    posterization, solarization, auto-contrast, equalization) and applies them in turn to
    the whole batch, each drawing its amount per image within `factor`'s range. As in Keras a
    number f gives the range [0, f] for every operation (so rotations and shifts go one way,
    and posterization keeps `max(1, int(8 f))` bits at most). The output is in the layer's
    dtype, in inference too (the input cast).

    Args:
        value_range: the range of the input values. Defaults to `(0, 255)`.
        num_ops: how many operations to apply, an int >= 0. Defaults to `2`.
        factor: the strength, a number in [0, 1] or a pair within it. Defaults to `0.5`.
        interpolation: 'bilinear' or 'nearest', for the geometric operations.
            Defaults to `'bilinear'`.
        seed: an int for a reproducible sequence. Defaults to `None`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a bad factor, num_ops, value_range or seed.
        NotImplementedError: for an unknown interpolation, or segmentation masks in the input.

    Example:
        >>> RandAugment(value_range=(0, 1), seed=1)(torch.rand(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    def __init__(self, value_range: Sequence[float] = (0, 255), num_ops: int = 2, factor: Any = 0.5,
                 interpolation: str = "bilinear", seed: Optional[int] = None, data_format: Optional[str] = None,
                 **kwargs: Any) -> None:
        value_range = parse_value_range(value_range, "RandAugment")
        num_ops = _count(num_ops, "num_ops", "RandAugment", 0)
        factor = parse_factor(factor, (0, 1), "factor", "RandAugment")
        super().__init__(data_format=data_format, **kwargs)
        self.value_range, self.num_ops, self.factor, self.interpolation = value_range, num_ops, factor, interpolation
        self._make_seed_generator(seed)
        self._make_bank(RAND_AUGMENT_OPS, self.seed, kwargs.get("dtype"))

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        rng = _chooser(generator)
        return {"ops": [rng.randrange(len(self.ops)) for _ in range(self.num_ops)]}

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        return self._run(images.to(self._float_dtype()), transformation["ops"])

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"value_range": list(self.value_range), "num_ops": self.num_ops, "factor": list(self.factor),
                        "interpolation": self.interpolation, "seed": self.seed})
        return config_


class AugMix(_Policy):
    """AugMix: a blend of the images with several short random augmentation chains.

    Per call, `num_chains` chains are drawn, each of `chain_depth` steps that are an
    operation of the bank or nothing (uniformly, as in Keras); every chain is applied to the
    batch, the chains are averaged with Dirichlet(`alpha`) weights, and the result is blended
    with the original images by a Beta(`alpha`, `alpha`) weight `m`: `m x + (1 - m) mix`,
    clipped to `value_range`. The bank is shear, translation, rotation, posterization,
    solarization, auto-contrast and equalization, plus brightness, color degeneration,
    contrast and sharpness with `all_ops=True`, all configured from `factor` as in Keras (a
    number f gives [0, f]). The output is in the layer's dtype, in inference too (the input
    cast). Deviation from Keras 3.15: the chains are drawn from the layer's seed (Keras uses
    Python's global `random`, so a seeded Keras AugMix is not reproducible).

    Args:
        value_range: the range of the input values. Defaults to `(0, 255)`.
        num_chains: how many chains to mix, an int >= 1. Defaults to `3`.
        chain_depth: the steps per chain, an int >= 1. Defaults to `3`.
        factor: the strength, a number in [0, 1] or a pair within it. Defaults to `0.3`.
        alpha: the Dirichlet and Beta concentration, a positive number. Defaults to `1.0`.
        all_ops: whether to add the four color operations to the bank. Defaults to `True`.
        interpolation: 'bilinear' or 'nearest', for the geometric operations.
            Defaults to `'bilinear'`.
        seed: an int for a reproducible sequence. Defaults to `None`.
        data_format: 'channels_last' or 'channels_first'. Defaults to `None` (the config's).
        **kwargs: `name`, `dtype`.

    Raises:
        ValueError: for a bad factor, count, alpha, value_range or seed.
        TypeError: for an `all_ops` that is not a bool.
        NotImplementedError: for an unknown interpolation, or segmentation masks in the input.

    Example:
        >>> AugMix(value_range=(0, 1), seed=1)(torch.rand(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    def __init__(self, value_range: Sequence[float] = (0, 255), num_chains: int = 3, chain_depth: int = 3,
                 factor: Any = 0.3, alpha: float = 1.0, all_ops: bool = True, interpolation: str = "bilinear",
                 seed: Optional[int] = None, data_format: Optional[str] = None, **kwargs: Any) -> None:
        value_range = parse_value_range(value_range, "AugMix")
        num_chains = _count(num_chains, "num_chains", "AugMix", 1)
        chain_depth = _count(chain_depth, "chain_depth", "AugMix", 1)
        factor = parse_factor(factor, (0, 1), "factor", "AugMix")
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
            raise ValueError(f"AugMix: `alpha` must be a positive number. Received: alpha={alpha!r}. "
                             "Example: alpha=1.0.")
        if not isinstance(all_ops, bool):
            raise TypeError(f"AugMix: `all_ops` must be True or False. Received: all_ops={all_ops!r}.")
        super().__init__(data_format=data_format, **kwargs)
        self.value_range, self.num_chains, self.chain_depth = value_range, num_chains, chain_depth
        self.factor, self.alpha, self.all_ops, self.interpolation = factor, alpha, all_ops, interpolation
        self._make_seed_generator(seed)
        self._make_bank(AUGMIX_ALL_OPS if all_ops else AUGMIX_OPS, self.seed, kwargs.get("dtype"))

    def random_transformation(self, images: torch.Tensor, generator: Optional[torch.Generator]) -> Transformation:
        device = images.device
        concentration = torch.full((self.num_chains,), float(self.alpha), device=device)
        gammas = torch._standard_gamma(concentration, generator=generator)
        blend = self._beta(self.alpha, 1, generator, device)[0]
        rng = _chooser(generator)
        steps = len(self.ops) + 1  # an operation, or nothing
        chains = [[i for i in (rng.randrange(steps) for _ in range(self.chain_depth)) if i < len(self.ops)]
                  for _ in range(self.num_chains)]
        return {"chain_weights": gammas / gammas.sum(), "blend": blend, "chains": chains}

    def transform_images(self, images: torch.Tensor, transformation: Transformation) -> torch.Tensor:
        dtype = self._float_dtype()
        x = images.to(dtype)
        weights = transformation["chain_weights"].to(dtype)
        mixed = torch.zeros_like(x)
        for index, chain in enumerate(transformation["chains"]):
            mixed = mixed + self._run(x, chain) * weights[index]
        blend = transformation["blend"].to(dtype)
        return (blend * x + (1 - blend) * mixed).clamp(self.value_range[0], self.value_range[1])

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update({"value_range": list(self.value_range), "num_chains": self.num_chains,
                        "chain_depth": self.chain_depth, "factor": list(self.factor), "alpha": self.alpha,
                        "all_ops": self.all_ops, "interpolation": self.interpolation, "seed": self.seed})
        return config_
