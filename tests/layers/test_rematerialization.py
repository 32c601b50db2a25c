"""RematScope / remat: gradient checkpointing chosen per layer, held against Keras 3 (torch backend).

Each mode is checked the way a user sees it: the same outputs and gradients as without
rematerialization (and as Keras's), and the layer's `call` really running again during
the backward pass (counted), for the same layers Keras recomputes.
"""

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers
from tests.keras_parity import assert_close, keras_module


@pytest.fixture(scope="module")
def keras():
    return keras_module()


def _counting(lib, calls):
    class Count(lib.layers.Layer):
        def call(self, x):
            calls.append(self.name)
            return lib.ops.sin(x) * 2

    return Count


def _recomputed(lib, scope_args, x):
    """Names of the layers whose call ran during the backward pass of c2(c1(x))."""
    calls = []
    Count = _counting(lib, calls)
    with lib.RematScope(*scope_args[:1], **scope_args[1]):
        c1, c2 = Count(name="c1"), Count(name="c2")
    x = torch.tensor(x, requires_grad=True)
    y = c2(c1(x))
    calls.clear()
    y.sum().backward()
    return calls, x.grad


@pytest.mark.parametrize("scope_args", [
    ("full", {}),
    ("larger_than", {"output_size_threshold": 10}),
    ("larger_than", {"output_size_threshold": 100}),
    ("list_of_layers", {"layer_names": ["c1"]}),
    ("activations", {}),
    (None, {}),
])
def test_each_mode_recomputes_the_layers_keras_recomputes(keras, scope_args):
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    ours, our_grad = _recomputed(kerasish, scope_args, x)
    theirs, their_grad = _recomputed(keras, scope_args, x)
    assert ours == theirs
    assert_close(our_grad, their_grad)
    expected = {"full": ["c2", "c1"], "larger_than": ["c2", "c1"], "list_of_layers": ["c1"]}
    if scope_args[1].get("output_size_threshold") == 100:  # 20 elements per output: nothing recomputed
        assert ours == []
    else:
        assert ours == expected.get(scope_args[0], [])


def _dense_model(lib, remat):
    import contextlib

    scope = lib.RematScope("full") if remat else contextlib.nullcontext()
    with scope:
        inputs = lib.Input((5,))
        hidden = lib.layers.Dense(8, activation="relu")(inputs)
        outputs = lib.layers.Dense(3)(hidden)
        return lib.Model(inputs, outputs)


def test_full_mode_outputs_and_gradients_equal_keras_and_no_remat(keras):
    x = torch.tensor(np.random.default_rng(1).normal(size=(6, 5)).astype("float32"))
    theirs = _dense_model(keras, remat=True)
    ours = _dense_model(kerasish, remat=True)
    plain = _dense_model(kerasish, remat=False)
    ours.set_weights(theirs.get_weights())
    plain.set_weights(theirs.get_weights())
    outs = []
    for model in (theirs, ours, plain):
        y = model(x)
        y.square().sum().backward()
        outs.append((y, [w.value.grad for w in model.trainable_weights]))
    assert_close(outs[1][0], outs[0][0])
    assert_close(outs[1][1], outs[0][1])
    assert_close(outs[1][0], outs[2][0])
    assert_close(outs[1][1], outs[2][1])


def test_activations_mode_recomputes_only_the_activation(keras):
    for lib in (kerasish, keras):
        seen = []

        def act(t, seen=seen, lib=lib):
            seen.append(1)
            return lib.ops.relu(t)

        with lib.RematScope("activations"):
            dense = lib.layers.Dense(3, activation=act)
        x = torch.ones(2, 4, requires_grad=True)
        y = dense(x)
        before = len(seen)
        y.sum().backward()
        assert (before, len(seen)) == (1, 2), lib.__name__
        assert dense.activation is act  # put back after the call


