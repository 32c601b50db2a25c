"""kerasish.distillation against Keras 3's keras.distillation: same teacher and student weights,
then fit's History, the final weights, evaluate, predict, configs and every error.

Each pair of models is built once per module `K` (kerasish or Keras on its torch backend); Keras's
initial weights are copied into kerasish with `set_weights`.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import kerasish
from kerasish.distillation import DistillationLoss, Distiller, FeatureDistillation, LogitsDistillation
from tests.keras_parity import assert_close, copy_weights, keras_module

# Keras 3.15's own numpy-2 deprecation notices, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*")


@pytest.fixture
def keras():
    k = keras_module()
    k.utils.set_random_seed(0)
    k.backend.clear_session()
    return k


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 6)).astype("float32"), rng.integers(0, 3, n)


def _mlp(K, name, units, dropout=None):
    layers = [K.Input((6,)), K.layers.Dense(units, activation="relu", name="h")]
    if dropout is not None:
        layers.append(K.layers.Dropout(dropout, name="drop"))
    layers.append(K.layers.Dense(3, name="out"))
    return K.Sequential(layers, name=name)


def _compile(K, distiller, optimizer=None, **kwargs):
    extra = {} if K.__name__ == "keras" else {"device": "cpu"}
    distiller.compile(optimizer=optimizer or K.optimizers.SGD(learning_rate=0.1),
                      loss=K.losses.SparseCategoricalCrossentropy(from_logits=True), **kwargs, **extra)
    return distiller


def _pair(keras, make):
    """`make(K)` for Keras and for kerasish, kerasish's teacher and student given Keras's weights."""
    k, s = make(keras), make(kerasish)
    copy_weights(k.teacher, s.teacher)
    copy_weights(k.student, s.student)
    return k, s


def _losses(K, kind):
    D = K.distillation
    if kind == "logits_and_features":
        return dict(distillation_losses=[
            D.LogitsDistillation(temperature=2.0),
            D.FeatureDistillation(loss="mse", teacher_layer_name="out", student_layer_name="out"),
        ], distillation_loss_weights=[1.0, 0.5], student_loss_weight=0.3)
    if kind == "kl_instance":  # the softmax and temperature**2 path
        return dict(distillation_losses=D.LogitsDistillation(temperature=4.0, loss=K.losses.KLDivergence()))
    if kind == "hidden_features":  # teacher and student hidden layers of the same width
        return dict(distillation_losses=[D.LogitsDistillation(loss=K.losses.KLDivergence()),
                                         D.FeatureDistillation(loss="mae", teacher_layer_name="h",
                                                               student_layer_name="h")],
                    student_loss_weight=0.7)
    if kind == "teacher_only":
        return dict(distillation_losses=D.FeatureDistillation(loss=K.losses.CosineSimilarity()),
                    student_loss_weight=0.0)
    assert kind == "labels_only"
    return dict(distillation_losses=D.LogitsDistillation(), student_loss_weight=1.0)


KINDS = ["logits_and_features", "kl_instance", "hidden_features", "teacher_only", "labels_only"]


@pytest.mark.parametrize("kind", KINDS)
def test_fit_history_weights_and_evaluate_match_keras(keras, kind):
    x, y = _data()
    units = 4 if kind == "hidden_features" else 16

    def make(K):
        distiller = K.distillation.Distiller(_mlp(K, "teacher", units), _mlp(K, "student", 4), **_losses(K, kind))
        return _compile(K, distiller, metrics=["accuracy"])

    k, s = _pair(keras, make)
    kwargs = dict(batch_size=16, epochs=3, shuffle=False, verbose=0, validation_data=(x, y))  # 16+16+8 samples
    k_hist = k.fit(x, y, **kwargs).history
    s_hist = s.fit(x, y, **kwargs).history
    assert set(s_hist) == set(k_hist) == {
        "loss", "accuracy", "student_loss", "distillation_loss", "total_loss",
        "val_loss", "val_accuracy", "val_student_loss", "val_distillation_loss", "val_total_loss"}
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-5, atol=1e-5, err_msg=key)
    assert_close(s.student.get_weights(), k.student.get_weights())
    assert_close(s.teacher.get_weights(), k.teacher.get_weights())  # frozen in both
    assert_close(s.evaluate(x, y, verbose=0), k.evaluate(x, y, verbose=0))
    k_dict, s_dict = k.evaluate(x, y, verbose=0, return_dict=True), s.evaluate(x, y, verbose=0, return_dict=True)
    assert list(s_dict) == list(k_dict)
    np.testing.assert_allclose(list(s_dict.values()), list(k_dict.values()), rtol=1e-5, atol=1e-6)
    assert_close(s.predict(x, verbose=0), k.predict(x, verbose=0))
    assert_close(s.predict(x, verbose=0), s.student.predict(x, verbose=0))


def test_a_two_output_student_sums_its_losses():
    # Keras 3.15 fails here (its attribute tracking turns the list of losses into a TrackedList, which
    # its tree then refuses to pair with the list of targets), so the expected values are computed directly:
    # the sum over outputs of each output's mean loss (a Loss's scalar or a loss function's per-sample values).
    x, y = _data()
    y2 = np.random.default_rng(1).random((40, 2)).astype("float32")

    def two_heads(name, units):
        inp = kerasish.Input((6,))
        h = kerasish.layers.Dense(units, activation="relu", name="h")(inp)
        return kerasish.Model(inp, [kerasish.layers.Dense(3, name="cls")(h), kerasish.layers.Dense(2, name="reg")(h)],
                              name=name)

    d = Distiller(two_heads("teacher", 8), two_heads("student", 4), FeatureDistillation(loss=["mse", None]),
                  student_loss_weight=0.25)
    scce = kerasish.losses.SparseCategoricalCrossentropy(from_logits=True)
    d.compile(optimizer="adam", loss=[scce, "mse"], device="cpu")
    result = d.evaluate(x, [y, y2], batch_size=40, verbose=0, return_dict=True)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        (t_cls, _), (s_cls, s_reg) = d.teacher(xt), d.student(xt)
        student = scce(torch.from_numpy(y), s_cls) + torch.mean((s_reg - torch.from_numpy(y2)) ** 2)
        distill = torch.mean((t_cls - s_cls) ** 2)
    np.testing.assert_allclose([result["student_loss"], result["distillation_loss"], result["total_loss"]],
                               [float(student), float(distill), float(0.25 * student + 0.75 * distill)], rtol=1e-5)
    history = d.fit(x, [y, y2], epochs=2, batch_size=16, verbose=0).history
    assert np.isfinite(history["loss"]).all()


def test_model_surface_matches_keras(keras):
    def make(K):
        return K.distillation.Distiller(_mlp(K, "teacher", 16), _mlp(K, "student", 4),
                                        **_losses(K, "logits_and_features"))

    k, s = _pair(keras, make)
    assert [layer.name for layer in s.layers] == [layer.name for layer in k.layers] == [
        "teacher", "student", "teacher_multi_feature_extractor", "student_multi_feature_extractor"]
    assert s.teacher.trainable is k.teacher.trainable is False
    assert len(s.weights) == len(k.weights) == 8
    assert len(s.trainable_weights) == len(k.trainable_weights) == 4
    assert all(any(w is p for p in s.student.parameters()) for w in s.trainable_weights)
    _compile(keras, k, metrics=["accuracy"])
    _compile(kerasish, s, metrics=["accuracy"])
    assert s.metrics_names == k.metrics_names == ["loss", "compile_metrics", "student_loss", "distillation_loss",
                                                  "total_loss"]
    x, _ = _data(4)
    assert_close(s(torch.from_numpy(x)), k(x))


def test_losses_compute_as_keras_on_given_tensors(keras):
    rng = np.random.default_rng(3)
    t, st = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 4)).astype("float32")
    for make in (lambda K: K.distillation.LogitsDistillation(),
                 lambda K: K.distillation.LogitsDistillation(temperature=2.5, loss=K.losses.KLDivergence()),
                 lambda K: K.distillation.LogitsDistillation(temperature=1.5, loss="categorical_crossentropy"),
                 lambda K: K.distillation.FeatureDistillation(),
                 lambda K: K.distillation.FeatureDistillation(loss="cosine_similarity")):
        expected = make(keras).compute_loss(keras.ops.convert_to_tensor(t), keras.ops.convert_to_tensor(st))
        got = make(kerasish).compute_loss(torch.from_numpy(t), torch.from_numpy(st))
        assert got.dim() == 0
        assert_close(got, expected, atol=1e-6)
    # Nested: a list of losses, None skipping an output.
    pair = [torch.from_numpy(t), torch.from_numpy(st)]
    got = FeatureDistillation(loss=["mse", None]).compute_loss(pair, pair[::-1])
    assert_close(got, torch.mean((pair[0] - pair[1]) ** 2))


def test_configs_match_keras_and_round_trip(keras):
    for make in (lambda K: K.distillation.LogitsDistillation(temperature=2.0),
                 lambda K: K.distillation.LogitsDistillation(loss=K.losses.KLDivergence()),
                 lambda K: K.distillation.FeatureDistillation(loss=["mse", None], teacher_layer_name="a"),
                 lambda K: K.distillation.FeatureDistillation(loss=K.losses.MeanAbsoluteError())):
        k_config, s_config = make(keras).get_config(), make(kerasish).get_config()
        assert s_config == json.loads(json.dumps(k_config))
        assert kerasish.saving.serialize_keras_object(make(kerasish))["module"] == "keras.distillation"
        rebuilt = type(make(kerasish)).from_config(json.loads(json.dumps(s_config)))
        assert rebuilt.get_config() == s_config

    distiller = Distiller(_mlp(kerasish, "teacher", 16), _mlp(kerasish, "student", 4),
                          [LogitsDistillation(temperature=2.0), FeatureDistillation(teacher_layer_name="h",
                                                                                   student_layer_name="out")],
                          distillation_loss_weights=[1.0, 0.25], student_loss_weight=0.2)
    config = json.loads(json.dumps(distiller.get_config()))
    assert {k: config[k] for k in ("name", "distillation_loss_weights", "student_loss_weight")} == {
        "name": "distiller", "distillation_loss_weights": [1.0, 0.25], "student_loss_weight": 0.2}
    rebuilt = Distiller.from_config(config)
    assert type(rebuilt) is Distiller and rebuilt.student.name == "student"
    assert rebuilt.teacher.trainable is False
    assert json.loads(json.dumps(rebuilt.get_config())) == config
    # Keras reads kerasish's description of the losses.
    k_losses = [keras.saving.deserialize_keras_object(c) for c in config["distillation_losses"]]
    assert [type(v).__name__ for v in k_losses] == ["LogitsDistillation", "FeatureDistillation"]


def test_the_trained_student_saves_and_keras_loads_it(keras, tmp_path):
    x, y = _data()
    distiller = _compile(kerasish, Distiller(_mlp(kerasish, "teacher", 16), _mlp(kerasish, "student", 4),
                                             LogitsDistillation()))
    distiller.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = str(tmp_path / "student.keras")
    distiller.student.save(path)
    expected = distiller.predict(x, verbose=0)
    assert_close(kerasish.saving.load_model(path).predict(x, verbose=0), expected)
    assert_close(keras.saving.load_model(path).predict(x, verbose=0), expected)


def test_a_distiller_keras_saved_loads_in_kerasish(keras, tmp_path):
    x, y = _data()
    k = keras.distillation.Distiller(_mlp(keras, "teacher", 16), _mlp(keras, "student", 3),
                                     [keras.distillation.LogitsDistillation(temperature=2.0),
                                      keras.distillation.FeatureDistillation(teacher_layer_name="out",
                                                                             student_layer_name="out")],
                                     distillation_loss_weights=[1.0, 0.5])
    _compile(keras, k)
    k.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = str(tmp_path / "distiller.keras")
    k.save(path)
    with pytest.warns(UserWarning, match="Distiller.compile\\(\\) is custom, so loading did not call it"):
        loaded = kerasish.saving.load_model(path)  # uncompiled, with Keras's warning
    assert type(loaded) is Distiller and loaded.distillation_loss_weights == [1.0, 0.5]
    assert loaded.teacher.trainable is False
    assert [type(v).__name__ for v in loaded.distillation_losses] == ["LogitsDistillation", "FeatureDistillation"]
    assert_close(loaded.predict(x, verbose=0), k.predict(x, verbose=0))
    assert_close(loaded.teacher.get_weights(), k.teacher.get_weights())


def test_a_distiller_round_trips_through_a_kerasish_file(tmp_path):
    x, y = _data()
    d = _compile(kerasish, _small(distillation_losses=[LogitsDistillation(), FeatureDistillation(
        teacher_layer_name="out", student_layer_name="out")], distillation_loss_weights=[0.5, 2.0]))
    d.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = str(tmp_path / "distiller.kerasish")
    d.save(path)
    loaded = kerasish.saving.load_model(path, compile=False)
    assert type(loaded) is Distiller and loaded.distillation_loss_weights == [0.5, 2.0]
    assert_close(loaded.predict(x, verbose=0), d.predict(x, verbose=0))
    _compile(kerasish, loaded)
    assert_close(loaded.evaluate(x, y, verbose=0), d.evaluate(x, y, verbose=0))


def test_fit_adds_no_host_sync_per_batch(monkeypatch):
    """The CPU proxy of the no-host-sync rule: calls that would sync on CUDA do not grow with the batches."""
    counts = {"n": 0}
    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, __original=original, **kwargs):
            if "torch/optim/" not in sys._getframe(1).f_code.co_filename.replace("\\", "/"):
                counts["n"] += 1
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    x, y = _data(320)

    def syncs(batch_size, student_loss_weight):
        d = Distiller(_mlp(kerasish, "teacher", 16), _mlp(kerasish, "student", 4),
                      [LogitsDistillation(), FeatureDistillation(teacher_layer_name="out", student_layer_name="out")],
                      student_loss_weight=student_loss_weight)
        _compile(kerasish, d, metrics=["accuracy"])
        d.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
        before = counts["n"]
        d.fit(x, y, epochs=2, batch_size=batch_size, validation_split=0.25, verbose=0)
        return counts["n"] - before

    for weight in (0.5, 0.0, 1.0):  # 0 and 1 use the zero made once per dtype and device
        assert syncs(8, weight) == syncs(80, weight)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_on_cuda_never_syncs_unlabelled():
    from kerasish.utils import host_sync

    x, y = _data(320)
    d = Distiller(_mlp(kerasish, "teacher", 16), _mlp(kerasish, "student", 4),
                  [LogitsDistillation(), FeatureDistillation(teacher_layer_name="h", student_layer_name="h")],
                  student_loss_weight=0.0)
    d.compile(optimizer="adam", loss=kerasish.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"], device="cuda")
    d.fit(x, y, epochs=1, batch_size=32, verbose=0)
    torch.cuda.synchronize()
    before = host_sync.labelled_count()
    torch.cuda.set_sync_debug_mode("error")
    try:
        history = d.fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert host_sync.labelled_count() > before
    assert np.isfinite(history.history["val_total_loss"]).all()


# ----------------------------------------------------------------- deliberate differences from Keras
def test_student_features_use_the_steps_training_flag_in_evaluate():
    # Keras computes the student's named-layer features with training=True even in evaluate, so a
    # student with dropout evaluates differently each time; kerasish evaluates them in inference mode.
    x, y = _data()
    d = _compile(kerasish, Distiller(_mlp(kerasish, "teacher", 16), _mlp(kerasish, "student", 16, dropout=0.9),
                                     FeatureDistillation(teacher_layer_name="h", student_layer_name="drop"),
                                     student_loss_weight=0.0))
    first, second = d.evaluate(x, y, verbose=0), d.evaluate(x, y, verbose=0)
    assert first == second
    with torch.no_grad():  # dropout is the identity in inference
        xt = torch.from_numpy(x)
        expected = torch.mean((d.teacher.get_layer("h")(xt) - d.student.get_layer("h")(xt)) ** 2)
    np.testing.assert_allclose(first[0], float(expected), rtol=1e-5)


def test_a_student_layer_name_alone_is_read():
    # Keras reads the student's final output when only student_layer_name is given; kerasish reads the layer.
    x, y = _data()
    d = _compile(kerasish, Distiller(_mlp(kerasish, "teacher", 16), _mlp(kerasish, "student", 3),
                                     FeatureDistillation(student_layer_name="h"), student_loss_weight=0.0))
    result = d.evaluate(x, y, batch_size=40, verbose=0, return_dict=True)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        expected = torch.mean((d.teacher(xt) - d.student.get_layer("h")(xt)) ** 2)
    np.testing.assert_allclose(result["distillation_loss"], float(expected), rtol=1e-5)


@pytest.mark.parametrize("loss", ["categorical_hinge", "loss_object"])
def test_a_kerasish_file_loads_compiled_by_default(tmp_path, loss):
    # Keras's own base compile sees loss=None for a distiller; the .kerasish file must still record the
    # student's loss, so that load_model(path) (compile=True) gives a distiller that evaluates and trains.
    x, y = _data()
    if loss == "loss_object":
        loss = kerasish.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        y = np.eye(3, dtype="float32")[y]  # categorical_hinge takes one-hot targets (and reads logits)
    d = _small(distillation_losses=LogitsDistillation())
    d.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    d.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = str(tmp_path / "distiller.kerasish")
    d.save(path)
    loaded = kerasish.saving.load_model(path)
    results = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert all(np.isfinite(v) for v in results.values()) and results == d.evaluate(x, y, verbose=0, return_dict=True)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)


def test_a_kerasish_file_with_a_callable_student_loss_says_to_load_uncompiled(tmp_path):
    x, y = _data()
    d = _small(distillation_losses=LogitsDistillation())
    d.compile(optimizer="adam", loss=lambda t, p: kerasish.losses.sparse_categorical_crossentropy(t, p))
    d.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = str(tmp_path / "distiller.kerasish")
    d.save(path)
    with pytest.raises(ValueError, match=r"Load with compile=False"):
        kerasish.saving.load_model(path)
    assert_close(kerasish.saving.load_model(path, compile=False).predict(x, verbose=0), d.predict(x, verbose=0))


def test_a_student_loss_that_does_not_fit_the_outputs_says_so():
    x, y = _data()
    d = _small(distillation_losses=LogitsDistillation())
    with pytest.raises(ValueError, match=r"received loss=\[None\], which holds no loss at all"):
        d.compile(optimizer="adam", loss=[None])
    d.compile(optimizer="adam", loss=["mse", None])
    with pytest.raises(ValueError, match=r"student loss does not match the student's outputs and targets .* the loss "
                                         r"is \['\*', '\*'\], the outputs a single one"):
        d.fit(x, y, epochs=1, verbose=0)


def _small(**kwargs):
    return Distiller(_mlp(kerasish, "teacher", 16), _mlp(kerasish, "student", 4), **kwargs)


def test_what_keras_silently_drops_is_an_error_here():
    with pytest.raises(ValueError, match=r"distillation_loss_weights=\[0.5\] with a single distillation loss"):
        _small(distillation_losses=LogitsDistillation(), distillation_loss_weights=[0.5])
    d = _small(distillation_losses=LogitsDistillation())
    with pytest.raises(ValueError, match=r"received loss_weights=\[1.0\], which a distiller does not use"):
        d.compile(loss="mse", loss_weights=[1.0])
    _compile(kerasish, d)
    x, y = _data()
    with pytest.raises(ValueError, match="received sample weights .* Remove sample_weight/class_weight"):
        d.fit(x, y, sample_weight=np.ones(40), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="received sample weights"):
        d.fit(x, y, class_weight={0: 1.0, 1: 2.0, 2: 1.0}, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"no targets \(y=None\) while student_loss_weight=0.5"):
        d.evaluate(x, verbose=0)
    # With the student loss off, no targets are needed.
    teacher_only = _compile(kerasish, _small(distillation_losses=LogitsDistillation(), student_loss_weight=0.0))
    assert np.isfinite(teacher_only.evaluate(x, verbose=0, return_dict=True)["total_loss"])


# ----------------------------------------------------------------- errors Keras raises too
def _both_raise(keras, make, match):
    """`make(K)` raises ValueError in Keras and in kerasish; kerasish's message matches `match`."""
    with pytest.raises(ValueError):
        make(keras)
    with pytest.raises(ValueError, match=match):
        make(kerasish)


