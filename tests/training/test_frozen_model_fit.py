"""fit on a model without trainable weights: Keras 3's warning, no update, the same History."""

import warnings

import numpy as np

import kerasish
from tests.keras_parity import copy_weights, keras_module


def _fit(lib, model):
    model.trainable = False
    model.compile(optimizer="adam", loss="mse")
    x = np.linspace(0, 1, 24, dtype="float32").reshape(8, 3)
    y = np.ones((8, 2), "float32")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    messages = [str(w.message) for w in seen if "trainable weights" in str(w.message)]
    return history.history, messages, int(np.asarray(model.optimizer.iterations))


def test_a_frozen_model_warns_and_trains_nothing_as_keras():
    k = keras_module()
    theirs = k.Sequential([k.Input((3,)), k.layers.Dense(2)])
    ours = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(2)])
    copy_weights(theirs, ours)
    before = [w.copy() for w in ours.get_weights()]
    (h_ours, m_ours, it_ours), (h_theirs, m_theirs, it_theirs) = _fit(kerasish, ours), _fit(k, theirs)
    assert m_ours == m_theirs == ["The model does not have any trainable weights."] * 4  # one per step
    np.testing.assert_allclose(h_ours["loss"], h_theirs["loss"], rtol=1e-6)
    assert it_ours == it_theirs
    for a, b in zip(before, ours.get_weights()):
        np.testing.assert_array_equal(a, b)
