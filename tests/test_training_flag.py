"""The call context: what `training` and `mask` a custom layer's `call` receives.

Keras's contract: `fit` runs its steps with training=True; `evaluate`, `predict` and
the validation pass with training=False; a direct call passes nothing (None), and a
nested layer inherits the value of the call around it unless it is given one
explicitly. A layer whose `call` declares `mask` receives the mask an
`Embedding(mask_zero=True)` upstream produced.

Recorders note each call's batch size next to the value they saw, and every data set
below has its own batch size, so a shape-inference pass (2 and 3 samples in kerasish)
never mixes with the calls under test; Keras's symbolic passes run on 'meta' tensors and are
skipped (the same file then runs against Keras itself).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish as keras
from kerasish import layers

# kerasish infers a functional graph's shapes by running each layer on zeros of 2 and 3
# samples; no batch below has those sizes.
TRAIN_BATCH, VAL_BATCH, EVAL_BATCH, PREDICT_BATCH, DIRECT_BATCH = 4, 5, 6, 7, 9


class Recorder(keras.layers.Layer):
    """Records (batch size, training) for every call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, x, training=None):
        if x.device.type != "meta":
            self.seen.append((int(x.shape[0]), training))
        return x

    def values(self, batch):
        return [t for b, t in self.seen if b == batch]


class Block(keras.layers.Layer):
    """A custom layer that does not declare `training` and calls two recorders:
    `inherit` without a flag, `forced` with an explicit training=False."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inherit = Recorder()
        self.forced = Recorder()

    def call(self, x):
        x = self.inherit(x)
        return self.forced(x, training=False)


class Subclassed(keras.Model):
    # Keras's loops pass `training` to a subclassed model only when its call declares it
    # (the guides' pattern); the block below still gets it from the context, not as an argument.
    def __init__(self):
        super().__init__()
        self.dense_1 = layers.Dense(4)
        self.block = Block()
        self.dense_2 = layers.Dense(1)

    def call(self, inputs, training=None):
        return self.dense_2(self.block(self.dense_1(inputs)))


def _build(kind):
    block = Block()
    if kind == "sequential":
        model = keras.Sequential([keras.Input((3,)), layers.Dense(4), block, layers.Dense(1)])
    elif kind == "functional":
        inputs = keras.Input((3,))
        outputs = layers.Dense(1)(block(layers.Dense(4)(inputs)))
        model = keras.Model(inputs, outputs)
    else:
        model = Subclassed()
        block = model.block
    model.compile(optimizer="sgd", loss="mse")
    return model, block


def _arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 3)).astype("float32"), rng.random((n, 1)).astype("float32")


KINDS = ["sequential", "functional", "subclassed"]


@pytest.mark.parametrize("kind", KINDS)
def test_direct_call_passes_none(kind):
    model, block = _build(kind)
    x, _ = _arrays(DIRECT_BATCH)
    model(x)
    assert block.inherit.values(DIRECT_BATCH) == [None]
    assert block.forced.values(DIRECT_BATCH) == [False]


@pytest.mark.parametrize("kind", KINDS)
def test_explicit_training_on_the_model_reaches_nested_layers(kind):
    model, block = _build(kind)
    x, _ = _arrays(DIRECT_BATCH)
    model(x, training=True)
    model(x, training=False)
    assert block.inherit.values(DIRECT_BATCH) == [True, False]
    assert block.forced.values(DIRECT_BATCH) == [False, False]


@pytest.mark.parametrize("kind", KINDS)
def test_fit_is_true_and_validation_is_false(kind):
    model, block = _build(kind)
    x, y = _arrays(2 * TRAIN_BATCH)
    val = _arrays(VAL_BATCH, seed=1)
    model.fit(x, y, batch_size=TRAIN_BATCH, epochs=2, validation_data=val, validation_batch_size=VAL_BATCH,
              verbose=0)
    assert block.inherit.values(TRAIN_BATCH) == [True] * 4  # 2 epochs x 2 batches
    assert block.inherit.values(VAL_BATCH) == [False] * 2  # one validation pass per epoch
    # An explicit training=False inside a training call wins for that layer.
    assert block.forced.values(TRAIN_BATCH) == [False] * 4


@pytest.mark.parametrize("kind", KINDS)
def test_evaluate_and_predict_are_false(kind):
    model, block = _build(kind)
    x, y = _arrays(EVAL_BATCH)
    model.evaluate(x, y, batch_size=EVAL_BATCH, verbose=0)
    xp, _ = _arrays(PREDICT_BATCH)
    model.predict(xp, batch_size=PREDICT_BATCH, verbose=0)
    assert block.inherit.values(EVAL_BATCH) == [False]
    assert block.inherit.values(PREDICT_BATCH) == [False]


def _guide_train_step(self, data):
    """The train_step guide's body: the forward pass says training=True itself."""
    x, y = data
    self.zero_grad()
    y_pred = self(x, training=True)
    loss = self.compute_loss(y=y, y_pred=y_pred)
    loss.backward()
    with torch.no_grad():
        self.optimizer.apply([v.value.grad for v in self.trainable_weights], self.trainable_weights)
    return {"loss": loss}


class FunctionalWithStep(keras.Model):
    train_step = _guide_train_step


class SubclassedWithStep(keras.Model):
    train_step = _guide_train_step

    def __init__(self):
        super().__init__()
        self.dense_1 = layers.Dense(4)
        self.block = Block()
        self.dense_2 = layers.Dense(1)

    def call(self, inputs, training=None):
        return self.dense_2(self.block(self.dense_1(inputs)))