def test_constructor_errors_match_keras(keras):
    def models(K, teacher_in=6, student_in=6, teacher_out=3, student_out=3, student_dtype="float32"):
        t = K.Sequential([K.Input((teacher_in,)), K.layers.Dense(teacher_out)], name="teacher")
        s = K.Sequential([K.Input((student_in,), dtype=student_dtype),
                          K.layers.Dense(student_out, dtype=student_dtype)], name="student")
        return t, s

    D = lambda K: K.distillation  # noqa: E731
    cases = [
        (lambda K: D(K).Distiller("teacher", models(K)[1], D(K).LogitsDistillation()),
         "teacher must be a kerasish.Model, received str"),
        (lambda K: D(K).Distiller(models(K)[0], 3, D(K).LogitsDistillation()),
         "student must be a kerasish.Model, received int"),
        (lambda K: D(K).Distiller(*models(K, student_in=5), D(K).LogitsDistillation()),
         r"input shapes differ: teacher \(None, 6\), student \(None, 5\)"),
        (lambda K: D(K).Distiller(*models(K, student_out=4), D(K).LogitsDistillation()),
         r"output shapes differ: teacher \(None, 3\), student \(None, 4\)"),
        (lambda K: D(K).Distiller(*models(K, student_dtype="float64"), D(K).LogitsDistillation()),
         "input dtypes differ: teacher float32, student float64"),
        (lambda K: D(K).Distiller(*models(K), D(K).LogitsDistillation(), student_loss_weight="half"),
         "student_loss_weight must be a number between 0 and 1, received 'half' of type str"),
        (lambda K: D(K).Distiller(*models(K), D(K).LogitsDistillation(), student_loss_weight=1.5),
         "student_loss_weight must be between 0.0 and 1.0, received 1.5"),
        (lambda K: D(K).Distiller(*models(K), None), "received distillation_losses=None"),
        (lambda K: D(K).Distiller(*models(K), [D(K).LogitsDistillation()] * 2, distillation_loss_weights=[1.0]),
         "received 1 distillation_loss_weights for 2 distillation_losses"),
        (lambda K: D(K).Distiller(*models(K), D(K).FeatureDistillation(teacher_layer_name="nope")),
         "In the teacher model 'teacher': .*'nope'"),
        (lambda K: D(K).Distiller(*models(K), D(K).FeatureDistillation(student_layer_name="nope")),
         "In the student model 'student': .*'nope'"),
    ]
    for make, match in cases:
        _both_raise(keras, make, match)


