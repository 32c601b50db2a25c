"""fit / evaluate / predict behaviour as a user observes it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import kerasish
from kerasish.callbacks import Callback
from kerasish.layers import Dense, Dropout
from kerasish.models import Model, Sequential


def _mlp(n_in=8, n_out=3, act="softmax"):
    return Sequential([Dense(16, activation="relu", input_shape=(n_in,)), Dense(n_out, activation=act)])


def test_fit_matches_hand_written_loop_per_epoch():
    """Same initial weights, same batch order, same optimizer: same per-epoch loss to 1e-5."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 20)).astype("float32")
    y = rng.integers(0, 5, size=300)
    y_onehot = kerasish.utils.to_categorical(y, 5)

    model = Sequential([Dense(64, activation="relu", input_shape=(20,)), Dense(5, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", device="cpu")
    l1 = nn.Linear(20, 64)
    l2 = nn.Linear(64, 5)
    with torch.no_grad():
        l1.weight.copy_(model.layers[0].kernel.T)
        l1.bias.copy_(model.layers[0].bias)
        l2.weight.copy_(model.layers[1].kernel.T)
        l2.bias.copy_(model.layers[1].bias)

    torch.manual_seed(123)
    history = model.fit(x, y_onehot, epochs=3, batch_size=32, verbose=0)

    # The hand-written loop, with the same optimizer: Keras's RMSprop formula as a torch optimizer.
    net = nn.Sequential(l1, nn.ReLU(), l2)
    opt = kerasish.optimizers.KerasRMSpropTorch(net.parameters(), lr=0.001, rho=0.9, eps=1e-7)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    torch.manual_seed(123)
    hand = []
    for _ in range(3):
        perm = torch.randperm(len(xt))
        total = 0.0
        for i in range(0, len(xt), 32):
            idx = perm[i:i + 32]
            loss = nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            total += loss.item() * len(idx)
        hand.append(total / len(xt))
    np.testing.assert_allclose(history.history["loss"], hand, atol=1e-5, rtol=0)
    # and the weights agree at the end
    np.testing.assert_allclose(model.layers[1].kernel.detach().T.numpy(), l2.weight.detach().numpy(), atol=1e-5)


def test_history_keys_epochs_and_params(tiny_classification):
    x, y = tiny_classification
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert h.epoch == [0, 1, 2]
    assert h.params["epochs"] == 3 and h.params["steps"] == 5  # 150 training samples / 32
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert model.history is h


def test_validation_split_takes_last_fraction_before_shuffle(tiny_classification):
    x, y = tiny_classification
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=1, validation_split=0.2, verbose=0)
    # Evaluating on the last 20% directly gives the same numbers as val_ metrics.
    loss, acc = model.evaluate(x[160:], y[160:], verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(loss, abs=1e-6)
    assert h.history["val_accuracy"][0] == pytest.approx(acc, abs=1e-6)


def test_validation_freq_controls_when_validation_runs(tiny_classification):
    x, y = tiny_classification
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    seen = []

    class Rec(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append("val_loss" in logs)

    model.fit(x, y, epochs=4, validation_data=(x[:20], y[:20]), validation_freq=2, callbacks=[Rec()], verbose=0)
    assert seen == [False, True, False, True]


def test_evaluate_return_forms(tiny_classification):
    x, y = tiny_classification
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, y, verbose=0), float)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc", "sparse_top_k_categorical_accuracy"])
    res = model.evaluate(x, y, verbose=0)
    assert isinstance(res, list) and len(res) == 3
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d) == ["acc", "loss", "sparse_top_k_categorical_accuracy"]  # sorted, as Keras
    assert d["sparse_top_k_categorical_accuracy"] == 1.0  # 3 classes, top 5


def test_predict_returns_probabilities_numpy_and_works_uncompiled(tiny_classification):
    x, _ = tiny_classification
    model = _mlp()
    p = model.predict(x, batch_size=64, verbose=0)
    assert isinstance(p, np.ndarray) and p.shape == (200, 3)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(x[:5]), p[:5], atol=1e-6)


