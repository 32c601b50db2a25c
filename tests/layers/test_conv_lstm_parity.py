"""ConvLSTM1D/2D/3D against Keras 3: outputs, gradients, masks, states, dropout, configs, fit, errors."""

import json

import numpy as np
import pytest
import torch

import kerasish
from kerasish.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from tests.keras_parity import assert_close, grads, keras_module, to_numpy

OURS = {1: ConvLSTM1D, 2: ConvLSTM2D, 3: ConvLSTM3D}
RNG = np.random.default_rng(0)
MASK = np.array([[1, 1, 1, 0], [0, 0, 1, 1], [1, 0, 1, 1]], bool)


def _x(shape):
    return RNG.normal(size=shape).astype("float32")


def _pair(rank, kw, shape):
    """A Keras layer and ours with the same arguments and Keras's weights, built for `shape`."""
    keras = keras_module()
    theirs = getattr(keras.layers, f"ConvLSTM{rank}D")(**kw)
    ours = OURS[rank](**kw)
    theirs.build((None,) + tuple(shape[1:]))
    ours.build((None,) + tuple(shape[1:]))
    ours.set_weights(theirs.get_weights())
    return keras, theirs, ours


def _listed(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


CASES = {
    "1d_same_sequences": (1, {"filters": 3, "kernel_size": 3, "padding": "same", "return_sequences": True},
                          (3, 4, 7, 2)),
    "1d_valid_backwards": (1, {"filters": 2, "kernel_size": 2, "go_backwards": True, "return_sequences": True},
                           (3, 4, 6, 3)),
    "2d_valid_last": (2, {"filters": 3, "kernel_size": 3}, (3, 4, 6, 5, 2)),
    "2d_same_strides": (2, {"filters": 2, "kernel_size": (3, 2), "strides": 2, "padding": "same",
                            "return_sequences": True}, (3, 4, 7, 6, 2)),
    "2d_valid_strides": (2, {"filters": 2, "kernel_size": 3, "strides": (2, 1)}, (3, 4, 7, 6, 2)),
    "2d_dilation_even_kernel": (2, {"filters": 2, "kernel_size": 2, "dilation_rate": 2, "padding": "same",
                                    "return_sequences": True}, (3, 4, 6, 6, 2)),
    "2d_channels_first_state": (2, {"filters": 3, "kernel_size": 3, "padding": "same",
                                    "data_format": "channels_first", "return_sequences": True,
                                    "return_state": True}, (3, 4, 2, 5, 5)),
    "2d_state_backwards": (2, {"filters": 2, "kernel_size": 3, "return_state": True, "go_backwards": True},
                           (3, 4, 5, 5, 1)),
    "2d_activations_no_bias": (2, {"filters": 2, "kernel_size": 3, "padding": "same", "activation": "relu",
                                   "recurrent_activation": "hard_sigmoid", "use_bias": False},
                               (3, 4, 5, 5, 2)),
    "2d_no_forget_bias": (2, {"filters": 2, "kernel_size": 3, "unit_forget_bias": False,
                              "bias_initializer": "ones"}, (3, 4, 5, 5, 2)),
    "3d_same": (3, {"filters": 2, "kernel_size": 3, "padding": "same", "return_sequences": True},
                (2, 3, 4, 4, 4, 1)),
    "3d_channels_first_valid": (3, {"filters": 2, "kernel_size": 2, "data_format": "channels_first",
                                    "return_state": True}, (2, 3, 2, 4, 3, 4)),
}


@pytest.mark.parametrize("case", CASES)
def test_outputs_and_gradients_match_keras(case):
    rank, kw, shape = CASES[case]
    keras, theirs, ours = _pair(rank, kw, shape)
    x = _x(shape)
    xk, xo = torch.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_k, out_o = _listed(theirs(xk)), _listed(ours(xo))
    assert [tuple(o.shape) for o in out_o] == [tuple(o.shape) for o in out_k]
    assert_close(out_o, out_k, atol=1e-5)
    sum((o ** 2).sum() for o in out_k).backward()
    sum((o ** 2).sum() for o in out_o).backward()
    assert_close(xo.grad, xk.grad, atol=1e-4)
    assert_close(grads(ours.trainable_weights), grads(theirs.trainable_weights), atol=1e-4)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_output_shape_weights_and_parameter_counts_match_keras(rank):
    keras = keras_module()
    kw = {"filters": 3, "kernel_size": 2, "strides": 2, "return_sequences": True, "return_state": True}
    step = {1: (9, 2), 2: (9, 7, 2), 3: (5, 6, 7, 2)}[rank]
    theirs = getattr(keras.layers, f"ConvLSTM{rank}D")(**kw)
    ours = OURS[rank](**kw)
    assert [tuple(s) for s in ours.compute_output_shape((None, 4) + step)] == \
        [tuple(s) for s in theirs.compute_output_shape((None, 4) + step)]
    k_model = keras.Sequential([keras.Input((4,) + step), getattr(keras.layers, f"ConvLSTM{rank}D")(3, 2)])
    o_model = kerasish.Sequential([kerasish.layers.Input((4,) + step), OURS[rank](3, 2)])
    assert o_model.count_params() == k_model.count_params()
    k_lines, o_lines = [], []
    k_model.summary(print_fn=lambda line, *a, **k: k_lines.append(line))
    o_model.summary(print_fn=lambda line, *a, **k: o_lines.append(line))
    total = [next(x.split("(")[0].strip() for x in "\n".join(lines).splitlines() if "Total params" in x)
             for lines in (k_lines, o_lines)]
    assert total[0] == total[1] == f"Total params: {k_model.count_params():,}"
    theirs.build((None, 4) + step)
    ours.build((None, 4) + step)
    assert ours.count_params() == theirs.count_params()
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights] == \
        ["kernel", "recurrent_kernel", "bias"]
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    # unit_forget_bias: the forget gate's block of the bias starts at 1, as Keras's.
    assert_close(ours.get_weights()[2], theirs.get_weights()[2])