@pytest.mark.parametrize("kind", ["functional", "subclassed"])
def test_custom_train_step_forward_reaches_nested_layers(kind):
    if kind == "functional":
        block = Block()
        inputs = keras.Input((3,))
        model = FunctionalWithStep(inputs, layers.Dense(1)(block(layers.Dense(4)(inputs))))
    else:
        model = SubclassedWithStep()
        block = model.block
    model.compile(optimizer="sgd", loss="mse")
    x, y = _arrays(2 * TRAIN_BATCH)
    model.fit(x, y, batch_size=TRAIN_BATCH, epochs=1, verbose=0)
    assert block.inherit.values(TRAIN_BATCH) == [True, True]
    assert block.forced.values(TRAIN_BATCH) == [False, False]


class ZeroFraction(keras.layers.Layer):
    """Records the fraction of zeros in its input, per batch size."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, x):
        if x.device.type != "meta":
            self.seen.append((int(x.shape[0]), float((x == 0).float().mean())))
        return x

    def values(self, batch):
        return [f for b, f in self.seen if b == batch]


class DropoutModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.dropout = layers.Dropout(0.5)
        self.probe = ZeroFraction()
        self.dense = layers.Dense(1)

    def call(self, inputs, training=None):
        return self.dense(self.probe(self.dropout(inputs)))


def _dropout_model(kind):
    if kind == "sequential":
        probe = ZeroFraction()
        model = keras.Sequential([keras.Input((64,)), layers.Dropout(0.5), probe, layers.Dense(1)])
    elif kind == "functional":
        probe = ZeroFraction()
        inputs = keras.Input((64,))
        model = keras.Model(inputs, layers.Dense(1)(probe(layers.Dropout(0.5)(inputs))))
    else:
        model = DropoutModel()
        probe = model.probe
    model.compile(optimizer="sgd", loss="mse")
    return model, probe


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_follows_the_flag(kind):
    model, probe = _dropout_model(kind)
    ones = lambda n: np.ones((n, 64), "float32")  # noqa: E731
    zeros = lambda n: np.zeros((n, 1), "float32")  # noqa: E731
    model.fit(ones(TRAIN_BATCH), zeros(TRAIN_BATCH), batch_size=TRAIN_BATCH, epochs=2,
              validation_data=(ones(VAL_BATCH), zeros(VAL_BATCH)), validation_batch_size=VAL_BATCH, verbose=0)
    model.evaluate(ones(EVAL_BATCH), zeros(EVAL_BATCH), verbose=0)
    model.predict(ones(PREDICT_BATCH), verbose=0)
    model(ones(DIRECT_BATCH))
    train = probe.values(TRAIN_BATCH)
    assert len(train) == 2 and all(0.25 < f < 0.75 for f in train)
    assert probe.values(VAL_BATCH) == [0.0, 0.0]
    assert probe.values(EVAL_BATCH) == [0.0]
    assert probe.values(PREDICT_BATCH) == [0.0]
    assert probe.values(DIRECT_BATCH) == [0.0]  # training=None: Dropout is off


# ------------------------------------------------------------------------------ masks

TOKENS = np.array([[1, 2, 0, 0], [3, 0, 0, 0], [4, 5, 6, 0], [7, 8, 9, 1], [0, 0, 0, 0]])


class MaskRecorder(keras.layers.Layer):
    """Records the mask its call receives (None when none arrives) and passes it on."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.masks = []

    def call(self, x, mask=None):
        if x.shape[0] == len(TOKENS) and x.device.type != "meta":
            self.masks.append(None if mask is None else np.asarray(mask.detach().cpu().numpy()))
        return x


def _masked(kind):
    probe = MaskRecorder()
    if kind == "sequential":
        model = keras.Sequential([keras.Input((4,), dtype="int32"),
                                  layers.Embedding(10, 3, mask_zero=True), probe,
                                  layers.GlobalAveragePooling1D(), layers.Dense(1)])
    else:
        inputs = keras.Input((4,), dtype="int32")
        x = probe(layers.Embedding(10, 3, mask_zero=True)(inputs))
        model = keras.Model(inputs, layers.Dense(1)(layers.GlobalAveragePooling1D()(x)))
    return model, probe


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_embedding_mask_reaches_a_custom_layer(kind):
    model, probe = _masked(kind)
    expected = TOKENS != 0
    model(TOKENS)
    model.predict(TOKENS, batch_size=len(TOKENS), verbose=0)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(TOKENS, np.zeros((len(TOKENS), 1), "float32"), batch_size=len(TOKENS), epochs=1, shuffle=False,
              verbose=0)
    assert len(probe.masks) == 3
    for mask in probe.masks:
        assert mask is not None
        np.testing.assert_array_equal(mask.astype(bool), expected)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_no_mask_without_mask_zero(kind):
    probe = MaskRecorder()
    if kind == "sequential":
        model = keras.Sequential([keras.Input((4,), dtype="int32"), layers.Embedding(10, 3), probe])
    else:
        inputs = keras.Input((4,), dtype="int32")
        model = keras.Model(inputs, probe(layers.Embedding(10, 3)(inputs)))
    model(TOKENS)
    assert probe.masks == [None]


def test_a_fresh_model_called_directly_runs_in_inference_mode_as_keras():
    from tests.keras_parity import assert_close, keras_module

    k = keras_module()
    import kerasish

    def build(keras):
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.BatchNormalization(),
                                 keras.layers.Dropout(0.5), keras.layers.Dense(2)])

    theirs, ours = build(k), build(kerasish)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    assert_close(ours(x), theirs(x), atol=1e-5)
    assert_close(ours(x, training=False), theirs(x, training=False), atol=1e-5)
    assert_close(ours.get_weights(), theirs.get_weights())  # moving statistics untouched by the calls
    ours(x, training=True)
    assert not np.allclose(ours.layers[1].moving_mean.detach().numpy(), 0)  # training=True updates them
