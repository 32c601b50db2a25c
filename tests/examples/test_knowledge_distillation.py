"""keras-io's example "Knowledge Distillation" (`examples/vision/knowledge_distillation.py`, the Keras 3
text), run on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`)
and the lines marked `# changed:`: Fashion-MNIST read from disk stands in for the MNIST download,
sliced to 64 training and 32 test images and fewer epochs so that the test takes seconds; Keras's
initial weights are copied in (the clone's too), `shuffle=False` is passed and the progress is
printed one line an epoch. Keras 3 (torch backend, `tests/keras_parity.py`) runs the same code. The
`Distiller` overrides `compile` with arguments of its own and `compute_loss` written the Keras 3.0
way (no `training` argument), so what is compared is the loss that `fit` and `evaluate` report for
it, its compiled metric, the weights of the student (and of the teacher, which the example leaves
trainable), and the teacher's and scratch student's runs, with the printed lines and summaries.
"""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


class _Example:
    """The example's Distiller and models, written against `keras` (either library)."""

    def __init__(self, keras):
        layers, ops = keras.layers, keras.ops
        keras.backend.clear_session()  # changed: names restart at 'conv2d' in both libraries

        class Distiller(keras.Model):
            def __init__(self, student, teacher):
                super().__init__()
                self.teacher = teacher
                self.student = student

            def compile(
                self,
                optimizer,
                metrics,
                student_loss_fn,
                distillation_loss_fn,
                alpha=0.1,
                temperature=3,
            ):
                super().compile(optimizer=optimizer, metrics=metrics)
                self.student_loss_fn = student_loss_fn
                self.distillation_loss_fn = distillation_loss_fn
                self.alpha = alpha
                self.temperature = temperature

            def compute_loss(
                self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False
            ):
                teacher_pred = self.teacher(x, training=False)
                student_loss = self.student_loss_fn(y, y_pred)

                distillation_loss = self.distillation_loss_fn(
                    ops.softmax(teacher_pred / self.temperature, axis=1),
                    ops.softmax(y_pred / self.temperature, axis=1),
                ) * (self.temperature**2)

                loss = self.alpha * student_loss + (1 - self.alpha) * distillation_loss
                return loss

            def call(self, x):
                return self.student(x)

        # Create the teacher
        teacher = keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(256, (3, 3), strides=(2, 2), padding="same"),
                layers.LeakyReLU(negative_slope=0.2),
                layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
                layers.Conv2D(512, (3, 3), strides=(2, 2), padding="same"),
                layers.Flatten(),
                layers.Dense(10),
            ],
            name="teacher",
        )

        # Create the student
        student = keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
                layers.LeakyReLU(negative_slope=0.2),
                layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
                layers.Conv2D(32, (3, 3), strides=(2, 2), padding="same"),
                layers.Flatten(),
                layers.Dense(10),
            ],
            name="student",
        )

        # Clone student for later comparison
        student_scratch = keras.models.clone_model(student)

        self.Distiller, self.teacher, self.student, self.student_scratch = Distiller, teacher, student, student_scratch


