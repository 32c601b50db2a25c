"""kerasish.random against Keras 3's keras.random: moments, dtypes, shapes, seeding contract, errors."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

import kerasish
from kerasish import random as kr
from tests.keras_parity import keras_module

N = 200_000
LOGITS = np.log(np.array([[0.2, 0.3, 0.5]], dtype="float32"))


def _columns(n: int) -> np.ndarray:
    return np.broadcast_to(np.arange(5, dtype="float32"), (n, 5)).copy()


# name -> (call(random_module, seed) giving samples whose moments we check, expected mean, expected std)
DISTRIBUTIONS = {
    "normal": (lambda r, s: r.normal((N,), mean=1.5, stddev=2.0, seed=s), 1.5, 2.0),
    "uniform": (lambda r, s: r.uniform((N,), minval=-1.0, maxval=3.0, seed=s), 1.0, 4 / math.sqrt(12)),
    "randint": (lambda r, s: r.randint((N,), 0, 10, seed=s), 4.5, math.sqrt(99 / 12)),
    # Truncated at 2 sigma: the standard deviation shrinks to 0.8796 sigma.
    "truncated_normal": (lambda r, s: r.truncated_normal((N,), mean=1.0, stddev=2.0, seed=s), 1.0, 2 * 0.87963),
    "gamma": (lambda r, s: r.gamma((N,), alpha=3.0, seed=s), 3.0, math.sqrt(3.0)),
    "beta": (lambda r, s: r.beta((N,), alpha=2.0, beta=5.0, seed=s), 2 / 7, math.sqrt(10 / (49 * 8))),
    "binomial": (lambda r, s: r.binomial((N,), counts=20, probabilities=0.3, seed=s), 6.0, math.sqrt(20 * 0.21)),
    # Class 0, 1, 2 with probabilities 0.2, 0.3, 0.5.
    "categorical": (lambda r, s: r.categorical(LOGITS, N, seed=s), 1.3, math.sqrt(0.61)),
    "dropout": (lambda r, s: r.dropout(torch.ones(N), rate=0.25, seed=s), 1.0, math.sqrt(1 / 3)),
    # Each row of 0..4 is permuted on its own: column 0 is uniform over 0..4.
    "shuffle": (lambda r, s: r.shuffle(torch.as_tensor(_columns(N)), axis=1, seed=s)[:, 0], 2.0, math.sqrt(2.0)),
}


def _moments(x) -> tuple:
    x = np.asarray(torch.as_tensor(x).detach().cpu().double())
    return x.mean(), x.std()


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_moments_match_the_distribution_and_keras(name):
    keras = keras_module()
    draw, mean, std = DISTRIBUTIONS[name]
    ours_mean, ours_std = _moments(draw(kr, 1))
    # Another seed for Keras, so the comparison is between two independent samples.
    keras_mean, keras_std = _moments(draw(keras.random, 2))
    tol = 0.015 * std  # about 7 standard errors at this sample size
    assert abs(ours_mean - mean) < tol and abs(ours_std - std) < tol, (ours_mean, ours_std)
    assert abs(ours_mean - keras_mean) < tol and abs(ours_std - keras_std) < tol, (keras_mean, keras_std)


X = np.arange(24, dtype="float32").reshape(4, 6)

DTYPE_CASES = [
    ("normal", lambda r: r.normal((2, 3), seed=1)),
    ("normal f16", lambda r: r.normal([2, 3], dtype="float16", seed=1)),
    ("normal bf16 scalar", lambda r: r.normal((), dtype="bfloat16", seed=1)),
    ("normal f64 empty", lambda r: r.normal((0, 3), dtype="float64", seed=1)),
    ("uniform", lambda r: r.uniform((3,), seed=1)),
    ("uniform scalar f64", lambda r: r.uniform((), dtype="float64", seed=1)),
    ("randint", lambda r: r.randint((2, 3), 0, 5, seed=1)),
    ("randint int64", lambda r: r.randint((4,), -3, 5, dtype="int64", seed=1)),
    ("randint uint8", lambda r: r.randint((4,), 0, 255, dtype="uint8", seed=1)),
    ("truncated_normal", lambda r: r.truncated_normal((2, 3), seed=1)),
    ("truncated_normal f16", lambda r: r.truncated_normal((5,), dtype="float16", seed=1)),
    ("truncated_normal scalar", lambda r: r.truncated_normal((), seed=1)),
    ("dropout", lambda r: r.dropout(torch.ones(4, 5), 0.5, seed=1)),
    ("dropout f16 noise_shape", lambda r: r.dropout(torch.ones(4, 5, dtype=torch.float16), 0.5, (None, 1), seed=1)),
    ("dropout int", lambda r: r.dropout(torch.ones(4, 5, dtype=torch.int32), 0.5, seed=1)),
    ("dropout rate 1", lambda r: r.dropout(torch.ones(4, 5, dtype=torch.int32), 1.0, seed=1)),
    ("shuffle", lambda r: r.shuffle(torch.arange(5), seed=1)),
    ("shuffle list", lambda r: r.shuffle([1, 2, 3], seed=1)),
    ("shuffle axis 1", lambda r: r.shuffle(torch.ones(2, 3, 4), axis=1, seed=1)),
    ("categorical", lambda r: r.categorical(torch.zeros(2, 3), 4, seed=1)),
    ("categorical int64", lambda r: r.categorical(torch.zeros(2, 3), 4, dtype="int64", seed=1)),
    ("gamma", lambda r: r.gamma((2, 3), 2.0, seed=1)),
    ("gamma f64", lambda r: r.gamma((2, 3), 2.0, dtype="float64", seed=1)),
    ("beta", lambda r: r.beta((2, 3), 2.0, 3.0, seed=1)),
    ("beta f16", lambda r: r.beta((4,), 2.0, 3.0, dtype="float16", seed=1)),
    ("binomial", lambda r: r.binomial((2, 3), 5, 0.5, seed=1)),
    ("binomial int32", lambda r: r.binomial((2, 3), 5.0, 0.5, dtype="int32", seed=1)),
]


@pytest.mark.parametrize("label,draw", DTYPE_CASES, ids=[c[0] for c in DTYPE_CASES])
def test_dtype_and_shape_match_keras(label, draw):
    keras = keras_module()
    ours, theirs = draw(kr), draw(keras.random)
    assert isinstance(ours, torch.Tensor)
    assert ours.dtype == theirs.dtype and tuple(ours.shape) == tuple(theirs.shape)
    assert ours.device == torch.device("cpu")


VALUE_CASES = {
    "normal": lambda r: r.normal((64,), mean=1.0, stddev=3.0, seed=7),
    "uniform": lambda r: r.uniform((64,), minval=-2.0, maxval=3.0, seed=7),
    "randint": lambda r: r.randint((64,), 0, 100, seed=7),
    "truncated_normal": lambda r: r.truncated_normal((64, 3), dtype="float16", seed=7),
    "dropout": lambda r: r.dropout(torch.as_tensor(X), 0.3, noise_shape=(None, 1), seed=7),
    "shuffle": lambda r: r.shuffle(torch.as_tensor(X), axis=1, seed=7),
    "categorical": lambda r: r.categorical(torch.as_tensor(X[:, :4]) / 4, 10, seed=7),
    "gamma": lambda r: r.gamma((64,), 2.5, seed=7),
    "beta": lambda r: r.beta((64,), 2.0, 3.0, seed=7),
    "binomial": lambda r: r.binomial((64,), 10, 0.3, seed=7),
}


@pytest.mark.parametrize("name", sorted(VALUE_CASES))
def test_an_int_seed_gives_kerass_own_numbers(name):
    """Not required by Keras's contract, but kept: the same seeded torch draw as Keras's torch backend."""
    keras = keras_module()
    ours, theirs = VALUE_CASES[name](kr), VALUE_CASES[name](keras.random)
    assert torch.equal(ours, theirs)


def test_a_seed_generator_gives_kerass_sequence():
    keras = keras_module()
    ours, theirs = kr.SeedGenerator(11), keras.random.SeedGenerator(11)
    for _ in range(3):
        assert torch.equal(kr.uniform((8,), seed=ours), keras.random.uniform((8,), seed=theirs))


def test_truncated_normal_stays_within_two_standard_deviations():
    # Keras's torch backend lets about 4 in a million values out; 2M draws would show some.
    x = kr.truncated_normal((2_000_000,), mean=1.0, stddev=0.5, seed=1)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 2.0


def test_int_seed_is_stateless():
    for name, draw in VALUE_CASES.items():
        assert torch.equal(draw(kr), draw(kr)), name
    assert not torch.equal(kr.normal((8,), seed=1), kr.normal((8,), seed=2))
    assert torch.equal(kr.normal((8,), seed=np.int64(5)), kr.normal((8,), seed=5))


def test_seed_generator_advances_and_its_sequence_repeats():
    gen = kr.SeedGenerator(3)
    first = [kr.normal((4,), seed=gen), kr.randint((4,), 0, 1000, seed=gen), kr.shuffle(np.arange(10), seed=gen)]
    assert not torch.equal(first[0], kr.normal((4,), seed=gen))
    again = kr.SeedGenerator(3)
    second = [kr.normal((4,), seed=again), kr.randint((4,), 0, 1000, seed=again),
              kr.shuffle(np.arange(10), seed=again)]
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_next_returns_the_seed_pair_and_a_pair_replays_that_draw():
    gen = kr.SeedGenerator(42)
    pair = gen.next()
    assert pair.tolist() == [42, 0] and gen.next().tolist() == [42, 1]
    replay = kr.SeedGenerator(42)
    replay.next()
    expected = kr.normal((5,), seed=replay)
    assert torch.equal(kr.normal((5,), seed=(42, 1)), expected)
    assert torch.equal(kr.normal((5,), seed=torch.tensor([42, 1])), expected)
    # (seed, 0) is the int seed.
    assert torch.equal(kr.normal((5,), seed=[9, 0]), kr.normal((5,), seed=9))


def test_unordered_next_jumps_as_kerass_global_generator():
    gen = kr.SeedGenerator(10)
    assert gen.next(ordered=False).tolist() == [10, 0]
    assert gen.next().tolist() == [11 * 5387 % 933199, 5387]


def test_set_random_seed_makes_seed_none_reproducible():
    kerasish.utils.set_random_seed(123)
    first = [kr.normal((4,)), kr.uniform((4,)), kr.dropout(torch.ones(20), 0.5)]
    assert not torch.equal(first[0], kr.normal((4,)))  # the global generator advances
    kerasish.utils.set_random_seed(123)
    second = [kr.normal((4,)), kr.uniform((4,)), kr.dropout(torch.ones(20), 0.5)]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    kerasish.utils.set_random_seed(124)
    assert not torch.equal(kr.normal((4,)), first[0])


def test_the_global_generator_takes_no_layer_name():
    kr.normal((2,))  # makes the global generator if needed
    assert kr.SeedGenerator(1).name == "seed_generator"
    assert kr.SeedGenerator(1).name == "seed_generator_1"


def test_a_global_generator_made_under_inference_mode_works_outside():
    kerasish.utils.set_random_seed(5)
    with torch.inference_mode():
        inside = kr.normal((3,))
    outside = kr.normal((3,))
    kerasish.utils.set_random_seed(5)
    assert torch.equal(kr.normal((3,)), inside) and torch.equal(kr.normal((3,)), outside)


def _draws(gen, n=3):
    return [kr.uniform((4,), seed=gen) for _ in range(n)]


def test_state_round_trips_through_state_dict():
    gen = kr.SeedGenerator(8)
    _draws(gen, 2)
    saved = {key: value.clone() for key, value in gen.state_dict().items()}  # as torch.save would keep it
    assert list(saved) == ["state"] and saved["state"].tolist() == [8, 2]
    expected = _draws(gen)
    fresh = kr.SeedGenerator(0)
    fresh.load_state_dict(saved)
    assert all(torch.equal(a, b) for a, b in zip(_draws(fresh), expected))


def test_state_written_in_place_inside_a_model_is_picked_up():
    class Holder(torch.nn.Module):
        def __init__(self, seed):
            super().__init__()
            self.dense = torch.nn.Linear(2, 2)
            self.seed_generator = kr.SeedGenerator(seed)

    source = Holder(1)
    _draws(source.seed_generator, 4)
    assert "seed_generator.state" in source.state_dict()
    assert all(p is not source.seed_generator.state for p in source.parameters())  # not trainable
    target = Holder(99)
    _draws(target.seed_generator, 1)
    with torch.no_grad():  # as kerasish's load_weights writes: copy_ into state_dict(keep_vars=True) entries
        for key, value in target.state_dict(keep_vars=True).items():
            value.copy_(source.state_dict()[key])
    assert all(torch.equal(a, b) for a, b in zip(_draws(target.seed_generator), _draws(source.seed_generator)))
    twin = copy.deepcopy(source.seed_generator)
    assert all(torch.equal(a, b) for a, b in zip(_draws(twin), _draws(source.seed_generator)))


def test_config_round_trips_through_json():
    gen = kr.SeedGenerator(seed=4, name="noise")
    config = json.loads(json.dumps(gen.get_config()))
    assert config == {"seed": 4, "name": "noise"}
    rebuilt = kr.SeedGenerator.from_config(config)
    assert rebuilt.get_config() == config
    assert torch.equal(kr.normal((3,), seed=rebuilt), kr.normal((3,), seed=kr.SeedGenerator(4)))
    assert kr.SeedGenerator().get_config()["seed"] is None


def test_shuffle_permutes_along_the_axis():
    x = torch.arange(24).reshape(2, 3, 4)
    for axis in (0, 1, 2, -1):
        out = kr.shuffle(x, axis=axis, seed=3)
        assert torch.equal(out.sort(dim=axis).values, x)  # x is sorted along every axis


def test_dropout_noise_shape_shares_the_mask_and_rate_edges():
    out = kr.dropout(torch.ones(6, 50), 0.5, noise_shape=(1, None), seed=2)
    assert torch.equal(out, out[:1].expand(6, 50))
    x = torch.arange(6.0)
    assert kr.dropout(x, 0.0) is x
    assert torch.equal(kr.dropout(x, 1), torch.zeros(6))


def test_parameters_broadcast_from_arrays():
    alpha = np.array([0.5, 50.0], dtype="float32")
    x = kr.gamma((20_000, 2), alpha, seed=1)
    np.testing.assert_allclose(x.mean(0).numpy(), alpha, rtol=0.05)
    y = kr.normal((20_000, 2), mean=torch.tensor([-5.0, 5.0]), seed=1)
    np.testing.assert_allclose(y.mean(0).numpy(), [-5.0, 5.0], atol=0.05)
    assert y.dtype == torch.float32


ERRORS = [
    (lambda: kr.normal((2,), seed=1.5), r"`seed` must be an integer.*Received: seed=1.5 \(of type float\)"),
    (lambda: kr.normal((2,), seed="42"), r"Received: seed='42' \(of type str\)"),
    (lambda: kr.normal((2,), seed=True), r"Received: seed=True \(of type bool\)"),
    (lambda: kr.normal((2,), seed=(1, 2, 3)), r"pair of 2 integers.*\(3 elements\)"),
    (lambda: kr.normal((2,), seed=(1, 2.0)), r"`seed` .* must be an integer.*seed=2.0"),
    (lambda: kr.normal((2,), seed=torch.tensor([1, 2, 3])), r"pair of shape \(2,\).*shape \(3,\)"),
    (lambda: kr.SeedGenerator(seed=1.5), r"`seed` of SeedGenerator must be an integer.*seed=1.5"),
    (lambda: kr.SeedGenerator(seed=2 ** 64), r"must fit in 64 bits"),
    (lambda: kr.SeedGenerator(1, backend="torch"), r"Unrecognized keyword arguments.*\['backend'\]"),
    (lambda: kr.normal(3), r"`normal` expects `shape` to be a tuple.*Pass shape=\(3,\)"),
    (lambda: kr.uniform((2, -1)), r"`uniform` expects `shape`.*non-negative.*-1 is not one"),
    (lambda: kr.normal((None, 2)), r"None is not one"),
    (lambda: kr.gamma("ab", 1.0), r"`gamma` expects `shape`.*'a' is not one"),
    (lambda: kr.normal((2,), dtype="int32"), r"`kerasish.random.normal` requires a floating point `dtype`"),
    (lambda: kr.uniform((2,), dtype="int32"), r"`kerasish.random.uniform` requires a floating point"),
    (lambda: kr.normal((2,), stddev=-1.0), r"`stddev` >= 0. Received: stddev=-1.0"),
    (lambda: kr.randint((2,), 5, 5), r"`minval` < `maxval`.*minval=5, maxval=5"),
    (lambda: kr.randint((2,), 6, 5), r"minval=6, maxval=5"),
    (lambda: kr.randint((2,), 0, 5, dtype="float32"), r"`kerasish.random.randint` requires an integer `dtype`"),
    (lambda: kr.randint((2,), 0.5, 5), r"`minval` to be an integer. Received: minval=0.5"),
    (lambda: kr.randint((2,), 0, 300, dtype="uint8"), r"\[0, 300\) do not fit dtype='uint8'"),
    (lambda: kr.dropout(torch.ones(3), 1.5), r"`rate` to be a number in \[0, 1\]. Received: rate=1.5"),
    (lambda: kr.dropout(torch.ones(3), -0.1), r"Received: rate=-0.1"),
    (lambda: kr.dropout(torch.ones(3), "half"), r"Received: rate='half'"),
    (lambda: kr.dropout(torch.ones(3, 4), 0.5, noise_shape=(3,)), r"one entry per input axis \(2\)"),
    (lambda: kr.dropout(torch.ones(3, 4), 0.5, noise_shape=(3, 2)), r"1, None or the input's size"),
    (lambda: kr.shuffle(torch.ones(3, 4), axis=2), r"`axis` to be an int in \[-2, 2\).*axis=2"),
    (lambda: kr.shuffle(torch.tensor(1.0)), r"A scalar cannot be shuffled"),
    (lambda: kr.categorical(torch.zeros(3), 2), r"`logits` should be a 2-D tensor.*shape \(3,\)"),
    (lambda: kr.categorical(torch.zeros(2, 3), -1), r"`num_samples` to be a non-negative int"),
    (lambda: kr.gamma((2,), -1.0), r"`gamma` expects `alpha` to be positive. Received: alpha=-1.0"),
    (lambda: kr.gamma((2,), torch.tensor([1.0, 0.0])), r"`alpha` to be positive"),
    (lambda: kr.gamma((2, 3), np.ones(2)), r"could not broadcast `alpha` of shape \(2,\) to shape=\(2, 3\)"),
    (lambda: kr.beta((2,), 1.0, 0.0), r"`beta` expects `beta` to be positive"),
    (lambda: kr.binomial((2,), 5, 1.5), r"`probabilities` to be in \[0, 1\]. Received: probabilities=1.5"),
    (lambda: kr.binomial((2,), 2.5, 0.5), r"`counts` to be a non-negative integer"),
]


@pytest.mark.parametrize("call,match", ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_bad_input_raises_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_refused_call_leaves_the_generator_alone():
    gen = kr.SeedGenerator(6)
    with pytest.raises(ValueError):
        kr.randint((2,), 3, 1, seed=gen)
    with pytest.raises(ValueError):
        kr.gamma((2,), -1.0, seed=gen)
    assert gen.next().tolist() == [6, 0]


def test_importable_both_ways():
    import kerasish.random as module

    assert kerasish.random is module is kr
    assert set(kr.__all__) == {"SeedGenerator", "normal", "uniform", "randint", "truncated_normal", "dropout",
                               "shuffle", "categorical", "gamma", "beta", "binomial"}


@pytest.mark.gpu
def test_cuda_draws_follow_the_device_and_need_no_host_sync():
    gen = kr.SeedGenerator(1).to("cuda")
    kerasish.config.set_device("cuda")
    kr.normal((4,), seed=gen)  # the first draw after .to() reads the moved buffer once (one host sync)
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = [kr.normal((4,), seed=gen), kr.dropout(torch.ones(8, device="cuda"), 0.5, seed=gen),
               kr.truncated_normal((4,), seed=gen)]
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert all(t.device.type == "cuda" for t in out)
    assert gen.state.device.type == "cuda" and gen.state.tolist() == [1, 4]
    replay = kr.SeedGenerator(1)
    assert torch.equal(kr.normal((4,), seed=replay).cpu(), kr.normal((4,), seed=(1, 0)).cpu())
