"""Keras's guide "Introduction to Keras for Researchers" (keras-io
`guides/intro_to_keras_for_researchers.py`), run on kerasish in its Keras 3 meaning.

The guide is written for TensorFlow (`tf.constant`, `tf.Variable`, `tf.GradientTape`,
`tf.function`, `tf.data`). Each test is one section, its code kept as written except the imports
(`import kerasish as keras`, `from kerasish import layers, ops`) and the lines marked `# changed:`,
which say what they replace:

- TensorFlow calls become their Keras 3 spelling: `tf.constant` -> `ops.convert_to_tensor`,
  `tf.ones`/`tf.square`/`tf.exp`/`tf.matmul`/`tf.reduce_sum`/`tf.nn.relu` -> `keras.ops`,
  `tf.random.*` and `tf.keras.backend.random_normal` -> `keras.random`, `tf.Variable` ->
  `keras.Variable`, `tf.random_normal_initializer` -> `keras.initializers.RandomNormal`,
  `tf.nn.dropout` -> `keras.random.dropout`, `metric.reset_states()` -> `metric.reset_state()`
  (the name in Keras 3);
- `tf.GradientTape` becomes the torch autograd of Keras 3's torch guides (`zero_grad`,
  `loss.backward()`, `[v.value.grad for v in weights]`, the optimizer applied under
  `torch.no_grad()`), and `tape.gradient` of a tensor `torch.autograd.grad`;
- MNIST and `tf.data` become small synthetic arrays of MNIST's shapes in a torch `DataLoader`
  (not shuffled, so both libraries see the same batches), and the loops run a few steps.

Skipped, with no torch meaning: the section "Compiled functions" (`tf.function`; its body is the
training step other sections run eagerly), and the prose-only `add_metric` paragraph (Keras 3 has no
`add_metric`). Keras 3 on its torch backend (`tests/keras_parity.py`) runs the same code from the
same weights and data; what the guide prints, asserts or returns is compared with it. Two sections
do not run on Keras 3 itself: `vae.add_loss(kl_loss)` on a functional model (Keras 3 raises a bare
NotImplementedError; kerasish refuses it with the way out), and the hypernetwork's
`layer.kernel = w0` (a read-only property in Keras 3's Dense; kerasish's Dense computes with the
assigned tensors, as tf.keras did).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from tests.keras_parity import assert_close, keras_module, to_numpy

# Keras 3's own NumPy 2 deprecation notice, printed on every conversion of its variables.
pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
    # The guide's `float(loss)` on a loss that still has its graph, which torch remarks on.
    pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar"),
]


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def _fresh(lib):
    lib.backend.clear_session()
    return lib


def _mnist_like(n=256):
    rng = np.random.default_rng(0)  # changed: synthetic arrays of MNIST's shapes (no download here)
    x_train = rng.integers(0, 256, (n, 28, 28)).astype("uint8")
    y_train = rng.integers(0, 10, n).astype("uint8")
    return x_train, y_train


def _dataset(batch_size=64, n=256, targets=True):
    # changed: tf.data.Dataset.from_tensor_slices(...).shuffle(1024).batch(64) -> a DataLoader in order
    x_train, y_train = _mnist_like(n)
    x = torch.from_numpy(x_train.reshape(n, 784).astype("float32") / 255)
    tensors = (x, torch.from_numpy(y_train.astype("int64"))) if targets else (x, x)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*tensors), batch_size=batch_size)


def _linear_with_add_weight(keras):
    class Linear(keras.layers.Layer):
        """y = w.x + b"""

        def __init__(self, units=32):
            super(Linear, self).__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1], self.units),
                initializer="random_normal",
                trainable=True,
            )
            self.b = self.add_weight(
                shape=(self.units,), initializer="random_normal", trainable=True
            )

        def call(self, inputs):
            return keras.ops.matmul(inputs, self.w) + self.b  # changed: tf.matmul

    return Linear


# ----------------------------------------------------------------------------- Tensors


def test_tensors_constants_and_random_tensors():
    k = keras_module()
    seen = {}
    for lib in (k, kerasish):
        keras, ops = lib, lib.ops
        x = ops.convert_to_tensor([[5, 2], [1, 3]])  # changed: tf.constant
        out = [str(x), x.numpy().tolist(), ("dtype:", str(x.dtype)), ("shape:", tuple(x.shape))]
        out += [str(ops.ones(shape=(2, 1))), str(ops.zeros(shape=(2, 1)))]
        keras.utils.set_random_seed(7)  # changed: added, so that both libraries draw the same numbers
        x = keras.random.normal(shape=(2, 2), mean=0.0, stddev=1.0)  # changed: tf.random.normal
        out.append((tuple(x.shape), x.dtype, x.tolist()))
        x = keras.random.normal(shape=(2, 2), mean=0.0, stddev=1.0)  # changed: added, a second draw
        out.append(x.tolist())  # unseeded draws follow Keras's global generator, draw after draw
        # changed: tf.random.uniform(..., dtype="int32"); Keras 3's uniform takes float dtypes only,
        # its integer sampler is randint.
        with pytest.raises(ValueError, match="requires a floating point `dtype`"):
            keras.random.uniform(shape=(2, 2), minval=0, maxval=10, dtype="int32")
        x = keras.random.randint(shape=(2, 2), minval=0, maxval=10, dtype="int32")
        out.append((tuple(x.shape), x.dtype, bool(((x >= 0) & (x < 10)).all())))
        seen[lib] = out
    assert seen[kerasish][0] == "tensor([[5, 2],\n        [1, 3]], dtype=torch.int32)"
    assert seen[kerasish] == seen[k]


# ----------------------------------------------------------------------------- Variables


def test_variables_assign_and_assign_add():
    k = keras_module()
    printed = {}
    for lib in (k, kerasish):
        keras = lib
        initial_value = keras.random.normal(shape=(2, 2))  # changed: tf.random.normal
        a = keras.Variable(initial_value)  # changed: tf.Variable
        printed[lib] = repr(a)

        new_value = keras.random.normal(shape=(2, 2))
        a.assign(new_value)
        for i in range(2):
            for j in range(2):
                assert a[i, j] == new_value[i, j]

        added_value = keras.random.normal(shape=(2, 2))
        a.assign_add(added_value)
        for i in range(2):
            for j in range(2):
                assert a[i, j] == new_value[i, j] + added_value[i, j]
        assert a.trainable and a.shape == (2, 2)
    assert printed[kerasish].startswith("<Variable path=variable, shape=(2, 2), ")


def test_variables_keyword_initializer_as_keras_spells_it():
    keras = kerasish
    # changed: tf.Variable(initial_value=...) -> keras.Variable(initializer=...), Keras 3's keyword
    a = keras.Variable(initializer=keras.ops.zeros((2, 2)), trainable=False)
    assert a.shape == (2, 2) and not a.trainable


def test_variables_print_as_keras_prints_them():
    k = keras_module()
    printed = []
    for lib in (k, kerasish):
        _fresh(lib)  # Keras numbers unnamed variables per session (variable, variable_1 ...)
        a = lib.Variable(np.array([[1.0, 2.0], [3.0, 4.0]], "float32"))  # changed: fixed values, to compare
        printed.append(repr(a))  # print(a)
    assert printed[1] == printed[0]


# ----------------------------------------------------------------------------- Math and gradients


def test_math_and_gradients_through_torch_autograd():
    k = keras_module()
    rng = np.random.default_rng(0)
    a_np, b_np = rng.normal(size=(2, 2)).astype("float32"), rng.normal(size=(2, 2)).astype("float32")
    results = {}
    for lib in (k, kerasish):
        keras, ops = lib, lib.ops
        a = ops.convert_to_tensor(a_np)  # changed: the same numbers in both libraries
        b = ops.convert_to_tensor(b_np)

        c = a + b
        d = ops.square(c)  # changed: tf.square
        e = ops.exp(d)  # changed: tf.exp

        a.requires_grad_(True)  # changed: tape.watch(a)
        c = ops.sqrt(ops.square(a) + ops.square(b))  # Do some math using `a`
        # What's the gradient of `c` with respect to `a`?
        (dc_da,) = torch.autograd.grad(c, a, torch.ones_like(c))  # changed: tape.gradient(c, a)

        a = keras.Variable(a.detach())  # changed: tf.Variable(a) (a Variable starts from a value)
        c = ops.sqrt(ops.square(a) + ops.square(b))
        (dc_da_var,) = torch.autograd.grad(c, a.value, torch.ones_like(c))  # changed: tape.gradient(c, a)

        # changed: nested tapes -> a gradient with create_graph=True, differentiated again
        c = ops.sqrt(ops.square(a) + ops.square(b))
        (dc_da_2,) = torch.autograd.grad(c, a.value, torch.ones_like(c), create_graph=True)
        (d2c_da2,) = torch.autograd.grad(dc_da_2, a.value, torch.ones_like(dc_da_2))
        results[lib] = [e, dc_da, dc_da_var, d2c_da2]
    ours = results[kerasish]
    assert_close(ours[1], a_np / np.sqrt(a_np ** 2 + b_np ** 2))
    assert_close(ours[1], ours[2])
    assert_close(ours, results[k])


# ----------------------------------------------------------------------------- Keras layers


def test_keras_layers_a_layer_with_variables_made_in_init():
    k = keras_module()
    for lib in (k, kerasish):
        keras, ops = lib, lib.ops

        class Linear(keras.layers.Layer):
            """y = w.x + b"""

            def __init__(self, units=32, input_dim=32):
                super(Linear, self).__init__()
                w_init = keras.initializers.RandomNormal()  # changed: tf.random_normal_initializer
                self.w = keras.Variable(  # changed: tf.Variable(initial_value=...)
                    w_init(shape=(input_dim, units), dtype="float32"),
                    trainable=True,
                )
                b_init = keras.initializers.Zeros()  # changed: tf.zeros_initializer
                self.b = keras.Variable(  # changed: tf.Variable(initial_value=...)
                    b_init(shape=(units,), dtype="float32"), trainable=True
                )

            def call(self, inputs):
                return ops.matmul(inputs, self.w) + self.b  # changed: tf.matmul

        # Instantiate our layer.
        linear_layer = Linear(units=4, input_dim=2)

        # The layer can be treated as a function.
        # Here we call it on some data.
        y = linear_layer(ops.ones((2, 2)))  # changed: tf.ones
        assert y.shape == (2, 4)

        assert linear_layer.weights == [linear_layer.w, linear_layer.b]
        assert linear_layer.trainable_weights == [linear_layer.w, linear_layer.b]
        assert_close(y, np.ones((2, 2), "float32") @ to_numpy(linear_layer.w))


def test_layer_weight_creation_with_add_weight():
    k = keras_module()
    shapes = {}
    for lib in (k, kerasish):
        keras, ops = lib, lib.ops
        Linear = _linear_with_add_weight(keras)

        # Instantiate our lazy layer.
        linear_layer = Linear(4)

        # This will also call `build(input_shape)` and create the weights.
        y = linear_layer(ops.ones((2, 2)))  # changed: tf.ones
        shapes[lib] = [tuple(w.shape) for w in linear_layer.weights] + [tuple(y.shape), linear_layer.built]
        assert 0.0 < np.std(to_numpy(linear_layer.w)) < 0.2  # random_normal: stddev 0.05
    assert shapes[kerasish] == shapes[k] == [(2, 4), (4,), (2, 4), True]


def _train_linear(keras, weights, capsys):
    Linear = _linear_with_add_weight(keras)
    dataset = _dataset()

    # Instantiate our linear layer (defined above) with 10 units.
    linear_layer = Linear(10)
    linear_layer.build((None, 784))  # changed: built now, to start from the same weights
    if weights is not None:
        linear_layer.set_weights(weights)
    start = linear_layer.get_weights()

    # Instantiate a logistic loss function that expects integer targets.
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    # Instantiate an optimizer.
    optimizer = keras.optimizers.SGD(learning_rate=1e-1)  # changed: 1e-3, to move in 4 steps

    # Iterate over the batches of the dataset.
    for step, (x, y) in enumerate(dataset):
        linear_layer.zero_grad()  # changed: tf.GradientTape -> torch autograd

        # Forward pass.
        logits = linear_layer(x)

        # Loss value for this batch.
        loss = loss_fn(y, logits)

        # Get gradients of the loss wrt the weights.
        loss.backward()  # changed: tape.gradient
        gradients = [v.value.grad for v in linear_layer.trainable_weights]

        # Update the weights of our linear layer.
        with torch.no_grad():  # changed: as Keras's torch loops apply gradients
            optimizer.apply_gradients(zip(gradients, linear_layer.trainable_weights))

        # Logging.
        if step % 2 == 0:  # changed: every 100 steps; there are 4
            print("Step:", step, "Loss:", float(loss))
    return start, linear_layer, capsys.readouterr().out.splitlines()


def test_layer_gradients_a_hand_written_loop_trains_as_keras(capsys):
    k = keras_module()
    start, theirs, their_lines = _train_linear(k, None, capsys)
    _, ours, lines = _train_linear(kerasish, start, capsys)
    assert len(lines) == 2 and lines[0].startswith("Step: 0 Loss: ")
    their_loss = [float(line.split()[-1]) for line in their_lines]
    np.testing.assert_allclose([float(line.split()[-1]) for line in lines], their_loss, rtol=1e-5)
    assert_close(ours.get_weights(), theirs.get_weights(), atol=1e-6)


# ----------------------------------------------------------------------------- Trainable and non-trainable weights


def test_trainable_and_non_trainable_weights():
    k = keras_module()
    printed = {}
    for lib in (k, kerasish):
        keras, ops = lib, lib.ops

        class ComputeSum(keras.layers.Layer):
            """Returns the sum of the inputs."""

            def __init__(self, input_dim):
                super(ComputeSum, self).__init__()
                # Create a non-trainable weight.
                self.total = keras.Variable(  # changed: tf.Variable(initial_value=tf.zeros(...))
                    ops.zeros((input_dim,)), trainable=False
                )

            def call(self, inputs):
                self.total.assign_add(ops.sum(inputs, axis=0))  # changed: tf.reduce_sum
                return self.total

        my_sum = ComputeSum(2)
        x = ops.ones((2, 2))  # changed: tf.ones

        y = my_sum(x)
        lines = [str(y.numpy())]  # changed: print -> kept  # [2. 2.]

        y = my_sum(x)
        lines.append(str(y.numpy()))  # [4. 4.]

        assert my_sum.weights == [my_sum.total]
        assert my_sum.non_trainable_weights == [my_sum.total]
        assert my_sum.trainable_weights == []
        printed[lib] = lines
    assert printed[kerasish] == printed[k] == ["[2. 2.]", "[4. 4.]"]


# ----------------------------------------------------------------------------- Layers that own layers


def test_layers_that_own_layers_track_weights_recursively():
    k = keras_module()
    counts = {}
    for lib in (k, kerasish):
        keras, ops = lib, lib.ops
        Linear = _linear_with_add_weight(keras)

        class MLP(keras.layers.Layer):
            """Simple stack of Linear layers."""

            def __init__(self):
                super(MLP, self).__init__()
                self.linear_1 = Linear(32)
                self.linear_2 = Linear(32)
                self.linear_3 = Linear(10)

            def call(self, inputs):
                x = self.linear_1(inputs)
                x = ops.relu(x)  # changed: tf.nn.relu
                x = self.linear_2(x)
                x = ops.relu(x)
                return self.linear_3(x)

        mlp = MLP()

        # The first call to the `mlp` object will create the weights.
        y = mlp(ops.ones(shape=(3, 64)))  # changed: tf.ones

        # Weights are recursively tracked.
        assert len(mlp.weights) == 6

        seq = keras.Sequential(
            [
                keras.layers.Dense(32, activation=ops.relu),  # changed: tf.nn.relu
                keras.layers.Dense(32, activation=ops.relu),
                keras.layers.Dense(10),
            ]
        )
        seq.build((None, 64))  # changed: built, to compare with the MLP
        seq.set_weights(mlp.get_weights())
        counts[lib] = ([tuple(w.shape) for w in mlp.weights], to_numpy(seq(ops.ones((3, 64)))), to_numpy(y))
    assert counts[kerasish][0] == counts[k][0]
    assert_close(counts[kerasish][1], counts[kerasish][2])  # the built-in stack computes the same


# ----------------------------------------------------------------------------- Tracking losses created by layers


def _sparse_mlp(keras):
    ops = keras.ops
    Linear = _linear_with_add_weight(keras)

    class ActivityRegularization(keras.layers.Layer):
        """Layer that creates an activity sparsity regularization loss."""

        def __init__(self, rate=1e-2):
            super(ActivityRegularization, self).__init__()
            self.rate = rate

        def call(self, inputs):
            # We use `add_loss` to create a regularization loss
            # that depends on the inputs.
            self.add_loss(self.rate * ops.sum(inputs))  # changed: tf.reduce_sum
            return inputs

    class SparseMLP(keras.layers.Layer):
        """Stack of Linear layers with a sparsity regularization loss."""

        def __init__(self):
            super(SparseMLP, self).__init__()
            self.linear_1 = Linear(32)
            self.regularization = ActivityRegularization(1e-2)
            self.linear_3 = Linear(10)

        def call(self, inputs):
            x = self.linear_1(inputs)
            x = ops.relu(x)  # changed: tf.nn.relu
            x = self.regularization(x)
            return self.linear_3(x)

    return SparseMLP


def test_tracking_losses_created_by_layers_last_forward_pass_only():
    k = keras_module()
    values = {}
    for lib in (k, kerasish):
        keras, ops = lib, lib.ops
        SparseMLP = _sparse_mlp(keras)
        mlp = SparseMLP()
        y = mlp(ops.ones((10, 10)))  # changed: tf.ones
        if lib is kerasish:
            mlp.set_weights(values[k][1])
            y = mlp(ops.ones((10, 10)))
        assert tuple(y.shape) == (10, 10)
        assert len(mlp.losses) == 1  # print(mlp.losses): a list of one float32 scalar
        assert mlp.losses[0].shape == () and str(mlp.losses[0].dtype) == "torch.float32"
        values[lib] = (to_numpy(mlp.losses[0]), mlp.get_weights())

        # Losses correspond to the *last* forward pass.
        mlp = SparseMLP()
        mlp(ops.ones((10, 10)))
        assert len(mlp.losses) == 1
        mlp(ops.ones((10, 10)))
        assert len(mlp.losses) == 1  # No accumulation.
    assert_close(values[kerasish][0], values[k][0])


def _train_sparse_mlp(keras, weights):
    SparseMLP = _sparse_mlp(keras)
    dataset = _dataset()

    # A new MLP.
    mlp = SparseMLP()
    mlp(keras.ops.ones((1, 784)))  # changed: built now, to start from the same weights
    if weights is not None:
        mlp.set_weights(weights)
    start = mlp.get_weights()

    # Loss and optimizer.
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.SGD(learning_rate=1e-3)

    losses = []  # changed: each step's loss kept for the comparison
    for step, (x, y) in enumerate(dataset):
        mlp.zero_grad()  # changed: tf.GradientTape -> torch autograd

        # Forward pass.
        logits = mlp(x)

        # External loss value for this batch.
        loss = loss_fn(y, logits)

        # Add the losses created during the forward pass.
        loss += sum(mlp.losses)

        # Get gradients of the loss wrt the weights.
        loss.backward()  # changed: tape.gradient
        gradients = [v.value.grad for v in mlp.trainable_weights]

        # Update the weights of our linear layer.
        with torch.no_grad():  # changed: as Keras's torch loops apply gradients
            optimizer.apply_gradients(zip(gradients, mlp.trainable_weights))
        losses.append(float(loss))
    return start, losses, mlp.get_weights()


def test_tracking_losses_in_a_training_loop_as_keras():
    k = keras_module()
    start, their_losses, their_weights = _train_sparse_mlp(k, None)
    _, losses, weights = _train_sparse_mlp(kerasish, start)
    assert len(losses) == 4
    np.testing.assert_allclose(losses, their_losses, rtol=1e-5)
    assert_close(weights, their_weights, atol=1e-6)


# ----------------------------------------------------------------------------- Keeping track of training metrics


def _metric_loop(keras, capsys, weights):
    dataset = _dataset()
    # Instantiate a metric object
    accuracy = keras.metrics.SparseCategoricalAccuracy()

    # Prepare our layer, loss, and optimizer.
    model = keras.Sequential(
        [
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.build((None, 784))  # changed: built now, to start from the same weights
    if weights is not None:
        model.set_weights(weights)
    start = model.get_weights()
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)

    for epoch in range(2):
        # Iterate over the batches of a dataset.
        for step, (x, y) in enumerate(dataset):
            model.zero_grad()  # changed: tf.GradientTape -> torch autograd
            logits = model(x)
            # Compute the loss value for this batch.
            loss_value = loss_fn(y, logits)

            # Update the state of the `accuracy` metric.
            accuracy.update_state(y, logits)

            # Update the weights of the model to minimize the loss value.
            loss_value.backward()  # changed: tape.gradient
            gradients = [v.value.grad for v in model.trainable_weights]
            with torch.no_grad():  # changed: as Keras's torch loops apply gradients
                optimizer.apply_gradients(zip(gradients, model.trainable_weights))

            # Logging the current accuracy value so far.
            if step % 2 == 0:  # changed: every 200 steps; there are 4
                print("Epoch:", epoch, "Step:", step)
                print("Total running accuracy so far: %.3f" % accuracy.result())

        # Reset the metric's state at the end of an epoch
        accuracy.reset_state()  # changed: reset_states(), tf.keras's name
    return start, capsys.readouterr().out.splitlines(), float(accuracy.result())


def test_keeping_track_of_training_metrics_prints_keras_accuracy(capsys):
    k = keras_module()
    start, their_lines, their_after_reset = _metric_loop(k, capsys, None)
    _, lines, after_reset = _metric_loop(kerasish, capsys, start)
    assert lines[:2] == ["Epoch: 0 Step: 0", lines[1]] and lines[1].startswith("Total running accuracy so far: ")
    assert len(lines) == 8
    assert lines == their_lines
    assert after_reset == their_after_reset == 0.0


# ----------------------------------------------------------------------------- Training mode & inference mode


def _dropout_mlp(keras):
    ops = keras.ops
    Linear = _linear_with_add_weight(keras)

    class Dropout(keras.layers.Layer):
        def __init__(self, rate):
            super(Dropout, self).__init__()
            self.rate = rate

        def call(self, inputs, training=None):
            if training:
                return keras.random.dropout(inputs, rate=self.rate)  # changed: tf.nn.dropout
            return inputs

    class MLPWithDropout(keras.layers.Layer):
        def __init__(self):
            super(MLPWithDropout, self).__init__()
            self.linear_1 = Linear(32)
            self.dropout = Dropout(0.5)
            self.linear_3 = Linear(10)

        def call(self, inputs, training=None):
            x = self.linear_1(inputs)
            x = ops.relu(x)  # changed: tf.nn.relu
            x = self.dropout(x, training=training)
            return self.linear_3(x)

    return Linear, Dropout, MLPWithDropout


def test_training_mode_and_inference_mode():
    k = keras_module()
    outs = {}
    for lib in (k, kerasish):
        keras, ops = lib, lib.ops
        _, _, MLPWithDropout = _dropout_mlp(keras)
        mlp = MLPWithDropout()
        y_train = mlp(ops.ones((2, 2)), training=True)  # changed: tf.ones
        if lib is kerasish:
            mlp.set_weights(outs[k][0])
            y_train = mlp(ops.ones((2, 2)), training=True)
        y_test = mlp(ops.ones((2, 2)), training=False)
        y_default = mlp(ops.ones((2, 2)))  # changed: added, a call without `training` is inference
        outs[lib] = (mlp.get_weights(), to_numpy(y_train), to_numpy(y_test), to_numpy(y_default))
    ours, theirs = outs[kerasish], outs[k]
    assert_close(ours[2], theirs[2])
    assert_close(ours[3], theirs[3])
    assert not np.allclose(ours[1], ours[2])  # dropout acted


# ----------------------------------------------------------------------------- The Functional API


def test_the_functional_api_with_custom_layers():
    k = keras_module()
    outs = {}
    for lib in (k, kerasish):
        keras, ops = _fresh(lib), lib.ops
        Linear, Dropout, _ = _dropout_mlp(keras)
        inputs = keras.Input(shape=(16,), dtype="float32")  # changed: tf.keras.Input

        # We call layers on these "type" objects
        # and they return updated types (new shapes/dtypes).
        x = Linear(32)(inputs)  # We are reusing the Linear layer we defined earlier.
        x = Dropout(0.5)(x)  # We are reusing the Dropout layer we defined earlier.
        outputs = Linear(10)(x)

        # A functional `Model` can be defined by specifying inputs and outputs.
        # A model is itself a layer like any other.
        model = keras.Model(inputs, outputs)  # changed: tf.keras.Model

        # A functional model already has weights, before being called on any data.
        # That's because we defined its input shape in advance (in `Input`).
        assert len(model.weights) == 4
        if lib is kerasish:
            model.set_weights(outs[k][0])

        # Let's call our model on some data, for fun.
        y = model(ops.ones((2, 16)))  # changed: tf.ones
        assert y.shape == (2, 10)

        # You can pass a `training` argument in `__call__`
        # (it will get passed down to the Dropout layer).
        y_train = model(ops.ones((2, 16)), training=True)
        lines = []
        model.summary(print_fn=lines.append)
        outs[lib] = (model.get_weights(), to_numpy(y), to_numpy(y_train), "\n".join(lines).rstrip("\n"))
    ours, theirs = outs[kerasish], outs[k]
    assert_close(ours[1], theirs[1])
    assert not np.allclose(ours[2], ours[1])  # training=True reached the Dropout
    assert ours[3] == theirs[3]


def _built_in_loops(keras, weights):
    dataset = _dataset()
    inputs = keras.Input(shape=(784,), dtype="float32")  # changed: tf.keras.Input
    x = keras.layers.Dense(32, activation="relu")(inputs)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(10)(x)
    model = keras.Model(inputs, outputs)  # changed: tf.keras.Model
    if weights is not None:
        model.set_weights(weights)  # changed: Keras's initial weights in both
    start = model.get_weights()

    # Specifying the loss, optimizer, and metrics with `compile()`.
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        metrics=[keras.metrics.SparseCategoricalAccuracy()])

    # Train the model with the dataset for 2 epochs.
    history = model.fit(dataset, epochs=2, verbose=0)  # changed: History kept, no progress bar
    predictions = model.predict(dataset, verbose=0)
    results = model.evaluate(dataset, verbose=0)
    return start, history.history, predictions, results


def test_the_built_in_fit_predict_evaluate_on_a_loader_as_keras():
    k = keras_module()
    start, their_history, their_predictions, their_results = _built_in_loops(k, None)
    _, history, predictions, results = _built_in_loops(kerasish, start)
    assert list(history) == list(their_history) == ["loss", "sparse_categorical_accuracy"]
    for key in history:
        np.testing.assert_allclose(history[key], their_history[key], rtol=1e-5)
    assert predictions.shape == (256, 10)
    assert_close(predictions, their_predictions, atol=1e-5)
    np.testing.assert_allclose(results, their_results, rtol=1e-5)


def _custom_model_fit(keras, weights):
    class CustomModel(keras.Model):

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.accuracy = keras.metrics.SparseCategoricalAccuracy()
            self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            self.optimizer = keras.optimizers.Adam(learning_rate=1e-3)

        def train_step(self, data):
            # Unpack the data. Its structure depends on your model and
            # on what you pass to `fit()`.
            x, y = data
            self.zero_grad()  # changed: tf.GradientTape -> torch autograd
            y_pred = self(x, training=True)  # Forward pass
            loss = self.loss_fn(y, y_pred)
            loss.backward()  # changed: tape.gradient
            gradients = [v.value.grad for v in self.trainable_weights]
            with torch.no_grad():  # changed: as Keras's torch loops apply gradients
                self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
            # Update metrics (includes the metric that tracks the loss)
            self.loss_tracker.update_state(loss)
            self.accuracy.update_state(y, y_pred)
            # Return a dict mapping metric names to current value
            return {"loss": self.loss_tracker.result(), "accuracy": self.accuracy.result()}

        @property
        def metrics(self):
            # We list our `Metric` objects here so that `reset_states()` can be
            # called automatically at the start of each epoch.
            return [self.loss_tracker, self.accuracy]

    dataset = _dataset()
    inputs = keras.Input(shape=(784,), dtype="float32")  # changed: tf.keras.Input
    x = keras.layers.Dense(32, activation="relu")(inputs)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(10)(x)
    model = CustomModel(inputs, outputs)
    if weights is not None:
        model.set_weights(weights)  # changed: Keras's initial weights in both
    start = model.get_weights()
    before = type(model.optimizer).__name__  # changed: added, the optimizer __init__ set
    model.compile()
    history = model.fit(dataset, epochs=2, verbose=0)  # changed: History kept, no progress bar
    return start, history.history, (before, type(model.optimizer).__name__)


def test_a_custom_train_step_with_compile_without_arguments_as_keras():
    k = keras_module()
    start, their_history, their_optimizer = _custom_model_fit(k, None)
    _, history, optimizer = _custom_model_fit(kerasish, start)
    # compile() with no arguments sets its default optimizer, RMSprop, over the Adam made in __init__.
    assert optimizer == their_optimizer == ("Adam", "RMSprop")
    assert list(history) == list(their_history) == ["accuracy", "loss"]
    for key in history:
        np.testing.assert_allclose(history[key], their_history[key], rtol=1e-5)


def test_the_optimizer_attribute_after_compile():
    # Beyond the guide, the attribute it assigns: a compiled model takes a new optimizer for its next fit,
    # and refuses None (it could not train).
    inputs = kerasish.Input(shape=(4,))
    model = kerasish.Model(inputs, kerasish.layers.Dense(1)(inputs))
    model.compile(loss="mse")
    model.optimizer = kerasish.optimizers.SGD(learning_rate=0.1)
    kernel, bias = model.get_weights()
    x, y = np.ones((8, 4), "float32"), np.zeros((8, 1), "float32")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert type(model.optimizer).__name__ == "SGD" and int(model.optimizer.iterations) == 1
    grad = 2 * (kernel.sum() + bias[0])  # d mean((x @ kernel + bias - 0) ** 2) for each weight, x all ones
    assert_close(model.get_weights(), [kernel - 0.1 * grad, bias - 0.1 * grad], atol=1e-5)  # one plain SGD step
    with pytest.raises(ValueError, match="a compiled model needs an optimizer"):
        model.optimizer = None


# ----------------------------------------------------------------------------- Example 1: a VAE


def _vae_classes(keras):
    ops = keras.ops
    layers = keras.layers

    class Sampling(layers.Layer):
        """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = ops.shape(z_mean)[0]  # changed: tf.shape
            dim = ops.shape(z_mean)[1]
            epsilon = keras.random.normal(shape=(batch, dim))  # changed: tf.keras.backend.random_normal
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon  # changed: tf.exp

    class Encoder(layers.Layer):
        """Maps MNIST digits to a triplet (z_mean, z_log_var, z)."""

        def __init__(self, latent_dim=32, intermediate_dim=64, **kwargs):
            super(Encoder, self).__init__(**kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation=ops.relu)  # changed: tf.nn.relu
            self.dense_mean = layers.Dense(latent_dim)
            self.dense_log_var = layers.Dense(latent_dim)
            self.sampling = Sampling()

        def call(self, inputs):
            x = self.dense_proj(inputs)
            z_mean = self.dense_mean(x)
            z_log_var = self.dense_log_var(x)
            z = self.sampling((z_mean, z_log_var))
            return z_mean, z_log_var, z

    class Decoder(layers.Layer):
        """Converts z, the encoded digit vector, back into a readable digit."""

        def __init__(self, original_dim, intermediate_dim=64, **kwargs):
            super(Decoder, self).__init__(**kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation=ops.relu)  # changed: tf.nn.relu
            self.dense_output = layers.Dense(original_dim, activation=ops.sigmoid)  # changed: tf.nn.sigmoid

        def call(self, inputs):
            x = self.dense_proj(inputs)
            return self.dense_output(x)

    class VariationalAutoEncoder(layers.Layer):
        """Combines the encoder and decoder into an end-to-end model for training."""

        def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, **kwargs):
            super(VariationalAutoEncoder, self).__init__(**kwargs)
            self.original_dim = original_dim
            self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
            self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

        def call(self, inputs):
            z_mean, z_log_var, z = self.encoder(inputs)
            reconstructed = self.decoder(z)
            # Add KL divergence regularization loss.
            kl_loss = -0.5 * ops.mean(  # changed: tf.reduce_mean, tf.square, tf.exp
                z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1
            )
            self.add_loss(kl_loss)
            return reconstructed

    return Sampling, VariationalAutoEncoder