def _prepare_the_dataset(fashion_dir, monkeypatch):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))  # changed: the files on disk
    # Prepare the train and test dataset.
    batch_size = 64  # noqa: F841 - the example defines it and fits with the default 32
    (x_train, y_train), (x_test, y_test) = kerasish.datasets.fashion_mnist.load_data()  # changed: offline
    x_train, y_train, x_test, y_test = x_train[:64], y_train[:64], x_test[:32], y_test[:32]  # changed: a slice

    # Normalize data
    x_train = x_train.astype("float32") / 255.0
    x_train = np.reshape(x_train, (-1, 28, 28, 1))

    x_test = x_test.astype("float32") / 255.0
    x_test = np.reshape(x_test, (-1, 28, 28, 1))
    return (x_train, y_train), (x_test, y_test)


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def _run(keras, data, weights):
    (x_train, y_train), (x_test, y_test) = data
    ex = _Example(keras)
    teacher, student, student_scratch = ex.teacher, ex.student, ex.student_scratch
    for model, w in zip((teacher, student, student_scratch), weights):
        model.set_weights(w)  # changed: Keras's initial weights in all three
    scores = []

    # Train teacher as usual
    teacher.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )

    # Train and evaluate teacher on data.
    h_teacher = teacher.fit(x_train, y_train, epochs=1, shuffle=False, verbose=2)  # changed: 5 epochs; as above
    scores.append(teacher.evaluate(x_test, y_test, verbose=0))  # changed: kept, not printed

    # Initialize and compile distiller
    distiller = ex.Distiller(student=student, teacher=teacher)
    distiller.compile(
        optimizer=keras.optimizers.Adam(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True
        ),
        distillation_loss_fn=keras.losses.KLDivergence(),
        alpha=0.1,
        temperature=10,
    )

    # Distill teacher to student
    h_distiller = distiller.fit(x_train, y_train, epochs=2, shuffle=False, verbose=2)  # changed: 3 epochs; as above

    # Evaluate student on test dataset
    scores.append(distiller.evaluate(x_test, y_test, verbose=0))  # changed: kept, not printed

    # Train student as doen usually
    student_scratch.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )

    # Train and evaluate student trained from scratch.
    h_scratch = student_scratch.fit(x_train, y_train, epochs=1, shuffle=False, verbose=2)  # changed: 3; as above
    scores.append(student_scratch.evaluate(x_test, y_test, verbose=0))  # changed: kept, not printed
    return distiller, (h_teacher, h_distiller, h_scratch), scores


def test_the_teacher_and_student_summaries_are_keras_summaries():
    k = keras_module()
    texts = {}
    for lib in (k, kerasish):
        ex = _Example(lib)
        texts[lib] = [(_summary(m), m.count_params()) for m in (ex.teacher, ex.student, ex.student_scratch)]
    assert "Total params: 1,433,610" in texts[kerasish][0][0]
    assert "Total params: 20,490" in texts[kerasish][1][0]
    assert texts[kerasish] == texts[k]


@pytest.mark.slow  # about 30 s on two CPU cores: the example's 1.4M-parameter teacher runs in both libraries
def test_distillation_fits_and_evaluates_as_keras(fashion_dir, monkeypatch, capsys):
    k = keras_module()
    data = _prepare_the_dataset(fashion_dir, monkeypatch)
    ex = _Example(k)
    weights = [m.get_weights() for m in (ex.teacher, ex.student, ex.student_scratch)]
    capsys.readouterr()
    runs, printed = {}, {}
    for lib in (k, kerasish):
        runs[lib] = _run(lib, data, weights)
        printed[lib] = text_and_numbers(capsys.readouterr().out.splitlines())
    (ours, h_ours, s_ours), (theirs, h_theirs, s_theirs) = runs[kerasish], runs[k]
    for mine, keras_h in zip(h_ours, h_theirs):
        assert list(mine.history) == list(keras_h.history) == ["loss", "sparse_categorical_accuracy"]
        for key in mine.history:
            np.testing.assert_allclose(mine.history[key], keras_h.history[key], rtol=1e-4, atol=1e-6)
    # The distiller's loss is its compute_loss (alpha-weighted student and distillation losses), not
    # the teacher's cross-entropy: far below it from the first epoch.
    assert h_ours[1].history["loss"][0] < 0.5 * h_ours[0].history["loss"][0]
    for mine, keras_s in zip(s_ours, s_theirs):
        np.testing.assert_allclose(mine, keras_s, rtol=1e-4, atol=1e-6)
    assert printed[kerasish][0] == printed[k][0]
    # One line for the teacher's single epoch (no "Epoch 1/1" header, as in Keras), then the distiller's two.
    assert printed[kerasish][0][:3] == ["#/# - <time> - <time>/step - loss: # - sparse_categorical_accuracy: #",
                                        "Epoch #/#", "#/# - <time> - <time>/step - loss: # - "
                                                     "sparse_categorical_accuracy: #"]
    np.testing.assert_allclose(printed[kerasish][1], printed[k][1], rtol=1e-4, atol=1.5e-4)
    # The student learned from the distillation; the teacher, left trainable, moved with it (as in Keras).
    assert_close(ours.student.get_weights(), theirs.student.get_weights(), atol=1e-5, rtol=1e-4)
    assert_close(ours.teacher.get_weights(), theirs.teacher.get_weights(), atol=1e-5, rtol=1e-4)
    assert_close(ours.predict(data[1][0], verbose=0), theirs.predict(data[1][0], verbose=0), atol=1e-4, rtol=1e-4)