def test_feature_distillation_by_layer_name_needs_symbolic_models(keras):
    def subclassed(K):
        class Net(K.Model):
            def __init__(self):
                super().__init__(name="net")
                self.dense = K.layers.Dense(3, name="d")

            def call(self, inputs):
                return self.dense(inputs)

        return Net()

    _both_raise(keras, lambda K: K.distillation.Distiller(
        _mlp(K, "teacher", 4), subclassed(K), K.distillation.FeatureDistillation(teacher_layer_name="h")),
        "but the student model has none .* use LogitsDistillation")
    # Without layer names a subclassed pair is fine, as in Keras.
    x, y = _data()
    d = _compile(kerasish, Distiller(subclassed(kerasish), subclassed(kerasish), FeatureDistillation()))
    assert np.isfinite(d.fit(x, y, epochs=1, verbose=0).history["loss"]).all()


def test_loss_constructor_errors_match_keras(keras):
    cases = [
        (lambda K: K.distillation.FeatureDistillation(loss=None), "holds no loss at all"),
        (lambda K: K.distillation.FeatureDistillation(loss=[None, None]), r"FeatureDistillation received loss=\[None"),
        (lambda K: K.distillation.LogitsDistillation(loss=None), "LogitsDistillation received loss=None"),
        (lambda K: K.distillation.LogitsDistillation(temperature="3"),
         "temperature must be a number, received '3' of type str"),
        (lambda K: K.distillation.LogitsDistillation(temperature=0.0),
         "temperature must be positive, received temperature=0.0"),
        (lambda K: K.distillation.LogitsDistillation(loss="no_such_loss"), "Unknown loss 'no_such_loss'"),
    ]
    for make, match in cases:
        _both_raise(keras, make, match)