def _vae_loop(keras, weights):
    _, VariationalAutoEncoder = _vae_classes(keras)
    # Our model.
    vae = VariationalAutoEncoder(original_dim=784, intermediate_dim=64, latent_dim=32)
    vae(keras.ops.zeros((1, 784)))  # changed: built now, to start from the same weights
    if weights is not None:
        vae.set_weights(weights)
    start = vae.get_weights()
    keras.utils.set_random_seed(1337)  # changed: the same global random stream in both libraries

    # Loss and optimizer.
    loss_fn = keras.losses.MeanSquaredError()
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)

    # Prepare a dataset.
    dataset = [x for x, _ in _dataset(batch_size=32)]  # changed: the images alone, as the guide's dataset

    def training_step(x):
        vae.zero_grad()  # changed: tf.GradientTape -> torch autograd
        reconstructed = vae(x)  # Compute input reconstruction.
        # Compute loss.
        loss = loss_fn(x, reconstructed)
        loss += sum(vae.losses)  # Add KLD term.
        # Update the weights of the VAE.
        loss.backward()  # changed: tape.gradient
        grads = [v.value.grad for v in vae.trainable_weights]
        with torch.no_grad():  # changed: as Keras's torch loops apply gradients
            optimizer.apply_gradients(zip(grads, vae.trainable_weights))
        return loss

    losses = []  # Keep track of the losses over time.
    for step, x in enumerate(dataset):
        loss = training_step(x)
        # Logging.
        losses.append(float(loss))
        if step % 100 == 0:
            print("Step:", step, "Loss:", sum(losses) / len(losses))

        # Stop after 1000 steps.
        # Training the model to convergence is left
        # as an exercise to the reader.
        if step >= 1000:
            break
    return start, losses, len(vae.losses)