def test_predict_is_in_eval_mode_dropout_off():
    model = Sequential([Dense(8, input_shape=(4,)), Dropout(0.9)])
    x = np.ones((10, 4), "float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


def test_sample_weight_follows_keras_reduction():
    """Weighted loss = sum(w * loss) / batch_size; zero weights remove samples."""
    x = np.array([[1.0], [2.0]], "float32")
    y = np.array([[0.0], [0.0]], "float32")
    model = Sequential([Dense(1, input_shape=(1,), kernel_initializer="ones")])
    model.compile(optimizer="sgd", loss="mse")
    w = np.array([1.0, 0.0], "float32")
    loss = model.evaluate(x, y, sample_weight=w, verbose=0)
    assert loss == pytest.approx((1.0 * 1.0 + 0.0 * 4.0) / 2)
    loss_full = model.evaluate(x, y, verbose=0)
    assert loss_full == pytest.approx((1.0 + 4.0) / 2)


def test_class_weight_scales_per_class_loss():
    x = np.array([[1.0], [2.0]], "float32")
    y = np.array([0, 1])
    model = Sequential([Dense(2, input_shape=(1,), activation="softmax")])
    model.compile(optimizer=kerasish.optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
    base = model.train_on_batch(x, y)
    weighted = model.train_on_batch(x, y, class_weight={0: 0.0, 1: 2.0})
    p = model.predict(x, verbose=0)
    expected = (0.0 * -np.log(p[0, 0]) + 2.0 * -np.log(p[1, 1])) / 2
    assert weighted == pytest.approx(expected, rel=1e-5)
    assert base != pytest.approx(weighted)


def test_wrapping_any_torch_module_trains():
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    model = Model(net)
    model.compile(optimizer=kerasish.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = x.sum(1, keepdims=True)
    h = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.2 * h.history["loss"][0]
    # the user's module was trained in place
    with torch.no_grad():
        direct = net(torch.from_numpy(x[:3])).numpy()
    np.testing.assert_allclose(model.predict(x[:3], verbose=0), direct, atol=1e-6)


def test_subclassed_model_with_lazy_layers():
    class TwoLayer(Model):
        def __init__(self):
            super().__init__()
            self.hidden = Dense(16, activation="relu")
            self.out = Dense(1)

        def call(self, x):
            return self.out(self.hidden(x))

    model = TwoLayer()
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    h = model.fit(x, x[:, :1] * 2, epochs=5, verbose=0)
    assert model.hidden.kernel.shape == (3, 16)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_sequential_builds_on_first_batch_without_input_shape(tiny_classification):
    x, y = tiny_classification
    model = Sequential([Dense(16, activation="relu"), Dense(3, activation="softmax")])
    assert not model.built
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert model.built and model.layers[0].kernel.shape == (8, 16)


def test_sequential_accepts_plain_torch_modules(tiny_classification):
    x, y = tiny_classification
    model = Sequential([Dense(16, input_shape=(8,)), nn.ReLU(), nn.Linear(16, 3), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=5, verbose=0)
    assert h.history["accuracy"][-1] > h.history["accuracy"][0]
    assert model.output_shape == (None, 3)


def test_dataset_dataloader_and_generator_inputs(tiny_classification):
    x, y = tiny_classification
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ref = model.evaluate(x, y, verbose=0)
    ds = TensorDataset(xt, yt)
    assert model.evaluate(ds, verbose=0, batch_size=50) == pytest.approx(ref, abs=1e-6)
    assert model.evaluate(DataLoader(ds, batch_size=40), verbose=0) == pytest.approx(ref, abs=1e-6)
    h = model.fit(DataLoader(ds, batch_size=32, shuffle=True), epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2

    def gen():
        while True:
            for i in range(0, 200, 50):
                yield x[i:i + 50], y[i:i + 50]

    h = model.fit(gen(), steps_per_epoch=4, epochs=3, verbose=0)
    assert len(h.history["loss"]) == 3
    assert model.predict(ds, verbose=0).shape == (200, 3)


def test_integer_labels_stay_integer_and_float64_inputs_are_cast(tiny_classification):
    x, y = tiny_classification
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x.astype("float64"), y.astype("int32"), epochs=1, verbose=0)
    assert model.layers[0].kernel.dtype == torch.float32


def test_softmax_head_uses_exact_logits_loss():
    """With a softmax head, the loss equals cross-entropy on the logits, even when probabilities saturate."""
    model = Sequential([Dense(2, input_shape=(1,), activation="softmax", kernel_initializer="ones")])
    with torch.no_grad():
        model.layers[0].kernel.copy_(torch.tensor([[60.0, -60.0]]))
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.array([[1.0]], "float32")
    loss = model.evaluate(x, np.array([[0.0, 1.0]], "float32"), verbose=0)
    assert loss == pytest.approx(120.0, rel=1e-5)  # clipped probabilities would give 16.1
    assert model.predict(x, verbose=0)[0, 0] == pytest.approx(1.0)


def test_accuracy_resolution_follows_loss_and_shapes():
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    yb = (x[:, 0] > 0).astype("float32")
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(4,))])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    acc = model.evaluate(x, yb, verbose=0)[1]
    p = model.predict(x, verbose=0).ravel()
    assert acc == pytest.approx(((p > 0.5) == yb).mean())


def test_batch_logs_are_running_means_and_stop_training(tiny_classification):
    x, y = tiny_classification
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seen = []

    class Stop(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(dict(logs))
            if batch == 2:
                self.model.stop_training = True

    h = model.fit(x, y, epochs=5, batch_size=20, callbacks=[Stop()], verbose=0)
    assert len(h.history["loss"]) == 1 and len(seen) == 3
    assert set(seen[0]) == {"loss", "accuracy"}
    assert h.history["loss"][0] == pytest.approx(seen[-1]["loss"])


def test_progress_output_verbose_2_one_line_per_epoch(tiny_classification, capsys):
    x, y = tiny_classification
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=2)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"  # Keras 3's layout
    assert lines[1].startswith("7/7 - ") and " - accuracy: " in lines[1] and " - loss: " in lines[1]
    assert "\r" not in out


def test_progress_bar_verbose_1(tiny_classification, capsys):
    x, y = tiny_classification
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=50, verbose=1)
    out = capsys.readouterr().out
    assert out.startswith("4/4 " + "━" * 20 + " ") and " - loss: " in out  # one epoch: no "Epoch 1/1", as Keras


