"""Module modes and metrics around a custom `train_step`, as Keras 3 runs one: kerasish layers called
without `training` infer, plain torch modules and TorchModuleWrapper train, a callback's predict leaves
the modes as they were, and a nested model's own trackers never replace the compiled loss. Keras 2
configs with `batch_input_shape` still load."""

from __future__ import annotations

import json

import numpy as np
import torch

import kerasish
from tests.keras_parity import keras_module

X = np.random.default_rng(0).random((16, 3)).astype("float32")
Y = np.random.default_rng(1).random((16, 1)).astype("float32")


class _Step(kerasish.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lin = torch.nn.Linear(3, 4)
        self.bn = torch.nn.BatchNorm1d(4)
        self.wrapped = kerasish.layers.TorchModuleWrapper(torch.nn.Dropout(0.5))
        self.out = kerasish.layers.Dense(1)
        self.seen = []

    def call(self, x):
        return self.out(self.wrapped(self.bn(self.lin(x))))

    def train_step(self, data):
        x, y = data
        self.seen.append((self.bn.training, self.wrapped.training))
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        self.optimizer.apply([v.grad for v in self.trainable_weights], self.trainable_weights)
        self.zero_grad()
        return {"loss": loss}


class _PredictMidEpoch(kerasish.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.model.predict(X[:4], verbose=0)


def test_plain_torch_modules_and_wrappers_train_in_a_custom_step_even_after_a_callbacks_predict():
    model = _Step()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[_PredictMidEpoch()])
    # Both steps, the second after the callback's predict (which runs in eval mode), in train mode; BatchNorm
    # updated its statistics on the two training batches only.
    assert model.seen == [(True, True), (True, True)]
    assert int(model.bn.num_batches_tracked) == 2


def test_a_nested_models_own_tracker_does_not_replace_the_loss():
    keras = keras_module()

    def build(lib):
        class Inner(lib.Model):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.dense = lib.layers.Dense(1)
                self.loss_tracker = lib.metrics.Mean(name="loss")

            def call(self, x):
                return self.dense(x)

        model = lib.Sequential([lib.Input((3,)), Inner()])
        model.compile(optimizer="sgd", loss="mse")
        return model

    ours, theirs = build(kerasish), build(keras)
    ours.set_weights(theirs.get_weights())
    y = Y * 10
    h_ours = ours.fit(X, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    h_theirs = theirs.fit(X, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    assert h_ours["loss"][0] > 1.0
    np.testing.assert_allclose(h_ours["loss"], h_theirs["loss"], rtol=1e-4)
    assert [m.name for m in ours.metrics] == [m.name for m in theirs.metrics]


def test_a_keras_2_config_with_batch_input_shape_loads():
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {"units": 2, "batch_input_shape": [None, 3]}}]}}
    model = kerasish.models.model_from_json(json.dumps(config))
    assert model.built and model.get_weights()[0].shape == (3, 2)
