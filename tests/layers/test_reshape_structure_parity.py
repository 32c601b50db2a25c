"""Cropping1D/2D/3D, ZeroPadding1D/3D, UpSampling1D/3D, Permute, RepeatVector, Identity, TimeDistributed
and TorchModuleWrapper, held against Keras 3 (torch backend)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import kerasish
from kerasish.layers.convolutional import Conv2D
from kerasish.layers.core import Dense
from kerasish.layers.embedding import Embedding
from kerasish.layers.recurrent import LSTM
from kerasish.layers.reshaping_more import (
    Cropping1D, Cropping2D, Cropping3D, Permute, RepeatVector, UpSampling1D, UpSampling3D, ZeroPadding1D,
    ZeroPadding3D,
)
from kerasish.layers.structure import Identity, TimeDistributed, TorchModuleWrapper
from kerasish.utils.object_registration import register_builtin
from tests.keras_parity import assert_close, keras_module

register_builtin(Cropping1D, Cropping2D, Cropping3D, Permute, RepeatVector, UpSampling1D, UpSampling3D,
                 ZeroPadding1D, ZeroPadding3D, Identity, TimeDistributed, TorchModuleWrapper)

OURS = {cls.__name__: cls for cls in (Cropping1D, Cropping2D, Cropping3D, Permute, RepeatVector, UpSampling1D,
                                      UpSampling3D, ZeroPadding1D, ZeroPadding3D, Identity)}
CF = {"data_format": "channels_first"}

CASES = [
    ("Cropping1D", {}, (2, 6, 3)),
    ("Cropping1D", {"cropping": (2, 0)}, (2, 6, 3)),
    ("Cropping1D", {"cropping": 1}, (2, 5, 3)),
    ("Cropping2D", {}, (2, 5, 6, 3)),
    ("Cropping2D", {"cropping": ((1, 0), (2, 1))}, (2, 5, 6, 3)),
    ("Cropping2D", {"cropping": (1, 2), **CF}, (2, 3, 5, 6)),
    ("Cropping2D", {"cropping": 1}, (2, 5, 6, 3)),
    ("Cropping3D", {}, (2, 4, 5, 6, 2)),
    ("Cropping3D", {"cropping": ((0, 1), 2, (1, 0)), **CF}, (2, 2, 4, 5, 6)),
    ("Cropping3D", {"cropping": (1, 0, 2)}, (2, 4, 5, 6, 2)),
    ("ZeroPadding1D", {}, (2, 4, 3)),
    ("ZeroPadding1D", {"padding": (0, 2), **CF}, (2, 3, 4)),
    ("ZeroPadding3D", {}, (2, 2, 3, 4, 2)),
    ("ZeroPadding3D", {"padding": ((1, 0), 0, (0, 2)), **CF}, (2, 2, 2, 3, 4)),
    ("ZeroPadding3D", {"padding": 2}, (1, 2, 2, 2, 1)),
    ("UpSampling1D", {}, (2, 4, 3)),
    ("UpSampling1D", {"size": 3}, (2, 4, 3)),
    ("UpSampling3D", {}, (2, 2, 3, 2, 3)),
    ("UpSampling3D", {"size": (1, 2, 3), **CF}, (2, 3, 2, 3, 2)),
    ("Permute", {"dims": (2, 1)}, (2, 4, 3)),
    ("Permute", {"dims": (3, 1, 2)}, (2, 4, 3, 5)),
    ("RepeatVector", {"n": 3}, (2, 5)),
    ("Identity", {}, (2, 3, 4)),
]


def _jsonable(config):
    return json.loads(json.dumps(config))


def _own_keys(config):
    return {k: v for k, v in _jsonable(config).items() if k not in ("name", "trainable", "dtype")}


@pytest.mark.parametrize("name, kwargs, shape", CASES)
def test_reshaping_layer_matches_keras(name, kwargs, shape):
    k = keras_module()
    theirs, ours = getattr(k.layers, name)(**kwargs), OURS[name](**kwargs)
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    xt = torch.tensor(x, requires_grad=True)
    y = ours(xt)
    assert_close(y, theirs(x))
    # Output shape, with and without a known batch, as Keras computes it.
    none_batch = (None,) + shape[1:]
    assert tuple(ours.compute_output_shape(none_batch)) == tuple(theirs.compute_output_shape(none_batch))
    assert tuple(ours.compute_output_shape(shape)) == tuple(y.shape)
    # No weights; the config holds Keras's keys and values, and rebuilds the same layer.
    assert ours.count_params() == theirs.count_params() == 0
    assert _own_keys(ours.get_config()) == _own_keys(theirs.get_config())
    again = OURS[name].from_config(ours.get_config())
    assert_close(again(xt), y)
    # The gradient of the input routes every output element back to its source.
    y.sum().backward()
    xk = torch.tensor(x, requires_grad=True)
    theirs(xk).sum().backward()
    assert_close(xt.grad, xk.grad)


@pytest.mark.parametrize("name, kwargs, shape", [c for c in CASES if c[0] != "Identity"])
def test_reshaping_layers_pass_no_mask_as_keras(name, kwargs, shape):
    x = torch.ones(shape)
    x._keras_mask = torch.ones(shape[:2], dtype=torch.bool)
    assert getattr(OURS[name](**kwargs)(x), "_keras_mask", None) is None


def test_identity_passes_mask_and_structures():
    x = torch.ones(2, 3, 4)
    x._keras_mask = torch.tensor([[True, True, False]] * 2)
    assert torch.equal(Identity()(x)._keras_mask, x._keras_mask)
    a, b = torch.ones(2), torch.zeros(3)
    assert Identity()([a, b])[1] is b


@pytest.mark.parametrize("build, message", [
    (lambda: Cropping1D((1, 2, 3)), r"cropping must be a non-negative int or a tuple of 2"),
    (lambda: Cropping2D(-1), r"cropping cannot be negative, received cropping=-1"),
    (lambda: Cropping2D((1, 2, 3)), r"tuple of 2 \(before, after\) pairs.*cropping=\(1, 2, 3\)"),
    (lambda: Cropping3D(((1, 1), (1, -1), 0)), r"2nd entry of cropping"),
    (lambda: Cropping2D(data_format="nhwc"), r"data_format must be 'channels_last' or 'channels_first'"),
    (lambda: ZeroPadding1D("same"), r"padding must be a non-negative int"),
    (lambda: ZeroPadding3D((1, 1)), r"padding must be an int, a tuple of 3 ints"),
    (lambda: UpSampling1D(2.0), r"size must be an int, received size=2.0 of type float"),
    (lambda: UpSampling1D(0), r"size must be a positive int, received size=0"),
    (lambda: UpSampling3D((2, 2)), r"size must be a positive int or a tuple of 3"),
    (lambda: Permute((1, 3)), r"dims must list each axis 1..2 exactly once.*dims=\(1, 3\)"),
    (lambda: Permute((0, 1)), r"the batch axis 0 is not included"),
    (lambda: RepeatVector(2.5), r"n must be an int, received n=2.5"),
    (lambda: RepeatVector(0), r"n must be a positive int, received n=0"),
    (lambda: TimeDistributed(torch.nn.Linear(2, 2)), r"layer must be a kerasish.layers.Layer.*TorchModuleWrapper"),
    (lambda: TorchModuleWrapper("linear"), r"module must be a torch.nn.Module, received 'linear'"),
    (lambda: TorchModuleWrapper(torch.nn.LazyLinear(3)), r"lazy module LazyLinear has uninitialized parameters"),
])
def test_bad_arguments_are_refused(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


@pytest.mark.parametrize("layer, x, message", [
    (Cropping1D((3, 3)), torch.ones(1, 6, 2), r"cropping=\(3, 3\) removes all of axis 1 \(size 6\)"),
    (Cropping2D(((2, 2), (0, 0))), torch.ones(1, 4, 4, 1), r"removes all of axis 1"),
    (Cropping3D(data_format="channels_first"), torch.ones(1, 2, 4, 2, 4), r"removes all of axis 3"),
    (ZeroPadding1D(), torch.ones(2, 3), r"must have rank 3 \(batch, steps, channels\)"),
    (UpSampling3D(), torch.ones(2, 3, 3, 3), r"must have rank 5"),
    (RepeatVector(2), torch.ones(2, 3, 4), r"must have rank 2 \(batch, features\)"),
    (TimeDistributed(Dense(2)), torch.ones(2, 3), r"at least 3 axes \(batch, time, \.\.\.\)"),
])
def test_bad_inputs_are_refused(layer, x, message):
    with pytest.raises(ValueError, match=message):
        layer(x)
    with pytest.raises(ValueError, match=message):
        layer.compute_output_shape((None,) + tuple(x.shape[1:]))


# --------------------------------------------------------------------------- TimeDistributed
TD_CASES = [
    ("Dense", {"units": 3, "activation": "tanh"}, (2, 4, 5)),
    ("Dense", {"units": 2}, (2, 3, 4, 5)),
    ("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same"}, (2, 3, 6, 5, 2)),
    ("Conv2D", {"filters": 2, "kernel_size": (2, 3), "strides": 2}, (2, 2, 6, 7, 3)),
]


@pytest.mark.parametrize("name, kwargs, shape", TD_CASES)
def test_time_distributed_matches_keras(name, kwargs, shape):
    k = keras_module()
    theirs = k.layers.TimeDistributed(getattr(k.layers, name)(**kwargs))
    ours = TimeDistributed({"Dense": Dense, "Conv2D": Conv2D}[name](**kwargs))
    x = np.random.default_rng(2).normal(size=shape).astype("float32")
    theirs.build(shape)
    ours.build_from_shape((None,) + shape[1:])
    ours.set_weights(theirs.get_weights())
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert ours.count_params() == theirs.count_params()
    assert ours.layer.count_params() == ours.count_params()
    xt, xk = torch.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yk = ours(xt), theirs(xk)
    assert_close(y, yk, atol=1e-5)
    none_batch = (None,) + shape[1:]
    assert tuple(ours.compute_output_shape(none_batch)) == tuple(theirs.compute_output_shape(none_batch))
    # Gradients of the input and of every weight.
    (y ** 2).sum().backward()
    (yk ** 2).sum().backward()
    assert_close(xt.grad, xk.grad, atol=1e-4)
    ours_grads = [w.grad for w in ours.weights]
    theirs_grads = [w.value.grad for w in theirs.weights]
    if name == "Conv2D":  # stored in torch's layout: compare in Keras's
        ours_grads[0] = ours_grads[0].permute(2, 3, 1, 0)
    assert_close(ours_grads, theirs_grads, atol=1e-4)
    # Config: the wrapped layer travels as its envelope and rebuilds.
    config = ours.get_config()
    assert config["layer"]["class_name"] == name
    assert set(config) | {"dtype"} == set(theirs.get_config())  # kerasish leaves out dtype=None
    again = TimeDistributed.from_config(_jsonable(config))
    again.build_from_shape((None,) + shape[1:])
    again.set_weights(ours.get_weights())
    assert_close(again(xt), y)


def test_time_distributed_masks_as_keras():
    k = keras_module()
    rng = np.random.default_rng(3)
    tokens = rng.integers(1, 6, size=(3, 4, 5))
    tokens[0, :, 3:] = 0  # padded tokens inside each time step
    tokens[1, 2:] = 0  # and whole padded steps
    k_emb, k_td = k.layers.Embedding(6, 3, mask_zero=True), k.layers.TimeDistributed(k.layers.LSTM(2))
    emb, td = Embedding(6, 3, mask_zero=True), TimeDistributed(LSTM(2))
    ke = k_emb(tokens)
    kout = k_td(ke)
    td.build_from_shape((None, 4, 5, 3))
    emb.build()
    emb.set_weights(k_emb.get_weights())
    td.set_weights(k_td.get_weights())
    e = emb(torch.tensor(tokens))
    out = td(e)
    # The inner LSTM reads each step's (batch * time, inner_steps) mask; the wrapper passes the mask on.
    assert_close(out, kout, atol=1e-5)
    assert torch.equal(out._keras_mask, torch.as_tensor(np.asarray(kout._keras_mask.cpu())))
    assert torch.equal(out._keras_mask, e._keras_mask)
    with pytest.raises(ValueError, match=r"mask must start with the input's \(batch, time\) axes \(3, 4\)"):
        td(e, mask=torch.ones(3, 2, dtype=torch.bool))


def test_time_distributed_mask_in_functional_model_matches_keras():
    k = keras_module()
    x = np.random.default_rng(4).normal(size=(3, 5, 4)).astype("float32")
    x[0, 3:] = 0.0
    x[2, 1:] = 0.0

    def build(lib):
        inputs = lib.layers.Input(shape=(5, 4))
        h = lib.layers.Masking()(inputs)
        h = lib.layers.TimeDistributed(lib.layers.Dense(3))(h) if lib is k else TimeDistributed(Dense(3))(h)
        return lib.Model(inputs, lib.layers.GRU(2)(h))

    theirs, ours = build(k), build(kerasish)
    ours.set_weights(theirs.get_weights())
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)


# --------------------------------------------------------------------------- TorchModuleWrapper
def _torch_net():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    net[0].bias.requires_grad_(False)  # a frozen parameter: Keras lists trainable weights first
    return net


def test_torch_module_wrapper_matches_keras():
    k = keras_module()
    theirs, ours = k.layers.TorchModuleWrapper(_torch_net()), TorchModuleWrapper(_torch_net())
    with torch.no_grad():
        for p in theirs.module.parameters():
            p.add_(torch.randn_like(p))
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    assert all(a is b for a, b in zip(ours.weights, [p for p in ours.module.parameters() if p.requires_grad]))
    assert ours.count_params() == theirs.count_params()
    assert len(ours.trainable_weights) == len(theirs.trainable_weights) == 5
    x = np.random.default_rng(5).normal(size=(8, 4)).astype("float32")
    # Training mode (batch statistics), then inference with the moving statistics both updated.
    for training in (True, False):
        xt, xk = torch.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, yk = ours(xt, training=training), theirs(xk, training=training)
        assert_close(y, yk, atol=1e-5)
        (y ** 2).sum().backward()
        (yk ** 2).sum().backward()
        assert_close(xt.grad, xk.grad, atol=1e-4)
        assert_close([w.grad for w in ours.trainable_weights], [w.value.grad for w in theirs.trainable_weights],
                     atol=1e-4)
    assert_close(ours.module[1].running_mean, theirs.module[1].running_mean)
    # A direct call without `training` is inference, as for every kerasish layer.
    assert_close(ours(torch.tensor(x)), theirs(x, training=False), atol=1e-5)
    assert not ours.module.training
    assert tuple(ours.compute_output_shape((None, 4))) == (None, 3)
    assert TorchModuleWrapper(torch.nn.Linear(4, 2), output_shape=(None, 2)).compute_output_shape((5, 4)) == (None, 2)


def test_torch_module_wrapper_config_as_keras():
    k = keras_module()
    ours = TorchModuleWrapper(torch.nn.Linear(4, 2), name="lin", output_shape=(None, 2))
    config = ours.get_config()
    assert set(config) | {"dtype"} == set(k.layers.TorchModuleWrapper(torch.nn.Linear(4, 2)).get_config())
    assert config["output_shape"] == [None, 2] and isinstance(config["module"], str)
    with pytest.raises(ValueError, match=r"refused in safe mode.*load_model\(path, safe_mode=False\)"):
        TorchModuleWrapper.from_config(config)
    again = TorchModuleWrapper.from_config(config, safe_mode=False)
    x = torch.ones(3, 4)
    assert again.name == "lin" and again.output_shape == (None, 2)
    assert_close(again(x), ours(x))

    def local_module():
        class Local(torch.nn.Module):
            def forward(self, x):
                return x
        return Local()

    with pytest.raises(ValueError, match=r"cannot be pickled by torch.save.*save_weights"):
        TorchModuleWrapper(local_module()).get_config()


# --------------------------------------------------------------------------- saving
def test_functional_model_with_the_new_layers_saves_and_reloads(tmp_path):
    seq = kerasish.layers.Input(shape=(6, 4))
    h = ZeroPadding1D((1, 2))(seq)
    h = Cropping1D((2, 1))(h)
    h = UpSampling1D(2)(h)
    h = TimeDistributed(Dense(3))(h)
    h = Permute((2, 1))(h)
    h = Identity()(h)
    out1 = TorchModuleWrapper(torch.nn.Linear(12, 5))(h)
    vol = kerasish.layers.Input(shape=(3, 4, 4, 2))
    v = ZeroPadding3D(1)(vol)
    v = Cropping3D(((1, 1), (0, 2), 1))(v)
    v = UpSampling3D((1, 2, 1))(v)
    v = TimeDistributed(Conv2D(2, 3, padding="same"))(v)
    vec = kerasish.layers.Input(shape=(3,))
    r = RepeatVector(2)(vec)
    r = Cropping2D(((0, 1), (1, 0)), data_format="channels_first")(kerasish.layers.Reshape((1, 2, 3))(r))
    model = kerasish.Model([seq, vol, vec], [out1, v, r])
    assert [tuple(o.shape) for o in model.outputs] == [(None, 3, 5), (None, 3, 8, 4, 2), (None, 1, 1, 2)]
    rng = np.random.default_rng(6)
    xs = [rng.normal(size=(2,) + s).astype("float32") for s in ((6, 4), (3, 4, 4, 2), (3,))]
    expected = model.predict(xs, verbose=0)
    path = str(tmp_path / "reshape.kerasish")
    model.save(path)
    with pytest.raises(ValueError, match=r"TorchModuleWrapper: the saved config holds a torch.nn.Module"):
        kerasish.saving.load_model(path)
    again = kerasish.saving.load_model(path, safe_mode=False)
    assert_close(again.predict(xs, verbose=0), expected)
    assert again.count_params() == model.count_params()