class _Block(layers.Layer):
    """Dropout inside: its recomputed mask must be the forward pass's one, with `training` inherited."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(16)
        self.drop = layers.Dropout(0.5)

    def call(self, x):
        self.add_loss(x.abs().mean())
        return self.drop(self.dense(x))


def test_recomputation_replays_training_flag_and_random_state_and_adds_no_loss():
    x = torch.randn(8, 4)
    with kerasish.RematScope("full"):
        remat_block = _Block()
    plain_block = _Block()
    remat_block(x)
    plain_block(x)
    plain_block.set_weights(remat_block.get_weights())
    grads = []
    for block in (remat_block, plain_block):
        torch.manual_seed(3)
        y = block(x, training=True)
        assert (y == 0).any()  # dropout really drops here (a replay without training=True would not)
        y.square().sum().backward()
        grads.append([w.grad.clone() for w in block.trainable_weights])
        assert len(block.losses) == 1  # the rerun in backward added none
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_no_checkpoint_without_gradients():
    calls = []
    Count = _counting(kerasish, calls)
    with kerasish.RematScope("full"):
        layer = Count()
    with torch.no_grad():
        layer(torch.ones(2, 3))
    y = layer(torch.ones(2, 3, requires_grad=True))
    assert len(calls) == 2
    y.sum().backward()
    assert len(calls) == 3  # recomputed only where a backward pass follows


def test_fit_under_remat_scope_trains_as_without(monkeypatch):
    from kerasish.layers import rematerialization

    checkpointed = []
    real = rematerialization._checkpoint.checkpoint
    monkeypatch.setattr(rematerialization._checkpoint, "checkpoint",
                        lambda *a, **k: checkpointed.append(1) or real(*a, **k))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 5)).astype("float32"), rng.normal(size=(32, 3)).astype("float32")
    histories = []
    for remat in (True, False):
        kerasish.utils.set_random_seed(7)
        model = _dense_model(kerasish, remat)
        model.compile(optimizer="sgd", loss="mse")
        histories.append(model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False).history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-6)
    # Both Dense layers, 4 steps, 2 epochs; nothing while evaluating. The Model made in the scope is not
    # checkpointed as a whole, where Keras's would be (a documented difference): 16, not 24.
    assert len(checkpointed) == 2 * 4 * 2


def test_scope_is_read_at_construction_and_nests(keras):
    for lib in (kerasish, keras):
        with lib.RematScope("full"):
            outer = lib.layers.Dense(2)
            with lib.RematScope(None):
                off = lib.layers.Dense(2)
        after = lib.layers.Dense(2)
        assert lib.RematScope is not None
        assert outer._remat_mode.mode == "full"
        assert getattr(off._remat_mode, "mode", None) is None
        assert after._remat_mode is None


def test_remat_function_matches_keras(keras):
    x = np.linspace(-1, 1, 6).astype("float32")
    results = []
    for lib in (kerasish, keras):
        seen = []

        def f(t, seen=seen):
            seen.append(1)
            return torch.sin(t) * t

        t = torch.tensor(x, requires_grad=True)
        out = lib.remat(f)(t)
        out.sum().backward()
        results.append((out.detach(), t.grad, len(seen)))
    assert_close(results[0][0], results[1][0])
    assert_close(results[0][1], results[1][1])
    assert results[0][2] == results[1][2] == 2


def test_errors(keras):
    with pytest.raises(ValueError, match="Invalid mode 'partial'. Supported modes are: 'full', 'activations'"):
        kerasish.RematScope("partial")
    with pytest.raises(ValueError, match="Invalid mode 'partial'"):
        keras.RematScope("partial")
    with pytest.raises(TypeError, match="remat\\(\\) expects a callable .* received 3 \\(type int\\)"):
        kerasish.remat(3)


def test_activations_mode_with_a_module_activation():
    class CountingReLU(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, t):
            self.calls += 1
            return torch.relu(t)

    act = CountingReLU()
    with kerasish.RematScope("activations"):
        dense = layers.Dense(3, activation=act)
    y = dense(torch.ones(2, 4, requires_grad=True))
    y.sum().backward()
    assert act.calls == 2
    assert dense.activation is act and "activation" not in dense.__dict__


def test_a_seeded_dropout_reruns_with_the_forward_mask():
    # Torch's checkpoint restores torch's generators only; a Dropout(seed=...) draws from its SeedGenerator,
    # which the forward pass moved on: the rerun must draw the forward's mask, or the gradients belong to
    # another mask (Keras 3.15 has that bug: its gradient is inconsistent here).
    class Block(kerasish.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.drop = kerasish.layers.Dropout(0.5, seed=7)

        def call(self, x, training=None):
            return self.drop(x * x, training=training)

    with kerasish.RematScope("full"):
        block = Block()
    for _ in range(3):  # the generator moves on between calls; each rerun matches its own forward pass
        x = torch.linspace(0.1, 1, 64, requires_grad=True)
        out = block(x, training=True)
        out.sum().backward()
        kept = out.detach() != 0
        assert 0 < int(kept.sum()) < 64
        assert torch.allclose(x.grad[kept], 4 * x.detach()[kept]) and bool((x.grad[~kept] == 0).all())


def test_entering_the_same_scope_object_twice_closes_it_on_the_way_out():
    scope, names = kerasish.RematScope("full"), kerasish.name_scope("blk")
    with scope:
        with scope:
            assert kerasish.layers.Dense(2)._remat_mode is not None
        assert kerasish.layers.Dense(2)._remat_mode is not None
    assert kerasish.layers.Dense(2)._remat_mode is None
    with names:
        with names:
            inner = kerasish.Variable(1.0, name="v")
    assert (inner.path, kerasish.Variable(1.0, name="v").path) == ("blk/blk/v", "v")  # as Keras's