def test_the_example_compute_loss_without_training_argument_gives_keras_loss(fashion_dir, monkeypatch):
    # The example's override predates Keras 3.3's `training` argument: Keras calls it without one.
    k = keras_module()
    (x_train, y_train), _ = _prepare_the_dataset(fashion_dir, monkeypatch)
    ex = _Example(k)
    weights = [m.get_weights() for m in (ex.teacher, ex.student)]
    results = {}
    for lib in (k, kerasish):
        ex = _Example(lib)
        ex.teacher.set_weights(weights[0])
        ex.student.set_weights(weights[1])
        distiller = ex.Distiller(student=ex.student, teacher=ex.teacher)
        distiller.compile(optimizer=lib.optimizers.Adam(), metrics=[lib.metrics.SparseCategoricalAccuracy()],
                          student_loss_fn=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
                          distillation_loss_fn=lib.losses.KLDivergence(), alpha=0.1, temperature=10)
        history = distiller.fit(x_train[:32], y_train[:32], batch_size=16, epochs=1, shuffle=False, verbose=0)
        results[lib] = (history.history, distiller.evaluate(x_train[32:48], y_train[32:48], verbose=0))
    assert list(results[kerasish][0]) == list(results[k][0]) == ["loss", "sparse_categorical_accuracy"]
    for key in results[k][0]:
        np.testing.assert_allclose(results[kerasish][0][key], results[k][0][key], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(results[kerasish][1], results[k][1], rtol=1e-4, atol=1e-6)


def test_compute_loss_with_a_training_argument_is_told_whether_it_trains(fashion_dir, monkeypatch):
    # Keras 3.3+ passes `training` to an override that declares it (True in fit, False in evaluate).
    k = keras_module()
    (x_train, y_train), _ = _prepare_the_dataset(fashion_dir, monkeypatch)
    seen = {}
    for lib in (k, kerasish):
        ex = _Example(lib)
        calls = seen[lib] = []

        class Recording(ex.Distiller):
            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
                calls.append(training)
                return super().compute_loss(x, y, y_pred, sample_weight)

        distiller = Recording(student=ex.student, teacher=ex.teacher)
        distiller.compile(optimizer=lib.optimizers.Adam(), metrics=None,
                          student_loss_fn=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
                          distillation_loss_fn=lib.losses.KLDivergence())
        distiller.fit(x_train[:32], y_train[:32], batch_size=16, epochs=1, verbose=0)
        distiller.evaluate(x_train[:16], y_train[:16], verbose=0)
    assert seen[kerasish] == seen[k] == [True, True, False]


def test_the_distiller_summary_is_keras_summary(fashion_dir, monkeypatch):
    k = keras_module()
    (x_train, _), _ = _prepare_the_dataset(fashion_dir, monkeypatch)
    texts = {}
    for lib in (k, kerasish):
        ex = _Example(lib)
        distiller = ex.Distiller(student=ex.student, teacher=ex.teacher)
        distiller(x_train[:2])
        texts[lib] = _summary(distiller)
    assert texts[kerasish] == texts[k]
