"""The fast tree walks behind `weights`, `trainable_weights` and `zero_grad` give torch's and the
previous implementation's exact lists, and see every change to the tree at once (no cache)."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import kerasish
from kerasish import layers
from kerasish.layers.layer import Layer
from kerasish.layers.weight_walk import buffers_of, parameters_of


def reference_weights(layer):
    """The walk as it was written with torch's generators (the oracle)."""
    out, seen = [], set()
    own = list(layer._parameters.values())
    for p in [p for p in own if p is not None and p.requires_grad] + \
             [p for p in own if p is not None and not p.requires_grad]:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    for child in layer.children():
        ws = child.weights if isinstance(child, Layer) else \
            list(child.parameters()) + [b for b in child.buffers() if b.is_floating_point()]
        for w in ws:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
    for b in layer._buffers.values():
        if b is not None and b.is_floating_point() and id(b) not in seen:
            seen.add(id(b))
            out.append(b)
    return out


class Orthogonal(nn.Module):
    def forward(self, w):
        return w


def models():
    seq = kerasish.Sequential([layers.Input((6,)), layers.Dense(8), layers.BatchNormalization(),
                               layers.Dropout(0.1), layers.Dense(3)])
    yield "sequential+bn", seq
    inp = kerasish.Input((5, 4))
    shared = layers.Dense(4)
    h = shared(inp)
    h = shared(h)
    h = layers.LSTM(6)(h)
    yield "functional shared+lstm", kerasish.Model(inp, layers.Dense(2)(h))
    inp = kerasish.Input((7, 8))
    att = layers.MultiHeadAttention(num_heads=2, key_dim=4)(inp, inp)
    yield "attention", kerasish.Model(inp, layers.LayerNormalization()(att))
    torch_mix = kerasish.Sequential([layers.Input((4,)), nn.Linear(4, 5), nn.BatchNorm1d(5), layers.Dense(2)])
    yield "torch modules inside", torch_mix
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    parametrize.register_parametrization(net[0], "weight", Orthogonal())
    net[2].bias = None
    net.add_module("again", net[0])  # one module registered twice
    yield "wrapped torch net", kerasish.Model(net)
    outer = kerasish.Sequential([layers.Input((6,)), seq, layers.Dense(1)])
    yield "nested", outer


@pytest.mark.parametrize("name,model", list(models()), ids=[n for n, _ in models()])
def test_weights_equal_the_reference_walk_and_torch(name, model):
    for m in model.modules():
        assert parameters_of(m) == list(m.parameters())
        assert buffers_of(m) == list(m.buffers())
        if isinstance(m, Layer):
            assert [id(w) for w in m.weights] == [id(w) for w in reference_weights(m)]


def test_every_change_is_seen_at_once():
    model = kerasish.Sequential([layers.Input((3,)), layers.Dense(4), layers.Dense(2)])
    first = model.trainable_weights
    assert len(first) == 4
    model.layers[0].trainable = False
    assert len(model.trainable_weights) == 2
    model.layers[0].trainable = True
    model.add(layers.Dense(5))
    assert len(model.trainable_weights) == 6
    dense = model.layers[1]
    dense.extra = nn.Parameter(torch.zeros(2))
    assert any(w is dense.extra for w in model.weights)
    del dense.extra
    assert len(model.trainable_weights) == 6
    dense.bias = None
    assert len(model.trainable_weights) == 5