@pytest.mark.parametrize("kw", [
    {"return_sequences": True},
    {"return_sequences": False, "return_state": True},
    {"return_sequences": True, "go_backwards": True},
    {"return_sequences": True, "zero_output_for_mask": True},
    {"return_sequences": False, "zero_output_for_mask": True},
], ids=["sequences", "last_state", "backwards", "zero_output", "zero_output_last"])
def test_masks_match_keras(kw):
    shape = (3, 4, 5, 5, 2)
    keras, theirs, ours = _pair(2, dict(filters=2, kernel_size=3, padding="same", **kw), shape)
    x, mask = torch.tensor(_x(shape)), torch.tensor(MASK)
    assert_close(_listed(ours(x, mask=mask)), _listed(theirs(x, mask=mask)))


def test_mask_with_initial_state_matches_keras():
    # Before the first real step the output is zeros, not the initial state (Keras's rule).
    shape = (3, 4, 5, 5, 2)
    keras, theirs, ours = _pair(2, dict(filters=2, kernel_size=3, padding="same", return_sequences=True,
                                        return_state=True), shape)
    x, mask = torch.tensor(_x(shape)), torch.tensor(MASK)
    h0, c0 = torch.tensor(_x((3, 5, 5, 2))), torch.tensor(_x((3, 5, 5, 2)))
    out_o = ours(x, initial_state=[h0, c0], mask=mask)
    assert_close(out_o, _listed(theirs(x, initial_state=[h0, c0], mask=mask)))
    assert float(out_o[0][1, :2].abs().max()) == 0.0


def test_functional_model_matches_keras():
    keras = keras_module()
    shape = (3, 4, 6, 2)

    def build(lib, cls):
        inp = lib.Input(shape[1:])
        seq, h, c = cls(filters=2, kernel_size=3, padding="same", return_sequences=True, return_state=True)(inp)
        return lib.Model(inp, [lib.layers.Flatten()(seq), lib.layers.Add()([h, c])])

    k_model = build(keras, keras.layers.ConvLSTM1D)
    o_model = build(kerasish, ConvLSTM1D)
    o_model.set_weights(k_model.get_weights())
    x = _x(shape)
    assert_close(o_model.predict(x, verbose=0), k_model.predict(x, verbose=0))


def test_functional_model_with_symbolic_initial_state_matches_keras():
    keras = keras_module()

    def build(lib, cls):
        inp, h, c = lib.Input((3, 6, 2)), lib.Input((6, 4)), lib.Input((6, 4))
        out = cls(4, 3, padding="same", return_sequences=True)(inp, initial_state=[h, c])
        return lib.Model([inp, h, c], out)

    k_model, o_model = build(keras, keras.layers.ConvLSTM1D), build(kerasish, ConvLSTM1D)
    o_model.set_weights(k_model.get_weights())
    xs = [_x(s) for s in [(2, 3, 6, 2), (2, 6, 4), (2, 6, 4)]]
    assert_close(o_model.predict(xs, verbose=0), k_model.predict(xs, verbose=0))


