"""predict and evaluate from another thread while fit runs (issue 22): no crash, no exception.

What is supported: one `fit` at a time per model, with `predict`/`evaluate` calls on the same
model from other threads. kerasish layers read the training flag from a thread-local call
context, so a concurrent `predict` runs them in inference mode while `fit` trains; `predict`
moves nothing when the model is already on its device (it used to call `model.to(device)` on
every call, rewriting parameters under the running backward: a segfault or `out_param.grad must
not be None`).
"""

import threading

import numpy as np

import kerasish
from kerasish import layers


def test_predict_in_a_thread_while_fit_runs_200_times():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x.sum(1, keepdims=True) > 0).astype("float32")
    model = kerasish.Sequential([layers.Input((8,)), layers.Dense(32, activation="relu"), layers.BatchNormalization(),
                                 layers.Dropout(0.2), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", device="cpu")
    model.fit(x, y, epochs=1, verbose=0)
    errors = []
    done = threading.Event()

    def train():
        try:
            model.fit(x, y, epochs=40, batch_size=16, verbose=0)
        except Exception as e:  # noqa: BLE001 - recorded and asserted below
            errors.append(e)
        finally:
            done.set()

    worker = threading.Thread(target=train)
    worker.start()
    predictions = 0
    while predictions < 200:
        try:
            out = model.predict(x[:32], verbose=0)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
            break
        assert out.shape == (32, 1) and np.isfinite(out).all()
        predictions += 1
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert errors == []
    assert predictions == 200
