"""When an Embedding makes its weight, against Keras 3 on torch: unbuilt until its first call,
`build()` or `model.build(shape)` (or at once with `weights=`), and what a user sees before and after."""

import json

import numpy as np
import pytest
import torch

import kerasish
from kerasish.layers import Embedding, ReversibleEmbedding
from tests.keras_parity import assert_close, keras_module, to_numpy

# Keras 3's own NumPy 2 deprecation notice, printed on every conversion of its variables.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

IDS = np.array([[3, 0, 7], [9, 1, 0]])


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def test_a_new_embedding_is_unbuilt_and_weightless_as_in_keras():
    k = keras_module()
    theirs, ours = k.layers.Embedding(10, 4), Embedding(10, 4)
    assert ours.built is theirs.built is False
    assert ours.weights == [] and len(theirs.weights) == 0
    assert ours.trainable_weights == [] and ours.non_trainable_weights == []
    assert ours.get_weights() == theirs.get_weights() == []
    assert list(ours.parameters()) == []
    assert not hasattr(ours, "embeddings") and not hasattr(theirs, "embeddings")
    assert ours.compute_output_shape((None, 3)) == theirs.compute_output_shape((None, 3)) == (None, 3, 4)
    ours.set_weights([])  # nothing to set, as Keras accepts too
    theirs.set_weights([])
    assert ours.built is False


def test_an_unbuilt_embedding_raises_as_keras_does():
    k = keras_module()
    theirs, ours = k.layers.Embedding(10, 4), Embedding(10, 4)
    with pytest.raises(ValueError, match="isn't built"):
        theirs.count_params()
    with pytest.raises(ValueError, match="'embedding.*' is not built yet, so it has no weights to count"):
        ours.count_params()
    with pytest.raises(AttributeError):
        theirs.embeddings
    with pytest.raises(AttributeError, match=r"is not built yet, so it has no `embeddings`.*layer\.build\(\)"):
        ours.embeddings
    table = np.zeros((10, 4), "float32")
    with pytest.raises(ValueError, match="expecting 0 weights"):
        theirs.set_weights([table])
    with pytest.raises(ValueError, match=r"is not built yet, so it expects 0 weight arrays, received 1\. "
                                         r"Build it first with layer\.build\(\)"):
        ours.set_weights([table])
    with pytest.raises(ValueError, match="received an object of type ndarray"):
        ours.set_weights(table)
    assert ours.built is False  # a refused set_weights builds nothing


def test_build_without_a_shape_makes_keras_s_weight():
    k = keras_module()
    theirs, ours = k.layers.Embedding(10, 4), Embedding(10, 4)
    theirs.build()
    ours.build()
    assert ours.built is theirs.built is True
    assert [w.name for w in ours.weights] == [w.path.split("/")[-1] for w in theirs.weights] == ["embeddings"]
    assert ours.count_params() == theirs.count_params() == 40
    assert ours.embeddings.shape == tuple(theirs.embeddings.shape) == (10, 4)
    assert np.abs(ours.get_weights()[0]).max() <= 0.05  # Keras's uniform(-0.05, 0.05)
    before = ours.embeddings
    ours.build((None, 7))  # a second build keeps the weight, as Keras's
    theirs.build((None, 7))
    assert ours.embeddings is before and ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    assert_close(ours(torch.tensor(IDS)), theirs(IDS))


def test_the_first_call_builds_it_and_the_outputs_match_keras():
    k = keras_module()
    theirs, ours = k.layers.Embedding(10, 4, mask_zero=True), Embedding(10, 4, mask_zero=True)
    # The mask needs no weight: both give it before the layer is built.
    assert to_numpy(theirs.compute_mask(IDS)).tolist() == ours.compute_mask(torch.tensor(IDS)).tolist()
    assert ours.built is theirs.built is False
    theirs(IDS)
    out = ours(torch.tensor(IDS))
    assert ours.built is theirs.built is True
    assert ours.count_params() == theirs.count_params() == 40
    assert out.shape == (2, 3, 4) and out._keras_mask.tolist() == (IDS != 0).tolist()
    ours.set_weights(theirs.get_weights())
    assert_close(ours(torch.tensor(IDS)), theirs(IDS))