def test_per_position_mask_from_masking_is_refused():
    # Keras would mask each position of the feature map separately; kerasish masks whole steps only.
    model = kerasish.Sequential([kerasish.layers.Input((4, 6, 2)), kerasish.layers.Masking(),
                                 ConvLSTM1D(2, 3, padding="same")])
    with pytest.raises(ValueError, match=r"mask of shape \(3, 4, 6\) .*expected \(batch, timesteps\) = \(3, 4\)"):
        model(torch.tensor(_x((3, 4, 6, 2))))


def test_initial_state_matches_keras():
    shape = (3, 4, 5, 5, 2)
    keras, theirs, ours = _pair(2, dict(filters=2, kernel_size=3, return_state=True), shape)
    x = torch.tensor(_x(shape))
    h0, c0 = torch.tensor(_x((3, 3, 3, 2))), torch.tensor(_x((3, 3, 3, 2)))
    out_o = ours(x, initial_state=[h0, c0])
    assert_close(out_o, _listed(theirs(x, initial_state=[h0, c0])))
    assert not np.allclose(to_numpy(out_o[0]), to_numpy(ours(x)[0]))


def test_stateful_across_batches_and_reset_states_match_keras():
    shape = (2, 3, 5, 3)
    keras = keras_module()
    kw = dict(filters=2, kernel_size=3, padding="same", stateful=True)
    theirs, ours = keras.layers.ConvLSTM1D(**kw), ConvLSTM1D(**kw)
    theirs.build(shape)
    ours.build(shape)
    ours.set_weights(theirs.get_weights())
    first, second = torch.tensor(_x(shape)), torch.tensor(_x(shape))
    outputs = [ours(first), ours(second), ours(first)]  # each batch continues the previous one
    assert_close(outputs, [theirs(first), theirs(second), theirs(first)])
    assert not np.allclose(to_numpy(outputs[2]), to_numpy(outputs[0]), atol=1e-4)
    ours.reset_states()
    theirs.reset_states()
    assert_close(ours(first), outputs[0])  # from zeros again, as Keras after its reset
    assert_close(theirs(first), outputs[0])
    with pytest.raises(ValueError, match=r"stateful, so the batch size must stay 2.*received a batch of 3"):
        ours(torch.tensor(_x((3,) + shape[1:])))


def test_dropout_only_in_training_seeded_and_zero_rates_equal_no_dropout():
    shape = (3, 4, 5, 5, 2)
    _, theirs, _ = _pair(2, dict(filters=2, kernel_size=3, padding="same"), shape)
    weights = theirs.get_weights()
    x = torch.tensor(_x(shape))
    reference = to_numpy(theirs(x))

    zero = ConvLSTM2D(2, 3, padding="same", dropout=0.0, recurrent_dropout=0.0)
    zero.build((None,) + shape[1:])
    zero.set_weights(weights)
    assert_close(zero(x, training=True), reference)

    def dropped(seed):
        layer = ConvLSTM2D(2, 3, padding="same", dropout=0.4, recurrent_dropout=0.3, seed=seed)
        layer.build((None,) + shape[1:])
        layer.set_weights(weights)
        return layer

    layer = dropped(7)
    assert_close(layer(x), reference)  # inference (the default): no dropout, Keras's output
    assert_close(layer(x, training=False), reference)
    train = layer(x, training=True)
    assert train.shape == (3, 5, 5, 2)
    assert not np.allclose(to_numpy(train), reference, atol=1e-4)
    assert_close(dropped(7)(x, training=True), train)  # same seed, same masks
    assert not np.allclose(to_numpy(dropped(8)(x, training=True)), to_numpy(train), atol=1e-4)
    again = layer(x, training=True)  # a seed generator: new masks on every call
    assert not np.allclose(to_numpy(again), to_numpy(train), atol=1e-4)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_dropout_arithmetic_matches_keras_given_the_same_masks(data_format):
    # Keras's cell reuses masks cached on it, so handing it ours compares the per-gate dropout math.
    shape = (2, 3, 5, 4, 2) if data_format == "channels_last" else (2, 3, 2, 5, 4)
    kw = dict(filters=2, kernel_size=3, strides=(2, 1), padding="same", dropout=0.4, recurrent_dropout=0.3,
              seed=3, data_format=data_format, return_sequences=True, return_state=True)
    keras, theirs, ours = _pair(2, kw, shape)
    x = torch.tensor(_x(shape))
    cf = (lambda t: t) if data_format == "channels_first" else (lambda t: t.movedim(1, -1))
    step = x[:, 0] if data_format == "channels_first" else x[:, 0].movedim(-1, 1)
    input_masks = ours.cell.draw_masks(step, 0.4)  # (batch, 4 gates, channels, h, w): the draws the call makes
    state = ours.cell.get_initial_state(2)[0]
    state_masks = ours.cell.draw_masks(state if data_format == "channels_first" else state.movedim(-1, 1), 0.3)
    np.testing.assert_allclose(np.unique(to_numpy(input_masks)), [0.0, 1 / 0.6], rtol=1e-6)
    ours.cell.seed_generator = kerasish.random.SeedGenerator(3)
    out_o = ours(x, training=True)
    theirs.cell._dropout_mask = [cf(input_masks[:, g]) for g in range(4)]
    theirs.cell._recurrent_dropout_mask = [cf(state_masks[:, g]) for g in range(4)]
    out_k = _listed(theirs(x, training=True))
    assert_close(out_o, out_k, atol=1e-5)
    assert not np.allclose(to_numpy(out_o[0]), to_numpy(ours(x)[0]), atol=1e-4)