def test_validate_outputs_errors_match_keras(keras):
    a, b = np.ones((2, 3), "float32"), np.zeros((2, 3), "float32")
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)

    with pytest.raises(ValueError):
        keras.distillation.LogitsDistillation().validate_outputs(a, {"output": b})
    with pytest.raises(ValueError, match="outputs have different structures"):
        LogitsDistillation().validate_outputs(ta, {"output": tb})
    # Keras 3.15 raises AttributeError here (its message calls a `tree.structure` that does not exist).
    with pytest.raises(AttributeError, match="structure"):
        keras.distillation.FeatureDistillation(loss=["mse", "mse"]).validate_outputs(a, b)
    with pytest.raises(ValueError, match=r"loss has the structure \['\*', '\*'\] but the features have"):
        FeatureDistillation(loss=["mse", "mse"]).validate_outputs(ta, tb)


def test_compile_errors_match_keras(keras):
    def make(K):
        return K.distillation.Distiller(_mlp(K, "teacher", 8), _mlp(K, "student", 4),
                                        K.distillation.LogitsDistillation())

    k, s = make(keras), make(kerasish)
    with pytest.raises(ValueError):
        k.compile(optimizer="adam", loss=None)
    with pytest.raises(ValueError, match="received loss=None: the distiller needs the student's own loss"):
        s.compile(optimizer="adam", loss=None)
    with pytest.raises(ValueError):
        k.compile(optimizer="adam", loss="mse", metrics="accuracy")
    with pytest.raises(ValueError, match=r"metrics as a list or tuple, received 'accuracy' .* metrics=\['accuracy'\]"):
        s.compile(optimizer="adam", loss="mse", metrics="accuracy")