def test_weights_argument_and_trainable_false_build_at_once_as_keras():
    k = keras_module()
    table = np.random.default_rng(0).normal(size=(6, 2)).astype("float32")
    theirs, ours = k.layers.Embedding(6, 2, weights=table), Embedding(6, 2, weights=table)
    assert ours.built is theirs.built is True
    assert_close(ours.get_weights()[0], to_numpy(theirs.get_weights()[0]))
    assert_close(ours(torch.tensor([[5, 1]])), theirs(np.array([[5, 1]])))
    frozen, k_frozen = Embedding(6, 2, trainable=False), k.layers.Embedding(6, 2, trainable=False)
    frozen.build()
    k_frozen.build()
    assert len(frozen.trainable_weights) == len(k_frozen.trainable_weights) == 0
    assert len(frozen.non_trainable_weights) == len(k_frozen.non_trainable_weights) == 1


def test_an_unbuilt_config_round_trip_stays_unbuilt():
    ours = Embedding(10, 4, mask_zero=True, embeddings_constraint="unit_norm")
    config = ours.get_config()
    again = Embedding.from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config and again.built is False
    again.build()
    assert getattr(again.embeddings, "constraint", None) is not None  # the constraint reaches the new weight


def _rnn_example(lib):
    lib.backend.clear_session()  # names restart at 'embedding', 'lstm' ... in both libraries
    return lib.Sequential([lib.layers.Embedding(1000, 64), lib.layers.LSTM(8), lib.layers.Dense(2)])


def test_an_unbuilt_model_s_summary_weights_and_count_match_keras():
    k = keras_module()
    theirs, ours = _rnn_example(k), _rnn_example(kerasish)
    assert ours.built is theirs.built is False
    assert ours.weights == [] and len(theirs.weights) == 0
    assert all(layer.built is False for layer in ours.layers)
    text = _summary(ours)
    assert text == _summary(theirs)
    assert text.count("0 (unbuilt)") == 3 and "64,000" not in text

    theirs.build((None, 7))
    ours.build((None, 7))
    text = _summary(ours)
    assert text == _summary(theirs) and "64,000" in text
    assert ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    ids = np.random.default_rng(1).integers(0, 1000, (3, 7))
    assert_close(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0), atol=1e-5)


def test_fit_builds_an_embedding_inside_a_subclassed_model_and_trains_it():
    layers = kerasish.layers

    class Bag(kerasish.Model):
        def __init__(self):
            super().__init__()
            self.embed = layers.Embedding(20, 4)
            self.pool = layers.GlobalAveragePooling1D()
            self.out = layers.Dense(1)

        def call(self, x):
            return self.out(self.pool(self.embed(x)))

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 20, (32, 5)), rng.normal(size=(32, 1)).astype("float32")
    model = Bag()
    assert model.embed.built is False
    model.compile("sgd", "mse")
    model.fit(x[:8], y[:8], epochs=1, verbose=0)  # the first call builds the table
    table = model.embed.get_weights()[0].copy()
    model.fit(x, y, epochs=2, verbose=0)
    assert model.embed.built is True and model.embed.get_weights()[0].shape == (20, 4)
    assert not np.allclose(table, model.embed.get_weights()[0])  # the optimizer sees the late weight


def test_reversible_embedding_is_unbuilt_until_called_as_in_keras():
    k = keras_module()
    theirs = k.layers.ReversibleEmbedding(7, 3, tie_weights=False)
    ours = ReversibleEmbedding(7, 3, tie_weights=False)
    assert ours.built is theirs.built is False and ours.weights == []
    theirs.build()
    ours.build()
    assert [w.name for w in ours.weights] == [w.path.split("/")[-1] for w in theirs.weights]
    ours.build()  # a second build adds no second reverse weight
    assert ours.count_params() == theirs.count_params() == 2 * 7 * 3
    ours.set_weights(theirs.get_weights())
    vectors = ours(torch.tensor(IDS[:, :2] % 7))
    assert_close(ours(vectors, reverse=True), theirs(theirs(IDS[:, :2] % 7), reverse=True))


def test_load_state_dict_builds_an_unbuilt_layer():
    src = Embedding(10, 4)
    src.build()
    dst = Embedding(10, 4)
    dst.load_state_dict(src.state_dict())
    assert dst.built
    np.testing.assert_array_equal(dst.get_weights()[0], src.get_weights()[0])


def test_build_config_of_a_layer_built_without_a_shape_is_keras_s():
    k = keras_module()
    configs = {}
    for lib in (k, kerasish):
        layer = lib.layers.Embedding(10, 4)
        layer.build()
        configs[lib] = layer.get_build_config()
        again = lib.layers.Embedding(10, 4)
        again.build_from_config(configs[lib])
        assert again.built
    assert configs[kerasish] == configs[k]