def test_get_config_round_trip_and_keys_match_keras():
    keras = keras_module()
    kw = dict(filters=4, kernel_size=(3, 2), strides=(2, 1), padding="same", data_format="channels_first",
              activation="relu", recurrent_activation="hard_sigmoid", use_bias=False, unit_forget_bias=False,
              kernel_regularizer="l2", dropout=0.25, recurrent_dropout=0.125, seed=5, return_sequences=True,
              return_state=True, go_backwards=True, stateful=True, zero_output_for_mask=True, name="clstm")
    ours = ConvLSTM2D(**kw)
    config = ours.get_config()
    rebuilt = ConvLSTM2D.from_config(json.loads(json.dumps(config)))
    assert json.dumps(rebuilt.get_config()) == json.dumps(config)
    theirs = keras.layers.ConvLSTM2D(**kw).get_config()
    assert set(config) - {"dtype"} == set(theirs) - {"dtype"}
    for key in ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
                "recurrent_activation", "use_bias", "unit_forget_bias", "dropout", "recurrent_dropout", "seed",
                "return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask"):
        assert config[key] == theirs[key], key
    assert (ours.filters, ours.kernel_size, ours.dropout) == (4, (3, 2), 0.25)


def test_saved_model_round_trip(tmp_path):
    model = kerasish.Sequential([kerasish.layers.Input((3, 5, 5, 2)),
                                 ConvLSTM2D(2, 3, padding="same", kernel_regularizer="l2"),
                                 kerasish.layers.Flatten(), kerasish.layers.Dense(1)])
    x = _x((4, 3, 5, 5, 2))
    path = str(tmp_path / "model.kerasish")
    model.save(path)
    loaded = kerasish.models.load_model(path)
    assert_close(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert len(loaded.losses) == 1


def test_sequential_fits_and_its_loss_falls():
    kerasish.utils.set_random_seed(0)
    x = RNG.normal(size=(32, 4, 6, 6, 1)).astype("float32")
    y = x.mean(axis=(1, 2, 3, 4))[:, None] * 3.0
    model = kerasish.Sequential([
        kerasish.layers.Input((4, 6, 6, 1)),
        ConvLSTM2D(4, 3, padding="same", dropout=0.1, recurrent_dropout=0.1, seed=1),
        kerasish.layers.GlobalAveragePooling2D(),
        kerasish.layers.Dense(1),
    ])
    model.compile(optimizer=kerasish.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]


def test_regularizer_losses_match_keras():
    shape = (2, 3, 5, 5, 2)
    keras, theirs, ours = _pair(2, dict(filters=2, kernel_size=3, kernel_regularizer="l2",
                                        recurrent_regularizer="l1", bias_regularizer="l2"), shape)
    assert_close(sum(ours.losses), sum(to_numpy(v) for v in theirs.losses), rtol=1e-5)


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kw, match", [
    ({"padding": "causal"}, r"padding must be 'valid' or 'same', received padding='causal'"),
    ({"strides": 2, "dilation_rate": 2}, r"strides > 1 cannot be combined with dilation_rate > 1.*Pass strides=1"),
    ({"kernel_size": (3, 3, 3)}, r"kernel_size must be a positive int or a tuple of 2 positive ints"),
    ({"data_format": "NHWC"}, r"data_format must be 'channels_last' or 'channels_first', received data_format='NHWC'"),
    ({"dropout": 1.5}, r"ConvLSTM2D: dropout must be a number in \[0, 1\), received dropout=1.5"),
    ({"recurrent_dropout": -0.1}, r"recurrent_dropout must be a number in \[0, 1\), received recurrent_dropout=-0.1"),
    ({"filters": 0}, r"ConvLSTM2D: filters must be a positive integer, received filters=0"),
])
def test_bad_arguments_raise_clear_errors(kw, match):
    args = {"filters": 2, "kernel_size": 3}
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        ConvLSTM2D(**args)