def test_learning_rate_is_readable_and_settable():
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert model.optimizer.learning_rate == pytest.approx(1e-3)
    model.optimizer.learning_rate = 0.05
    assert model.optimizer.torch_optimizer.param_groups[0]["lr"] == 0.05


def test_torch_optimizer_instance_and_class_are_accepted(tiny_classification):
    x, y = tiny_classification
    model = _mlp()
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss="sparse_categorical_crossentropy")
    assert model.optimizer.learning_rate == 0.1
    model.fit(x, y, epochs=1, verbose=0)
    model2 = _mlp()
    model2.compile(optimizer=torch.optim.Adam, loss="sparse_categorical_crossentropy")
    h = model2.fit(x, y, epochs=2, verbose=0)
    assert h.history["loss"][1] < h.history["loss"][0]


def test_torch_defaults_setting_changes_initialisation_and_optimizer_numbers():
    kerasish.config.set_defaults("torch")
    layer = Dense(4)
    layer.build((None, 100))
    assert layer.bias.abs().sum() > 0  # torch's Linear init draws the bias too
    assert layer.kernel.abs().max() <= 0.1
    opt = kerasish.optimizers.get("adam")
    assert opt.epsilon == 1e-8
    kerasish.config.set_defaults("keras")
    layer = Dense(4)
    layer.build((None, 100))
    assert layer.bias.abs().sum() == 0
    assert kerasish.optimizers.get("adam").epsilon == 1e-7