def test_vae_as_nested_layers_trains_in_a_hand_written_loop():
    k = keras_module()
    start, their_losses, their_count = _vae_loop(k, None)
    _, losses, count = _vae_loop(kerasish, start)
    assert len(losses) == 8 and count == their_count == 1
    # The same seed gives kerasish the same normal draws as Keras, so the same losses.
    np.testing.assert_allclose(losses, their_losses, rtol=1e-4)


def _functional_vae(keras):
    ops, layers = keras.ops, keras.layers
    Sampling, _ = _vae_classes(keras)
    original_dim = 784
    intermediate_dim = 64
    latent_dim = 32

    # Define encoder model.
    original_inputs = keras.Input(shape=(original_dim,), name="encoder_input")  # changed: tf.keras.Input
    x = layers.Dense(intermediate_dim, activation="relu")(original_inputs)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()((z_mean, z_log_var))
    encoder = keras.Model(inputs=original_inputs, outputs=z, name="encoder")

    # Define decoder model.
    latent_inputs = keras.Input(shape=(latent_dim,), name="z_sampling")
    x = layers.Dense(intermediate_dim, activation="relu")(latent_inputs)
    outputs = layers.Dense(original_dim, activation="sigmoid")(x)
    decoder = keras.Model(inputs=latent_inputs, outputs=outputs, name="decoder")

    # Define VAE model.
    outputs = decoder(z)
    vae = keras.Model(inputs=original_inputs, outputs=outputs, name="vae")

    # Add KL divergence regularization loss.
    kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)  # changed: tf ops
    return vae, kl_loss, encoder, decoder


