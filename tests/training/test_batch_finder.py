"""find_batch_size: a CPU memory budget is respected, the model is restored, CUDA OOM is found and freed."""

import copy
import math

import numpy as np
import pytest
import torch

from kerasish.layers import Dense
from kerasish.models import Sequential
from kerasish.training.batch_finder import find_batch_size

MiB = 2**20


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def data(n=2048, features=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)).astype("float32"), rng.integers(0, 10, n)


def mlp(features=32, hidden=64, device="cpu"):
    model = Sequential([Dense(hidden, activation="relu", input_shape=(features,)), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], device=device)
    return model


def measured_peak(model, x, y, size):
    """The test's own count: weights, gradients and Adam's moments, plus every distinct
    non-parameter storage autograd saves during a step, plus the largest of them once more."""
    params = list(model.parameters())
    static = 4 * sum(p.numel() * p.element_size() for p in params)  # weight, gradient, 2 moments
    own = {p.untyped_storage().data_ptr() for p in params}
    saved = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in own:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    probe = copy.deepcopy(model)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        probe.train_on_batch(x[:size], y[:size])
    return static + sum(saved.values()) + max(saved.values())


@pytest.mark.parametrize("budget_mib", [0.5, 1.0])
def test_cpu_result_respects_the_budget(budget_mib, capsys):
    x, y = data()
    model = mlp()
    budget = int(budget_mib * MiB)
    size = find_batch_size(model, x, y, memory_budget=budget)
    found = math.ceil(size / 0.9)
    assert 16 < size < 2048
    assert measured_peak(model, x, y, found) <= budget
    assert measured_peak(model, x, y, int(found * 1.1)) > budget  # and not far below the budget
    out = capsys.readouterr().out
    assert f"using {size} (margin 0.9)" in out and "The learning rate was not scaled" in out


def test_more_budget_gives_larger_batches_up_to_max_batch_size():
    x, y = data()
    model = mlp()
    sizes = [find_batch_size(model, x, y, memory_budget=b, verbose=0) for b in (MiB // 2, MiB, 2 * MiB)]
    assert sizes[0] < sizes[1] < sizes[2]
    assert find_batch_size(model, x, y, memory_budget=2**40, max_batch_size=300, margin=0.5, verbose=0) == 150
    assert find_batch_size(model, x[:100], y[:100], memory_budget=2**40, verbose=0) == 90  # every sample fits


def test_model_and_optimizer_are_restored_bitwise():
    x, y = data()
    model = mlp()
    model.fit(x[:256], y[:256], epochs=1, batch_size=64, verbose=0)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = copy.deepcopy(model.optimizer.torch_optimizer.state_dict())
    iterations, lr = int(model.optimizer.iterations), float(model.optimizer.learning_rate)  # values, not the variables
    rng = torch.get_rng_state()

    find_batch_size(model, x, y, memory_budget=MiB, verbose=0)

    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k]), k
    after = model.optimizer.torch_optimizer.state_dict()
    assert after["param_groups"] == optimizer["param_groups"]
    for i, state in optimizer["state"].items():
        for k, v in state.items():
            assert torch.equal(after["state"][i][k], v), (i, k)
    assert (int(model.optimizer.iterations), float(model.optimizer.learning_rate)) == (iterations, lr)
    assert iterations == 4 and lr == np.float32(0.001)
    assert torch.equal(torch.get_rng_state(), rng)


@pytest.mark.parametrize("kwargs,error,message", [
    ({}, ValueError, r"on the cpu needs memory_budget \(bytes\).*memory_budget=4 \* 1024\*\*3"),
    ({"memory_budget": MiB, "start": 0}, ValueError, "start must be an integer >= 1, received start=0"),
    ({"memory_budget": MiB, "start": 4, "max_batch_size": 2}, ValueError,
     "max_batch_size must be None or an integer >= start=4"),
    ({"memory_budget": MiB, "margin": 0}, ValueError, r"margin must be a number in \(0, 1\]"),
    ({"memory_budget": 0}, ValueError, "memory_budget must be None or a positive number of bytes"),
    ({"memory_budget": MiB, "steps": 0}, ValueError, "steps must be an integer >= 1"),
    ({"memory_budget": MiB, "start": 5000}, ValueError, "start=5000 is larger than the 2048 samples"),
    ({"memory_budget": 1000}, RuntimeError, r"even batch_size=2 does not train within memory_budget=1000 bytes"),
])
def test_errors(kwargs, error, message):
    x, y = data()
    model = mlp()
    with pytest.raises(error, match=message):
        find_batch_size(model, x, y, **kwargs)
    assert model.optimizer.iterations == 0