def test_a_custom_loss_that_is_not_a_scalar_fails_as_in_keras(keras):
    x, y = _data()

    def make(K):
        class PerSample(K.distillation.DistillationLoss):
            def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
                return ((teacher_outputs - student_outputs) ** 2).sum(-1)

        return _compile(K, K.distillation.Distiller(_mlp(K, "teacher", 8), _mlp(K, "student", 4), PerSample()))

    with pytest.raises(ValueError):
        make(keras).fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"PerSample.compute_loss returned \(32,\) where a scalar tensor was expected"):
        make(kerasish).fit(x, y, epochs=1, verbose=0)


def test_features_of_different_shapes_fail_naming_both(keras):
    x, y = _data()

    def make(K):
        losses = K.distillation.FeatureDistillation(teacher_layer_name="h", student_layer_name="h")
        return _compile(K, K.distillation.Distiller(_mlp(K, "teacher", 16), _mlp(K, "student", 4), losses))

    with pytest.raises(RuntimeError):  # torch's own message in Keras
        make(keras).fit(x, y, epochs=1, verbose=0)
    with pytest.raises(RuntimeError, match=r"teacher features of shape \(32, 16\) with student features of shape "
                                           r"\(32, 4\).*Pick layers whose outputs have the same shape"):
        make(kerasish).fit(x, y, epochs=1, verbose=0)


