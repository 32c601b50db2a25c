"""keras-io's example "Image similarity estimation using a Siamese Network with a contrastive loss"
(`examples/vision/siamese_contrastive.py`), run on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`
in place of `tensorflow.keras`) and the lines marked `# changed:`: the TensorFlow calls in the distance
and the loss are written with `keras.ops` (the Keras 3 form: `ops.sum`, `ops.square`, `ops.maximum`,
`ops.sqrt`, `ops.mean`), Fashion-MNIST read from disk stands in for the MNIST download (the same
shapes and dtypes), sliced to a few hundred pairs and two epochs so that the test takes seconds;
`random` is seeded so that the pairs are the same in every run; the plots are left out; Keras's
initial weights are copied in and `shuffle=False` is passed. Keras 3 (torch backend,
`tests/keras_parity.py`) runs the same code: the `Lambda` distance layer, the contrastive loss given
to `compile` as a plain function (Keras brings its labels of shape (n,) to the predictions' (n, 1)
before calling it), "accuracy" resolved for one sigmoid output, the 3-D images fed to a 4-D `Input`,
`summary()`, History, the evaluation's printed line and the predictions are compared.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

epochs = 2  # changed: 10, for speed
batch_size = 16
margin = 1  # Margin for constrastive loss.


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def make_pairs(x, y):
    """Creates a tuple containing image pairs with corresponding label.

    Arguments:
        x: List containing images, each index in this list corresponds to one image.
        y: List containing labels, each label with datatype of `int`.

    Returns:
        Tuple containing two numpy arrays as (pairs_of_samples, labels),
        where pairs_of_samples' shape is (2len(x), 2,n_features_dims) and
        labels are a binary array of shape (2len(x)).
    """

    num_classes = max(y) + 1
    digit_indices = [np.where(y == i)[0] for i in range(num_classes)]

    pairs = []
    labels = []

    for idx1 in range(len(x)):
        # add a matching example
        x1 = x[idx1]
        label1 = y[idx1]
        idx2 = random.choice(digit_indices[label1])
        x2 = x[idx2]

        pairs += [[x1, x2]]
        labels += [1]

        # add a non-matching example
        label2 = random.randint(0, num_classes - 1)
        while label2 == label1:
            label2 = random.randint(0, num_classes - 1)

        idx2 = random.choice(digit_indices[label2])
        x2 = x[idx2]

        pairs += [[x1, x2]]
        labels += [0]

    return np.array(pairs), np.array(labels).astype("float32")


@pytest.fixture
def pairs(fashion_dir, monkeypatch):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))  # changed: the files on disk
    (x_train_val, y_train_val), (x_test, y_test) = kerasish.datasets.fashion_mnist.load_data()  # changed: offline
    x_test, y_test = x_test[:32], y_test[:32]  # changed: a slice, for speed

    # Change the data type to a floating point format
    x_train_val = x_train_val.astype("float32")
    x_test = x_test.astype("float32")

    # Keep 50% of train_val  in validation set
    x_train, x_val = x_train_val[:96], x_train_val[96:128]  # changed: [:30000], [30000:], for speed
    y_train, y_val = y_train_val[:96], y_train_val[96:128]  # changed: [:30000], [30000:], for speed
    del x_train_val, y_train_val

    random.seed(1337)  # changed: the same pairs in every run
    # make train pairs
    pairs_train, labels_train = make_pairs(x_train, y_train)

    # make validation pairs
    pairs_val, labels_val = make_pairs(x_val, y_val)

    # make test pairs
    pairs_test, labels_test = make_pairs(x_test, y_test)
    return (pairs_train, labels_train), (pairs_val, labels_val), (pairs_test, labels_test)


def _siamese(keras):
    layers, ops = keras.layers, keras.ops
    keras.backend.clear_session()  # changed: names restart in both libraries

    # Provided two tensors t1 and t2
    # Euclidean distance = sqrt(sum(square(t1-t2)))
    def euclidean_distance(vects):
        """Find the Euclidean distance between two vectors.

        Arguments:
            vects: List containing two tensors of same length.

        Returns:
            Tensor containing euclidean distance
            (as floating point value) between vectors.
        """

        x, y = vects
        sum_square = ops.sum(ops.square(x - y), axis=1, keepdims=True)  # changed: tf.math -> keras.ops
        return ops.sqrt(ops.maximum(sum_square, keras.backend.epsilon()))  # changed: tf.math -> keras.ops

    input = layers.Input((28, 28, 1))
    x = keras.layers.BatchNormalization()(input)
    x = layers.Conv2D(4, (5, 5), activation="tanh")(x)
    x = layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = layers.Conv2D(16, (5, 5), activation="tanh")(x)
    x = layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = layers.Flatten()(x)

    x = keras.layers.BatchNormalization()(x)
    x = layers.Dense(10, activation="tanh")(x)
    embedding_network = keras.Model(input, x)

    input_1 = layers.Input((28, 28, 1))
    input_2 = layers.Input((28, 28, 1))

    # As mentioned above, Siamese Network share weights between
    # tower networks (sister networks). To allow this, we will use
    # same embedding network for both tower networks.
    tower_1 = embedding_network(input_1)
    tower_2 = embedding_network(input_2)

    merge_layer = layers.Lambda(euclidean_distance)([tower_1, tower_2])
    normal_layer = keras.layers.BatchNormalization()(merge_layer)
    output_layer = layers.Dense(1, activation="sigmoid")(normal_layer)
    siamese = keras.Model(inputs=[input_1, input_2], outputs=output_layer)
    return siamese, embedding_network


def loss(ops, margin=1):  # changed: ops passed in (keras.ops of either library)
    """Provides 'constrastive_loss' an enclosing scope with variable 'margin'.

    Arguments:
        margin: Integer, defines the baseline for distance for which pairs
                should be classified as dissimilar. - (default is 1).

    Returns:
        'constrastive_loss' function with data ('margin') attached.
    """

    # Contrastive loss = mean( (1-true_value) * square(prediction) +
    #                         true_value * square( max(margin-prediction, 0) ))
    def contrastive_loss(y_true, y_pred):
        """Calculates the constrastive loss.

        Arguments:
            y_true: List of labels, each label is of type float32.
            y_pred: List of predictions of same length as of y_true,
                    each label is of type float32.

        Returns:
            A tensor containing constrastive loss as floating point value.
        """

        square_pred = ops.square(y_pred)  # changed: tf.math -> keras.ops
        margin_square = ops.square(ops.maximum(margin - (y_pred), 0))  # changed: tf.math -> keras.ops
        return ops.mean(  # changed: tf.math.reduce_mean -> keras.ops.mean
            (1 - y_true) * square_pred + (y_true) * margin_square
        )

    return contrastive_loss


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def test_the_pairs_are_half_matching(pairs):
    (pairs_train, labels_train), (pairs_val, _), (pairs_test, _) = pairs
    assert pairs_train.shape == (192, 2, 28, 28) and pairs_val.shape == (64, 2, 28, 28)
    assert pairs_test.shape == (64, 2, 28, 28) and labels_train.dtype == np.float32
    np.testing.assert_array_equal(labels_train[:4], [1, 0, 1, 0])


def test_the_siamese_summary_is_keras_summary():
    k = keras_module()
    texts = {}
    for lib in (k, kerasish):
        siamese, embedding_network = _siamese(lib)
        siamese.compile(loss=loss(lib.ops, margin=margin), optimizer="RMSprop", metrics=["accuracy"])
        texts[lib] = [(_summary(m), m.count_params()) for m in (siamese, embedding_network)]
    assert "Total params: 5,324" in texts[kerasish][0][0]
    assert texts[kerasish] == texts[k]


def test_the_embedding_network_takes_images_without_their_channel_axis_as_keras(pairs):
    # The pairs hold (28, 28) images; the towers' Input is (28, 28, 1): Keras's functional models add the
    # trailing axis of 1 (and drop one the data has in excess), for one input as for two.
    k = keras_module()
    (pairs_train, _), _, _ = pairs
    images = pairs_train[:6, 0]
    outs = {}
    for lib in (k, kerasish):
        siamese, embedding_network = _siamese(lib)
        if lib is kerasish:
            siamese.set_weights(weights)
        weights = siamese.get_weights()
        outs[lib] = [embedding_network.predict(images, verbose=0),
                     embedding_network.predict(images[..., None], verbose=0),
                     siamese.predict([images, images[..., None]], verbose=0)]
    assert images.shape == (6, 28, 28) and outs[kerasish][0].shape == (6, 10)
    assert_close(outs[kerasish][0], outs[kerasish][1], atol=0)
    assert_close(outs[kerasish], outs[k], atol=1e-5)


def test_the_contrastive_loss_on_labels_of_shape_n_as_keras_compile_gives_it():
    # compile wraps the plain function: labels of shape (n,) meet predictions of shape (n, 1) as (n, 1),
    # not broadcast to (n, n).
    k = keras_module()
    y_true = np.array([1.0, 0.0, 1.0, 0.0], "float32")
    y_pred = np.array([[0.2], [0.9], [1.5], [0.1]], "float32")
    values = {}
    for lib in (k, kerasish):
        siamese, _ = _siamese(lib)
        siamese.compile(loss=loss(lib.ops, margin=margin), optimizer="RMSprop", metrics=["accuracy"])
        values[lib] = siamese.compute_loss(y=y_true, y_pred=y_pred)
    expected = np.mean([(1 - 0.2) ** 2, 0.9 ** 2, 0.0, 0.1 ** 2])
    assert_close(values[kerasish], expected, atol=1e-6)
    assert_close(values[kerasish], values[k], atol=1e-6)


def _train_and_evaluate(keras, pairs, weights):
    (pairs_train, labels_train), (pairs_val, labels_val), (pairs_test, labels_test) = pairs
    x_train_1 = pairs_train[:, 0]  # x_train_1.shape is (60000, 28, 28)
    x_train_2 = pairs_train[:, 1]
    x_val_1 = pairs_val[:, 0]  # x_val_1.shape = (60000, 28, 28)
    x_val_2 = pairs_val[:, 1]
    x_test_1 = pairs_test[:, 0]  # x_test_1.shape = (20000, 28, 28)
    x_test_2 = pairs_test[:, 1]

    siamese, _ = _siamese(keras)
    siamese.set_weights(weights)  # changed: Keras's initial weights in both
    siamese.compile(loss=loss(keras.ops, margin=margin), optimizer="RMSprop", metrics=["accuracy"])
    history = siamese.fit(
        [x_train_1, x_train_2],
        labels_train,
        validation_data=([x_val_1, x_val_2], labels_val),
        batch_size=batch_size,
        epochs=epochs,
        shuffle=False,  # changed: the same batches in both libraries
        verbose=2,  # changed: one line an epoch
    )
    results = siamese.evaluate([x_test_1, x_test_2], labels_test, verbose=0)  # changed: verbose=0
    print("test loss, test acc:", results)
    predictions = siamese.predict([x_test_1, x_test_2], verbose=0)  # changed: verbose=0
    return history, results, predictions


def test_train_and_evaluate_as_keras(pairs, capsys):
    k = keras_module()
    weights = _siamese(k)[0].get_weights()
    capsys.readouterr()
    runs = {}
    for lib in (k, kerasish):
        runs[lib] = _train_and_evaluate(lib, pairs, weights) + (text_and_numbers(capsys.readouterr().out.splitlines()),)
    (h_ours, r_ours, p_ours, out_ours), (h_theirs, r_theirs, p_theirs, out_theirs) = runs[kerasish], runs[k]
    assert list(h_ours.history) == list(h_theirs.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4, atol=1e-6)
    assert isinstance(r_ours, list) and len(r_ours) == 2
    np.testing.assert_allclose(r_ours, r_theirs, rtol=1e-4, atol=1e-6)
    assert p_ours.shape == (64, 1)
    assert_close(p_ours, p_theirs, atol=1e-5, rtol=1e-4)
    assert out_ours[0] == out_theirs[0]
    assert out_ours[0][-1] == "test loss, test acc: [#, #]"
    np.testing.assert_allclose(out_ours[1], out_theirs[1], rtol=1e-4, atol=1.5e-4)