def test_functional_vae_symbolic_add_loss_is_refused_as_keras():
    k = keras_module()
    errors = {}
    for lib in (k, kerasish):
        vae, kl_loss, _, _ = _functional_vae(_fresh(lib))
        with pytest.raises(NotImplementedError) as info:  # Keras 3's functional Model.add_loss
            vae.add_loss(kl_loss)
        errors[lib] = info.value
    assert isinstance(errors[kerasish], ValueError)  # and the ValueError of Keras's Layer.add_loss
    errors = {lib: str(e) for lib, e in errors.items()}
    assert errors[k] == ""  # Keras says nothing more
    assert "add_loss() received a symbolic KerasTensor" in errors[kerasish]
    assert "in the call() of a layer" in errors[kerasish]


def test_functional_vae_fits_with_the_built_in_loop():
    k = keras_module()
    histories = {}
    for lib in (k, kerasish):
        keras = _fresh(lib)
        vae, _, encoder, decoder = _functional_vae(keras)
        # Loss and optimizer.
        loss_fn = keras.losses.MeanSquaredError()
        optimizer = keras.optimizers.Adam(learning_rate=1e-3)

        dataset = _dataset(batch_size=32, targets=False)  # changed: dataset.map(lambda x: (x, x)) in a loader

        # Configure the model for training.
        vae.compile(optimizer, loss=loss_fn)

        # Actually training the model.
        histories[lib] = vae.fit(dataset, epochs=1, verbose=0).history  # changed: History kept
        assert [m.name for m in vae.layers][-1] == "decoder"
    assert list(histories[kerasish]) == list(histories[k]) == ["loss"]