def test_set_random_seed_gives_identical_history(tiny_classification):
    x, y = tiny_classification

    def run():
        kerasish.utils.set_random_seed(7)
        model = Sequential([Dense(16, activation="relu", input_shape=(8,)), Dropout(0.3), Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model.fit(x, y, epochs=3, verbose=0).history

    assert run() == run()


def test_regularizer_penalty_is_added_to_training_loss():
    x = np.ones((4, 3), "float32")
    y = np.zeros((4, 1), "float32")
    model = Sequential([Dense(1, input_shape=(3,), kernel_initializer="ones", kernel_regularizer=kerasish.regularizers.L2(0.5))])
    model.compile(optimizer=kerasish.optimizers.SGD(learning_rate=0.0), loss="mse")
    h = model.fit(x, y, epochs=1, verbose=0)
    assert h.history["loss"][0] == pytest.approx(9.0 + 0.5 * 3)


def test_text_vectorization_first_layer_trains_on_raw_strings():
    from kerasish.layers import Embedding, GlobalAveragePooling1D, TextVectorization

    texts = ["good movie great", "bad film awful", "great acting good", "awful plot bad"] * 25
    y = np.array([1, 0, 1, 0] * 25, "float32")
    vectorize = TextVectorization(max_tokens=50, output_sequence_length=4)
    vectorize.adapt(texts)
    model = Sequential([vectorize, Embedding(50, 8), GlobalAveragePooling1D(), Dense(1, activation="sigmoid")])
    model.compile(optimizer=kerasish.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    h = model.fit(texts, y, epochs=5, batch_size=16, verbose=0)
    assert h.history["accuracy"][-1] == 1.0
    p = model.predict(["good great", "bad awful"], verbose=0).ravel()
    assert p[0] > 0.9 and p[1] < 0.1


def test_accuracy_from_a_dataloader_matches_arrays_with_a_torch_loss(tiny_classification):
    x, y = tiny_classification
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    model = Model(net)
    model.compile(optimizer="adam", loss=nn.CrossEntropyLoss(reduction="none"), metrics=["accuracy"])
    on_arrays = model.evaluate(x, y, verbose=0)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=50)
    on_loader = model.evaluate(loader, verbose=0)
    assert on_loader == pytest.approx(on_arrays, abs=1e-6)


def test_predict_inside_a_callback_keeps_training_mode(tiny_classification):
    x, y = tiny_classification
    model = Sequential([Dense(16, input_shape=(8,)), Dropout(0.5), Dense(3, activation="softmax")])
    modes = []
    model.layers[1].register_forward_hook(lambda m, i, o: modes.append(m.training) and None)

    class PeekMidEpoch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                self.model.predict(x[:2], verbose=0)

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=50, callbacks=[PeekMidEpoch()], verbose=0)
    # train, (predict: eval), then training continues in train mode
    assert modes == [True, False, True, True, True]


def test_used_up_generator_as_validation_data_validates_on_its_replayed_batches(tiny_classification):
    # As Keras 3: a used-up generator restarts from the first batches kept when it was first read,
    # and the run-out is warned about (tests/training/test_ran_out_of_data.py compares with Keras).
    x, y = tiny_classification
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    val = ((x[i:i + 50], y[i:i + 50]) for i in range(0, 100, 50))
    with pytest.warns(UserWarning, match="Your input ran out of data"):
        h = model.fit(x, y, epochs=2, validation_data=val, verbose=0)
    assert len(h.history["val_loss"]) == 2 and all(np.isfinite(h.history["val_loss"]))


def test_steps_per_epoch_continues_where_the_last_epoch_stopped():
    x = np.arange(100, dtype="float32").reshape(100, 1)
    y = np.zeros((100, 1), "float32")
    seen = []

    class Record(nn.Module):
        def forward(self, t):
            seen.append(int(t[0, 0]))
            return t * 0 + self.w

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

    model = Model(Record())
    model.compile(optimizer="sgd", loss="mse")
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=10)
    seen.clear()
    model.fit(loader, epochs=3, steps_per_epoch=3, verbose=0)
    assert seen[-9:] == [0, 10, 20, 30, 40, 50, 60, 70, 80]
    seen.clear()
    model.fit(x, y, epochs=2, batch_size=10, steps_per_epoch=3, shuffle=False, verbose=0)
    assert seen[-6:] == [0, 10, 20, 30, 40, 50]


def test_metrics_are_unweighted_and_weighted_metrics_see_the_weights():
    x = np.array([[1.0], [-1.0], [2.0], [-2.0]], "float32")
    y = np.array([1, 1, 1, 0], "float32")  # sample 1 is misclassified by sign(x)
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(1,), kernel_initializer="ones")])
    model.compile(optimizer=kerasish.optimizers.SGD(learning_rate=0.0), loss="binary_crossentropy",
                  metrics=["accuracy", "precision"], weighted_metrics=["accuracy"])
    res = model.evaluate(x, y, sample_weight=np.array([1.0, 3.0, 1.0, 1.0], "float32"), verbose=0, return_dict=True)
    assert res["accuracy"] == pytest.approx(0.75)            # 3 of 4 samples
    assert res["weighted_accuracy"] == pytest.approx(3 / 6)  # weights 1+1+1 of 6
    # class_weight with a torchmetrics metric no longer fails (metrics ignore weights)
    model.fit(x, y, class_weight={0: 1.0, 1: 5.0}, epochs=1, verbose=0)


def test_learning_rate_change_keeps_param_group_ratios():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    opt = torch.optim.Adam([{"params": a.parameters(), "lr": 1e-5}, {"params": b.parameters(), "lr": 1e-3}])
    model = Model(nn.Sequential(a, b))
    model.compile(optimizer=opt, loss="mse")
    model.optimizer.learning_rate = model.optimizer.learning_rate * 0.5
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([5e-6, 5e-4])


def test_sequential_without_input_shape_fits_on_a_dataloader(tiny_classification):
    x, y = tiny_classification
    model = Sequential([Dense(16, activation="relu"), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=32, shuffle=True)
    h = model.fit(loader, epochs=3, verbose=0)
    assert model.built and h.history["accuracy"][-1] > 0.4