def test_zero_grad_clears_every_gradient_like_torch():
    model = kerasish.Sequential([layers.Input((3,)), nn.Linear(3, 4), layers.Dense(2)])
    model(torch.ones(2, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model(torch.ones(2, 3)).sum().backward()
    model.zero_grad(set_to_none=False)  # torch's own form: zeros kept in place
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())


class OwnWalk(nn.Module):
    """A module that lists its parameters its own way: torch's methods must be used for it."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.b = nn.Linear(2, 2)

    def parameters(self, recurse=True):
        yield from self.b.parameters()

    def forward(self, x):
        return self.b(x)


def test_a_module_with_its_own_walk_is_walked_by_its_own_methods():
    m = OwnWalk()
    assert parameters_of(m) == list(m.b.parameters())
    model = kerasish.Sequential([layers.Input((2,)), m])
    assert [id(w) for w in model.weights] == [id(w) for w in reference_weights(model)]


class SeesWeights(kerasish.Sequential):
    """A custom step that records what `trainable_weights` held at each batch."""

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        loss.backward()
        weights = self.trainable_weights
        self.seen.append([id(w) for w in weights])
        self.optimizer.apply([w.grad for w in weights], weights)
        return {"loss": loss}


def seeing_model():
    model = SeesWeights([layers.Input((3,)), layers.Dense(4), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.seen = []
    return model


class AtBatch(kerasish.callbacks.Callback):
    def __init__(self, batch, change):
        super().__init__()
        self.batch, self.change = batch, change

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.batch:
            self.change(self.model)


def fit(model, change):
    x, y = torch.randn(32, 3), torch.randn(32, 1)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False, callbacks=[AtBatch(2, change)])


def test_a_custom_step_sees_a_layer_frozen_mid_fit():
    model = seeing_model()
    fit(model, lambda m: setattr(m.layers[0], "trainable", False))
    assert [len(s) for s in model.seen] == [4, 4, 4, 2, 2, 2, 2, 2]


def test_a_custom_step_sees_a_bias_removed_mid_fit():
    model = seeing_model()
    fit(model, lambda m: setattr(m.layers[1], "bias", None))
    assert [len(s) for s in model.seen] == [4, 4, 4, 3, 3, 3, 3, 3]


def test_a_fit_after_a_failed_one_sees_the_same_weights_every_batch():
    model = seeing_model()

    def boom(m):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        fit(model, boom)
    fit(model, lambda m: None)
    assert all(s == model.seen[0] for s in model.seen)


def test_a_custom_step_sees_a_kernel_replaced_mid_fit():
    model = seeing_model()
    with pytest.raises(ValueError, match="not built for"):
        fit(model, lambda m: setattr(m.layers[0], "kernel", nn.Parameter(torch.zeros(3, 4))))
    assert len(model.seen) == 4 and model.seen[3] != model.seen[2]


class Blocks(Layer):
    """Plain torch modules inside a layer: a ModuleList, a BatchNorm with buffers, a Linear."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(3, 3), nn.Linear(3, 3)])
        self.bn = nn.BatchNorm1d(3)

    def call(self, x):
        for b in self.blocks:
            x = b(x)
        return self.bn(x)


def blocks_model():
    model = SeesWeights([layers.Input((3,)), Blocks(), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.seen = []
    return model


# Changes torch fires no registration hook for: a walk that cached across batches would miss them.
@pytest.mark.parametrize("change,counts", [
    (lambda m: m.layers[0].blocks.__delitem__(1), [8, 8, 8, 6, 6, 6, 6, 6]),
    (lambda m: setattr(m.layers[0].blocks[0], "bias", None), [8, 8, 8, 7, 7, 7, 7, 7]),
], ids=["ModuleList del", "plain bias None"])
def test_a_custom_step_sees_changes_torch_does_not_announce(change, counts):
    model = blocks_model()
    fit(model, change)
    assert [len(s) for s in model.seen] == counts


def test_weights_follow_buffers_rebound_by_a_dtype_round_trip_and_a_flipped_requires_grad():
    model = blocks_model()
    model.layers[0].bn.double()
    model.layers[0].bn.float()
    assert [id(w) for w in model.weights] == [id(w) for w in reference_weights(model)]
    model.layers[1].kernel.requires_grad_(False)  # its own weights: trainable first, so the order changes
    assert [id(w) for w in model.layers[1].weights] == [id(model.layers[1].bias), id(model.layers[1].kernel)]
