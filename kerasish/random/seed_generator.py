"""`SeedGenerator`, the global generator behind `seed=None`, and seeds turned into torch generators.

Keras's seeding contract, which every `kerasish.random` function follows:

- an int seed is stateless: the same seed gives the same numbers on every call;
- a `SeedGenerator` is stateful: each draw advances it, so calls differ, but two
  generators built with the same seed give the same sequence;
- `seed=None` draws from one global `SeedGenerator`, which
  `kerasish.utils.set_random_seed` resets.

A seed becomes a `torch.Generator` on the device of the draw, seeded with
`(seed + counter) mod 2**32`, as Keras's torch backend does, so an int seed gives the
numbers Keras gives wherever both call the same torch sampler.
"""

from __future__ import annotations

import contextlib
import random as python_random
from typing import Any, Dict, Iterator, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

_MASK = 0xFFFFFFFF
_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def _wrap_int32(value: int) -> int:
    """`value` as an int32 holds it (two's complement wrap-around)."""
    return (value + 2 ** 31) % 2 ** 32 - 2 ** 31


class SeedGenerator(nn.Module):
    """A seed that advances on every draw: reproducible sequences of different random numbers.

    The state is a non-trainable int64 buffer `state` of shape `(2,)`, `[seed, counter]`;
    each draw uses it and adds one to the counter. Being a buffer (not a `Variable`), it is
    in `state_dict()` when the generator is an attribute of a layer or model, so saving and
    `load_weights` restore where the sequence stands, and no optimizer or `get_weights()`
    ever sees it.

    The generator also keeps a Python copy of the state, so a draw needs no host sync even
    when the buffer sits on a GPU; the buffer is read back (one host sync) only after
    something else wrote it (`load_state_dict`, `load_weights`, `.to(device)`, `copy_`).
    Deviation from Keras: the state is int64 (Keras's torch backend uses int32).

    Args:
        seed: the initial seed, an int. Defaults to `None` (a random seed drawn from
            Python's `random`, which `set_random_seed` seeds, as in Keras).
        name: the generator's name. Defaults to `None` ('seed_generator', 'seed_generator_1' ...).
        **kwargs: none are accepted; present for Keras's signature.

    Raises:
        ValueError: for a seed that is not an int, or unknown keyword arguments.

    Example:
        >>> from kerasish import random
        >>> gen = random.SeedGenerator(seed=42)
        >>> a = random.normal((2,), seed=gen)
        >>> b = random.normal((2,), seed=gen)  # differs from a
        >>> again = random.SeedGenerator(seed=42)
        >>> bool((random.normal((2,), seed=again) == a).all())
        True
    """

    def __init__(self, seed: Optional[int] = None, name: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__()
        if kwargs:
            raise ValueError(
                f"Unrecognized keyword arguments to SeedGenerator: {sorted(kwargs)}. It takes only `seed` and `name`."
            )
        if seed is not None:
            _check_int_seed(seed, "SeedGenerator")
        if name is None:
            from kerasish.layers.layer import unique_name  # late: kerasish.layers may use this module

            name = unique_name("seed_generator")
        self.name = name
        self._initial_seed = None if seed is None else int(seed)
        start = make_default_seed() if seed is None else int(seed)
        # A normal tensor even when built inside inference_mode (the global generator may be
        # made during predict): inference tensors cannot be updated in place outside it.
        with torch.inference_mode(False):
            self.register_buffer("state", torch.tensor([start, 0], dtype=torch.int64))
        self._pair = (start, 0)
        self._seen = self._stamp()

    def _stamp(self) -> Tuple[int, int, int]:
        state = self.state
        return id(state), state._version, state.data_ptr()

    def _advance(self, ordered: bool = True) -> Tuple[int, int]:
        """The current `(seed, counter)` as Python ints; moves the state on (buffer included)."""
        if self._stamp() != self._seen:
            # host sync: only after the buffer was written from outside (load_weights, .to(device) ...).
            self._pair = tuple(int(v) for v in self.state.tolist())
        current = self._pair
        state = self.state
        if ordered:
            self._pair = (current[0], current[1] + 1)
            state[1:].add_(1)  # in place on the buffer's device: a kernel launch, no sync
        else:
            # Keras's unordered step: near-unique values below 933199. Keras computes `(v + 1) * 5387` in
            # its int32 state, which wraps around; the wrap is repeated here so the sequence is Keras's.
            self._pair = tuple(_wrap_int32((v + 1) * 5387) % 933199 for v in current)
            state.add_(1).mul_(5387).add_(2 ** 31).remainder_(2 ** 32).sub_(2 ** 31).remainder_(933199)
        self._seen = self._stamp()
        return current

    def snapshot(self) -> Tuple[torch.Tensor, Optional[Tuple[int, int]]]:
        """The generator's state, for `restore`: its buffer copied on its device (no sync) and its
        host copy when that is current (else it is re-read from the buffer after the restore)."""
        return self.state.detach().clone(), self._pair if self._stamp() == self._seen else None

    def restore(self, snapshot: Tuple[torch.Tensor, Optional[Tuple[int, int]]]) -> None:
        """Puts back a state `snapshot` took."""
        with torch.no_grad():
            self.state.copy_(snapshot[0])
        if snapshot[1] is not None:
            self._pair, self._seen = snapshot[1], self._stamp()

    def next(self, ordered: bool = True) -> torch.Tensor:
        """Returns the current `[seed, counter]` (an int64 tensor) and advances the state.

        Args:
            ordered: True adds one to the counter; False jumps as Keras's global generator
                does (`(state + 1) * 5387 % 933199`). Defaults to `True`.
        """
        pair = self._advance(ordered)
        return torch.tensor(pair, dtype=torch.int64)

    def get_config(self) -> Dict[str, Any]:
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "SeedGenerator":
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, seed={self._initial_seed!r}"


def make_default_seed() -> int:
    """A seed for a generator built without one, from Python's `random` (seeded by `set_random_seed`)."""
    return python_random.randint(1, int(1e9))


_global: Optional[SeedGenerator] = None


def global_seed_generator() -> SeedGenerator:
    """The generator that `seed=None` draws from; made on first use from Python's `random`."""
    global _global
    if _global is None:
        _global = SeedGenerator(name="global_seed_generator")
    return _global


def reset_global_seed_generator() -> None:
    """Forgets the global generator; the next `seed=None` draw makes a new one (as Keras's `set_random_seed`)."""
    global _global
    _global = None


@contextlib.contextmanager
def global_seed_kept() -> Iterator[None]:
    """Runs a block without moving the random numbers `seed=None` draws next: the global generator
    (and Python's `random`, which makes it) are put back afterwards. For work Keras does without
    drawing, such as a probe call that learns a model's output shape."""
    global _global
    gen, python_state = _global, python_random.getstate()
    saved = None if gen is None else gen.snapshot()
    try:
        yield
    finally:
        python_random.setstate(python_state)
        _global = gen
        if gen is not None and saved is not None:
            gen.restore(saved)


SeedLike = Union[int, SeedGenerator, Tuple[int, int], torch.Tensor, None]


def _check_int_seed(seed: Any, where: str) -> None:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(
            f"Argument `seed` of {where} must be an integer. Received: seed={seed!r} (of type "
            f"{type(seed).__name__}). Pass an int such as seed=42."
        )
    if not _INT64_MIN <= int(seed) <= _INT64_MAX:
        raise ValueError(f"Argument `seed` of {where} must fit in 64 bits. Received: seed={seed}.")


def check_seed(seed: Any) -> None:
    """Validates `seed` (an int, a `SeedGenerator`, a `(seed, counter)` pair or None) without drawing.

    Raises:
        ValueError: naming `seed`, its value and type, and what to pass instead.
    """
    if seed is None or isinstance(seed, SeedGenerator):
        return
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        _check_int_seed(seed, "kerasish.random")
        return
    if isinstance(seed, torch.Tensor) and not (
            seed.is_floating_point() or seed.is_complex() or seed.dtype == torch.bool):
        if tuple(seed.shape) == (2,):
            return
        raise ValueError(
            f"A tensor `seed` must be a (seed, counter) pair of shape (2,), like SeedGenerator.next() "
            f"returns. Received: seed of shape {tuple(seed.shape)}."
        )
    if isinstance(seed, (tuple, list)):
        if len(seed) != 2:
            raise ValueError(
                f"A tuple `seed` must be a (seed, counter) pair of 2 integers. Received: seed={seed!r} "
                f"({len(seed)} elements). Pass an int, a SeedGenerator, or a pair such as (42, 0)."
            )
        for part in seed:
            _check_int_seed(part, "kerasish.random (in the seed pair)")
        return
    raise ValueError(
        "Argument `seed` must be an integer, an instance of `kerasish.random.SeedGenerator`, a (seed, counter) "
        f"pair or None. Received: seed={seed!r} (of type {type(seed).__name__}). Example: seed=42, or "
        "seed=SeedGenerator(42) for different numbers on each call."
    )


def _torch_seed(seed: SeedLike) -> int:
    if seed is None:
        first, second = global_seed_generator()._advance(ordered=False)  # as Keras draws its global seeds
    elif isinstance(seed, SeedGenerator):
        first, second = seed._advance()
    elif isinstance(seed, torch.Tensor):
        # host sync: torch.Generator.manual_seed takes a Python int.
        first, second = (int(v) for v in seed.tolist())
    elif isinstance(seed, (tuple, list)):
        first, second = int(seed[0]), int(seed[1])
    else:
        first, second = int(seed), 0
    return (first + second) & _MASK


def make_generator(seed: SeedLike, device: torch.device) -> Optional[torch.Generator]:
    """A `torch.Generator` on `device` for one draw; a SeedGenerator (or the global one) advances.

    Call it after every other check of the draw's arguments, so a refused call leaves the
    state alone. The meta device (shape inference) has no generators: None, nothing advances.
    """
    check_seed(seed)
    device = torch.device(device)
    if device.type == "meta":
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(_torch_seed(seed))
    return generator