# ----------------------------------------------------------------------------- Example 2: hypernetworks


def _hypernetwork(keras, steps, weights=None):
    ops = keras.ops
    input_dim = 784
    classes = 10

    # This is the main network we'll actually use to predict labels.
    main_network = keras.Sequential(
        [keras.layers.Dense(64, activation=ops.relu), keras.layers.Dense(classes),]  # changed: tf.nn.relu
    )

    # It doesn't need to create its own weights, so let's mark its layers
    # as already built. That way, calling `main_network` won't create new variables.
    for layer in main_network.layers:
        layer.built = True

    # This is the number of weight coefficients to generate. Each layer in the
    # main network requires output_dim * input_dim + output_dim coefficients.
    num_weights_to_generate = (classes * 64 + classes) + (64 * input_dim + 64)

    # This is the hypernetwork that generates the weights of the `main_network` above.
    hypernetwork = keras.Sequential(
        [
            keras.layers.Dense(16, activation=ops.relu),  # changed: tf.nn.relu
            keras.layers.Dense(num_weights_to_generate, activation=ops.sigmoid),  # changed: tf.nn.sigmoid
        ]
    )
    hypernetwork.build((None, input_dim))  # changed: built now, to start from the same weights
    if weights is not None:
        hypernetwork.set_weights(weights)
    start = hypernetwork.get_weights()

    # Loss and optimizer.
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(learning_rate=1e-4)

    # We'll use a batch size of 1 for this experiment.
    dataset = _dataset(batch_size=1, n=steps)

    def train_step(x, y):
        hypernetwork.zero_grad()  # changed: tf.GradientTape -> torch autograd
        # Predict weights for the outer model.
        weights_pred = hypernetwork(x)

        # Reshape them to the expected shapes for w and b for the outer model.
        # Layer 0 kernel.
        start_index = 0
        w0_shape = (input_dim, 64)
        w0_coeffs = weights_pred[:, start_index : start_index + np.prod(w0_shape)]
        w0 = ops.reshape(w0_coeffs, w0_shape)  # changed: tf.reshape
        start_index += np.prod(w0_shape)
        # Layer 0 bias.
        b0_shape = (64,)
        b0_coeffs = weights_pred[:, start_index : start_index + np.prod(b0_shape)]
        b0 = ops.reshape(b0_coeffs, b0_shape)
        start_index += np.prod(b0_shape)
        # Layer 1 kernel.
        w1_shape = (64, classes)
        w1_coeffs = weights_pred[:, start_index : start_index + np.prod(w1_shape)]
        w1 = ops.reshape(w1_coeffs, w1_shape)
        start_index += np.prod(w1_shape)
        # Layer 1 bias.
        b1_shape = (classes,)
        b1_coeffs = weights_pred[:, start_index : start_index + np.prod(b1_shape)]
        b1 = ops.reshape(b1_coeffs, b1_shape)
        start_index += np.prod(b1_shape)

        # Set the weight predictions as the weight variables on the outer model.
        main_network.layers[0].kernel = w0
        main_network.layers[0].bias = b0
        main_network.layers[1].kernel = w1
        main_network.layers[1].bias = b1

        # Inference on the outer model.
        preds = main_network(x)
        loss = loss_fn(y, preds)

        # Train only inner model.
        loss.backward()  # changed: tape.gradient
        grads = [v.value.grad for v in hypernetwork.trainable_weights]
        with torch.no_grad():  # changed: as Keras's torch loops apply gradients
            optimizer.apply_gradients(zip(grads, hypernetwork.trainable_weights))
        return loss

    losses = []  # Keep track of the losses over time.
    for step, (x, y) in enumerate(dataset):
        loss = train_step(x, y)
        losses.append(float(loss))
    return start, losses, main_network, hypernetwork


def test_hypernetworks_train_the_generator_where_keras_3_refuses():
    k = keras_module()
    # Keras 3's Dense.kernel is a read-only property: the guide's tf.keras code stops at
    # `main_network.layers[0].kernel = w0`.
    with pytest.raises(AttributeError, match="kernel"):
        _hypernetwork(k, steps=1)

    # kerasish's Dense, marked built before it made weights, computes with the tensors assigned to
    # `kernel` and `bias` (its call reads them), so the guide's loop trains the hypernetwork as tf.keras did.
    start, losses, main_network, hypernetwork = _hypernetwork(kerasish, steps=6)
    assert len(losses) == 6 and np.isfinite(losses).all()
    assert main_network.weights == []  # the main network holds no variables of its own
    dense_0, dense_1 = main_network.layers
    x = torch.ones((1, 784))
    expected = torch.relu(x @ dense_0.kernel + dense_0.bias) @ dense_1.kernel + dense_1.bias
    assert_close(main_network(x), expected)  # the assigned tensors are what the layers compute with
    moved = [np.abs(a - b).max() for a, b in zip(hypernetwork.get_weights(), start)]
    assert min(moved) > 0  # gradients reached every weight of the hypernetwork through the main network