def test_the_base_loss_needs_compute_loss():
    with pytest.raises(NotImplementedError, match="must override it and return a scalar tensor"):
        DistillationLoss().compute_loss(torch.ones(1), torch.ones(1))


def test_a_custom_distillation_loss_trains_the_student():
    class MeanGap(DistillationLoss):
        def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
            return (teacher_outputs - student_outputs).abs().mean()

    x, y = _data()
    d = _compile(kerasish, _small(distillation_losses=MeanGap(), student_loss_weight=0.0),
                 optimizer=kerasish.optimizers.Adam(0.05))
    history = d.fit(x, y, epochs=5, batch_size=8, verbose=0).history
    assert history["distillation_loss"][-1] < history["distillation_loss"][0]
    np.testing.assert_allclose(history["student_loss"], 0.0)
    np.testing.assert_allclose(history["total_loss"], history["distillation_loss"], rtol=1e-6)


def test_namespace_is_lazy_and_complete():
    import kerasish.distillation as D

    assert sorted(D.__all__) == ["DistillationLoss", "Distiller", "FeatureDistillation", "LogitsDistillation"]
    assert kerasish.distillation is D
    assert "distillation" in kerasish.__all__


def test_saving_a_distiller_as_keras_names_what_to_save_instead(tmp_path):
    d = _small(distillation_losses=LogitsDistillation())
    d(_data()[0][:2])
    path = tmp_path / "distiller.keras"
    with pytest.raises(ValueError, match=r"does not write a Distiller to Keras's format \(.keras\) yet \(model "
                                         r"'distiller'\).* distiller.student\) as .keras"):
        d.save(str(path))
    assert not path.exists()
