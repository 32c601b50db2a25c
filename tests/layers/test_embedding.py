"""Embedding and Masking: Keras's initialiser, counts, masks, integer inputs, configs and errors."""

import json

import numpy as np
import pytest
import torch

from kerasish.layers import Dense, Embedding, Flatten, Masking
from kerasish.models import Sequential


def test_embedding_looks_up_rows_with_keras_initialiser_and_count():
    torch.manual_seed(0)
    layer = Embedding(1000, 16)
    layer.build()  # as in Keras 3, the weight is made by build() or the first call
    (weights,) = layer.get_weights()
    assert weights.shape == (1000, 16) and layer.count_params() == 16000
    assert np.abs(weights).max() <= 0.05 and weights.std() > 0.02
    ids = torch.tensor([[3, 7], [0, 3]])
    out = layer(ids)
    torch.testing.assert_close(out[0, 0], torch.tensor(weights[3]))
    torch.testing.assert_close(out[1, 1], out[0, 0])
    assert layer.compute_output_shape((None, 2)) == (None, 2, 16)


def test_input_length_builds_the_model_and_summary_shows_keras_count():
    model = Sequential([Embedding(500, 8, input_length=10), Flatten(), Dense(1)])
    lines = []
    model.summary(print_fn=lines.append)
    row = [line for line in lines[0].splitlines() if "(Embedding)" in line][0]
    assert "(None, 10, 8)" in row and row.strip(" │").split()[-1] == "4,000"


def test_mask_zero_produces_a_mask_and_masking_hides_padded_steps():
    layer = Embedding(10, 2, mask_zero=True)
    ids = torch.tensor([[0, 0, 3], [4, 0, 5]])
    assert layer.compute_mask(ids).tolist() == [[False, False, True], [True, False, True]]
    assert Embedding(10, 2).compute_mask(ids) is None
    x = torch.tensor([[[0.0, 0.0], [1.0, 0.0]], [[2.0, 2.0], [2.0, 2.0]]])
    masking = Masking(mask_value=2.0)
    assert masking.compute_mask(x).tolist() == [[True, True], [False, False]]
    torch.testing.assert_close(masking(x)[1], torch.zeros(2, 2))


def test_fit_keeps_integer_ids_exact():
    torch.manual_seed(0)
    x = np.array([[1, 2], [3, 4]] * 8, dtype=np.int64)
    y = np.array([0.0, 1.0] * 8, dtype=np.float32)
    model = Sequential([Embedding(5, 4, input_length=2), Flatten(), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.casts_integer_inputs() is False


@pytest.mark.parametrize(
    "layer",
    [Embedding(100, 8, mask_zero=True, input_length=5, embeddings_regularizer="l2", name="emb"),
     Embedding(10, 3, embeddings_initializer="normal"), Masking(mask_value=-1.0)],
    ids=["embedding_input_length", "embedding", "masking"],
)
def test_config_round_trips_through_json(layer):
    config = layer.get_config()
    assert type(layer).from_config(json.loads(json.dumps(config))).get_config() == config


def test_bad_arguments_are_rejected_with_the_fix():
    with pytest.raises(ValueError, match="input_dim must be a positive integer, received input_dim=0"):
        Embedding(0, 8)
    with pytest.raises(ValueError, match=r"output_dim must be a positive integer, received output_dim=2.5"):
        Embedding(10, 2.5)
    with pytest.raises(TypeError, match="mask_value must be a number, received mask_value='pad'"):
        Masking(mask_value="pad")