def test_unknown_argument_is_refused():
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['filter'\]"):
        ConvLSTM2D(2, 3, filter=4)


def test_wrong_input_rank_raises():
    with pytest.raises(ValueError, match=r"must have rank 5 \(batch, timesteps, height, width, channels\), "
                                         r"received input shape \(2, 5, 5, 3\) \(rank 4\)"):
        ConvLSTM2D(2, 3)(torch.zeros(2, 5, 5, 3))
    with pytest.raises(ValueError, match=r"must have rank 4 \(batch, timesteps, steps, channels\).*ConvLSTM1D/2D/3D"):
        # As Keras: the constructor builds nothing; a Sequential builds the layer for its input_shape=.
        kerasish.Sequential([ConvLSTM1D(2, 3, input_shape=(3, 5, 5, 2))])


def test_unknown_spatial_size_raises():
    with pytest.raises(ValueError, match=r"static spatial sizes.*Input\(\(timesteps, 32, 32, 3\)\)"):
        kerasish.Sequential([kerasish.layers.Input((4, None, None, 3)), ConvLSTM2D(2, 3)])


def test_other_spatial_size_after_build_raises():
    layer = ConvLSTM2D(2, 3)
    layer(torch.zeros(1, 2, 5, 5, 1))
    with pytest.raises(ValueError, match=r"built for steps of spatial size \(5, 5\) with 1 channels, received "
                                         r"inputs of shape \(1, 2, 6, 5, 1\)"):
        layer(torch.zeros(1, 2, 6, 5, 1))


def test_bad_initial_state_and_mask_raise():
    layer = ConvLSTM2D(2, 3)
    x = torch.zeros(2, 3, 5, 5, 1)
    with pytest.raises(ValueError, match=r"expects initial_state=\[h, c\], two tensors of shape \(2, 3, 3, 2\), "
                                         r"received \[\(2, 5, 5, 2\)\]"):
        layer(x, initial_state=torch.zeros(2, 5, 5, 2))
    with pytest.raises(ValueError, match=r"mask of shape \(2, 3, 5\).*expected \(batch, timesteps\) = \(2, 3\)"):
        layer(x, mask=torch.ones(2, 3, 5, dtype=torch.bool))


def test_cell_step_matches_keras_cell():
    keras = keras_module()
    from keras.src.layers.rnn.conv_lstm import ConvLSTMCell as KerasCell

    from kerasish.layers.conv_lstm_cell import ConvLSTMCell

    kw = dict(rank=2, filters=3, kernel_size=3, strides=2, padding="same")
    theirs, ours = KerasCell(**kw), ConvLSTMCell(**kw)
    theirs.build((None, 7, 6, 2))
    ours.build((None, 7, 6, 2))
    ours.set_weights(theirs.get_weights())
    x, h, c = (torch.tensor(_x(s)) for s in [(2, 7, 6, 2), (2, 4, 3, 3), (2, 4, 3, 3)])
    out_o, states_o = ours(x, [h, c])
    out_k, states_k = theirs(x, [h, c])
    assert_close([out_o] + states_o, [out_k] + list(states_k))
    assert [tuple(s.shape) for s in ours.get_initial_state(2)] == [(2, 4, 3, 3)] * 2
    with pytest.raises(ValueError, match=r"expects states=\[h, c\] \(two tensors\)"):
        ours(x, h)