def test_refuses_a_data_loader_and_an_uncompiled_model():
    x, y = data(64)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)))
    with pytest.raises(TypeError, match="needs x as arrays or tensors.*A DataLoader fixes its own batch size"):
        find_batch_size(mlp(), loader, memory_budget=MiB)
    model = Sequential([Dense(10, input_shape=(32,))])
    with pytest.raises(RuntimeError, match=r"compile your model before calling find_batch_size\(\)"):
        find_batch_size(model, x, y, memory_budget=MiB)


class RunsOutAbove(Sequential):
    """Stands in for a GPU: a step over `limit` samples damages the weights, then runs out of memory."""

    limit = 100

    def train_step(self, data):
        x, _ = data
        if x.shape[0] > self.limit:
            with torch.no_grad():
                for p in self.parameters():
                    p.add_(1.0)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return super().train_step(data)


def test_out_of_memory_is_caught_searched_and_undone():
    x, y = data()
    model = RunsOutAbove([Dense(8, activation="relu", input_shape=(32,)), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    weights = [v.clone() for v in model.state_dict().values()]
    size = find_batch_size(model, x, y, start=3, memory_budget=2**40, verbose=0)
    # Doubling 3, 6, ..., 96 passes and 192 fails; the search stops within ~3 % of the limit of 100.
    assert math.floor(0.9 * 97) <= size <= math.floor(0.9 * 100)
    for got, want in zip(model.state_dict().values(), weights):
        assert torch.equal(got, want)
    assert model.optimizer.iterations == 0


def test_an_error_that_is_not_out_of_memory_propagates_and_the_model_is_restored():
    x, y = data()
    model = RunsOutAbove([Dense(8, input_shape=(32,)), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    weights = [v.clone() for v in model.state_dict().values()]

    def broken(data):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        raise RuntimeError("shape mismatch in the user's step")

    model.train_step = broken  # this instance's step (the class's is the custom one above)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        find_batch_size(model, x, y, memory_budget=2**40, verbose=0)
    for got, want in zip(model.state_dict().values(), weights):
        assert torch.equal(got, want)


@pytest.mark.gpu
def test_cuda_finds_the_out_of_memory_limit_within_the_margin():
    """The allocator is capped at 2 GiB, so out-of-memory comes at a batch size of a few thousand."""
    device = torch.device("cuda", torch.cuda.current_device())  # torch's memory-fraction call needs an index
    x, y = data(n=60000, features=1024)
    model = Sequential([Dense(4096, activation="relu", input_shape=(1024,)), Dense(4096, activation="relu"),
                        Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device="cuda")
    torch.cuda.empty_cache()
    cap = 2 * 2**30
    torch.cuda.set_per_process_memory_fraction(cap / torch.cuda.get_device_properties(device).total_memory, device)
    try:
        size = find_batch_size(model, x, y, start=64, margin=0.9)
        found = math.ceil(size / 0.9)
        model.train_on_batch(x[:found], y[:found])  # the limit it found trains
        too_big = int(found * 1.08)
        with pytest.raises(torch.cuda.OutOfMemoryError):
            model.train_on_batch(x[:too_big], y[:too_big])  # and 8 % more does not: within the margin
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)
        torch.cuda.empty_cache()
    assert 256 < size < 60000
    assert find_batch_size(model, x[:256], y[:256], start=64, verbose=0) == 230  # memory was freed: all 256 fit


def test_fit_batch_size_auto_on_the_cpu_asks_for_a_memory_budget():
    import kerasish

    model = kerasish.Sequential([kerasish.Input((4,)), kerasish.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", device="cpu")
    before = model.get_weights()
    with pytest.raises(ValueError, match="memory_budget"):
        model.fit(np.zeros((16, 4), "float32"), np.zeros((16, 1), "float32"), batch_size="auto", verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="batch_size='auto'"):
        model.fit(np.zeros((16, 4), "float32"), np.zeros((16, 1), "float32"), batch_size="big", verbose=0)
