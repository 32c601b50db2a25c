"""A custom train_step's `compute_loss` on a softmax/sigmoid head reads the logits the model's own call
kept (training/kept_logits.py): the same loss, value and gradient, as the built-in step, which computes
it from the logits; any other tensor gets Keras's formula on probabilities."""

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers
from kerasish.utils.tree import unpack_x_y_sample_weight


class GuideStep(kerasish.Sequential):
    """The Keras 3 guide's torch train_step, recording its losses and outputs."""

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        self.seen.append((loss.detach().clone(), y_pred.detach().clone()))
        loss.backward()
        weights = self.trainable_weights
        self.optimizer.apply([w.grad for w in weights], weights)
        for m in self.metrics:
            m.update_state(loss) if m.name == "loss" else m.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


HEADS = {
    "softmax+sparse": (lambda: layers.Dense(4, activation="softmax"), "sparse_categorical_crossentropy",
                       lambda rng, n: rng.integers(0, 4, n)),
    "softmax+categorical": (lambda: layers.Dense(4, activation="softmax"), "categorical_crossentropy",
                            lambda rng, n: np.eye(4, dtype="float32")[rng.integers(0, 4, n)]),
    "sigmoid+binary": (lambda: layers.Dense(1, activation="sigmoid"), "binary_crossentropy",
                       lambda rng, n: rng.integers(0, 2, (n, 1)).astype("float32")),
}


def pair(head, scale):
    """The same model twice (built-in step and guide step), with outputs saturated when `scale` is large."""
    make_head, loss, _ = HEADS[head]
    kerasish.utils.set_random_seed(1)
    built_in = kerasish.Sequential([layers.Input((5,)), layers.Dense(6), make_head()])
    custom = GuideStep([layers.Input((5,)), layers.Dense(6), make_head()])
    custom.set_weights([w * scale for w in built_in.get_weights()])
    built_in.set_weights(custom.get_weights())
    for m in (built_in, custom):
        m.compile(optimizer=kerasish.optimizers.SGD(0.05), loss=loss, device="cpu")
    custom.seen = []
    return built_in, custom


def data(head, n=32):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 5)).astype("float32") * 3, HEADS[head][2](rng, n)


@pytest.mark.parametrize("head", list(HEADS))
@pytest.mark.parametrize("scale", [1.0, 40.0], ids=["plain", "saturated"])
def test_the_guide_step_trains_exactly_as_the_built_in_step(head, scale):
    built_in, custom = pair(head, scale)
    x, y = data(head)
    h1 = built_in.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    h2 = custom.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert h1.history["loss"] == h2.history["loss"]
    for a, b in zip(built_in.get_weights(), custom.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_saturated_outputs_give_the_logits_loss_not_the_clipped_one():
    """Where Keras's formula on probabilities clips each term at -log(1e-7), the custom step's loss is
    the exact cross-entropy of the logits, as the built-in step's."""
    _, custom = pair("softmax+sparse", 40.0)
    x, y = data("softmax+sparse", 8)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    with torch.no_grad():
        logits = custom.layers[1].call_logits(custom.layers[0](xt))
        exact = torch.nn.functional.cross_entropy(logits, yt)
        clipped = kerasish.losses.SparseCategoricalCrossentropy()(yt, torch.softmax(logits, -1))
    assert float(exact) > float(clipped) * 1.5  # saturated: the two formulas differ a lot
    custom.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    torch.testing.assert_close(custom.seen[0][0], exact, rtol=1e-6, atol=0)


def test_the_output_a_custom_step_sees_is_the_models_output_bit_for_bit():
    _, custom = pair("softmax+sparse", 1.0)
    x, y = data("softmax+sparse", 8)
    expected = custom(torch.as_tensor(x)).detach()
    custom.compile(optimizer=kerasish.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy", device="cpu")
    custom.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    torch.testing.assert_close(custom.seen[0][1], expected, rtol=0, atol=0)


class ChangesPrediction(GuideStep):
    """Hands compute_loss something other than the model's untouched output."""

    def train_step(self, data):
        x, y = data
        y_pred = self(x, training=True)
        given = self.change(y_pred)
        loss = self.compute_loss(y=y, y_pred=given)
        self.seen.append((loss.detach().clone(), given.detach().clone()))
        loss.backward()
        self.zero_grad()
        return {"loss": loss}


@pytest.mark.parametrize("change", [
    lambda p: p * 1.0,                # a new tensor
    lambda p: p[:, :].contiguous(),   # a copy
], ids=["new tensor", "copy"])
def test_anything_but_the_untouched_output_gets_kerass_formula_on_probabilities(change):
    model = ChangesPrediction([layers.Input((5,)), layers.Dense(6), layers.Dense(4, activation="softmax")])
    model.set_weights([w * 40.0 for w in model.get_weights()])  # saturated: the two formulas differ
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", device="cpu")
    model.seen, model.change = [], change
    x, y = data("softmax+sparse", 8)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    loss, given = model.seen[0]
    expected = kerasish.losses.SparseCategoricalCrossentropy()(torch.as_tensor(y), given)
    torch.testing.assert_close(loss, expected, rtol=0, atol=0)


def test_outside_fit_compute_loss_reads_probabilities():
    model = kerasish.Sequential([layers.Input((5,)), layers.Dense(4, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", device="cpu")
    model.set_weights([w * 40.0 for w in model.get_weights()])
    x, y = data("softmax+sparse", 8)
    out = model(torch.as_tensor(x), training=True)
    assert "_keras_logits" not in out.__dict__
    expected = kerasish.losses.SparseCategoricalCrossentropy()(torch.as_tensor(y), out)
    torch.testing.assert_close(model.compute_loss(y=torch.as_tensor(y), y_pred=out), expected, rtol=0, atol=0)


class OwnLoss(GuideStep):
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        assert "_keras_logits" not in y_pred.__dict__
        return super().compute_loss(x, y, y_pred, sample_weight, training)


def test_a_model_with_its_own_compute_loss_keeps_no_logits():
    model = OwnLoss([layers.Input((5,)), layers.Dense(4, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", device="cpu")
    model.seen = []
    x, y = data("softmax+sparse", 8)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert len(model.seen) == 1


def test_an_output_changed_in_place_loses_its_logits():
    """(Autograd refuses a backward through a softmax output changed in place, so this shows at the
    function level: the version counter drops the kept logits.)"""
    from kerasish.training import kept_logits

    model = kerasish.Sequential([layers.Input((5,)), layers.Dense(4, activation="softmax")])
    loss = kerasish.losses.SparseCategoricalCrossentropy()
    out = kept_logits.call(model, torch.ones(2, 5), model.layers[-1].activation, loss)
    assert kept_logits.logits_of(out, loss) is not None
    assert kept_logits.logits_of(out, kerasish.losses.SparseCategoricalCrossentropy()) is None  # another loss
    with torch.no_grad():
        out.mul_(1.0)
    assert kept_logits.logits_of(out, loss) is None


def test_a_custom_test_step_reads_probabilities():
    class GuideTest(kerasish.Sequential):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            assert "_keras_logits" not in y_pred.__dict__
            loss = self.compute_loss(y=y, y_pred=y_pred)
            self.metrics[0].update_state(loss)
            return {"loss": self.metrics[0].result()}

    kerasish.utils.set_random_seed(3)
    plain = kerasish.Sequential([layers.Input((5,)), layers.Dense(4, activation="softmax")])
    custom = GuideTest([layers.Input((5,)), layers.Dense(4, activation="softmax")])
    custom.set_weights([w * 40.0 for w in plain.get_weights()])
    plain.set_weights(custom.get_weights())
    for m in (plain, custom):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", device="cpu")
    x, y = data("softmax+sparse", 16)
    probs = torch.as_tensor(custom.predict(x, verbose=0))
    expected = float(kerasish.losses.SparseCategoricalCrossentropy()(torch.as_tensor(y), probs))
    assert custom.evaluate(x, y, batch_size=16, verbose=0) == pytest.approx(expected, rel=1e-6)
    assert plain.evaluate(x, y, batch_size=16, verbose=0) != pytest.approx(expected, rel=1e-3)  # logits


def test_a_model_that_makes_masks_keeps_its_plain_call():
    """The logits path attaches no Keras mask to the output, so a model with mask-making layers is left as it was."""
    class Sees(kerasish.Sequential):
        def train_step(self, data):
            x, y = data
            y_pred = self(x, training=True)
            self.kept.append("_keras_logits" in y_pred.__dict__)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            loss.backward()
            self.zero_grad()
            return {"loss": loss}

    model = Sees([layers.Input((6,)), layers.Embedding(10, 4, mask_zero=True), layers.LSTM(3),
                  layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", device="cpu")
    model.kept = []
    x = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 0, 0, 0, 0]])
    model.fit(x, np.array([0, 1]), batch_size=2, epochs=1, verbose=0)
    assert model.kept == [False]


# Found by review: each failed before its fix.
rng = np.random.default_rng(0)
X = rng.normal(size=(8, 5)).astype("float32"); Y = rng.integers(0, 4, 8)

class ReviewGuide(kerasish.Sequential):
    def train_step(self, data):
        x, y, sw = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=True)
        self.seen.append((y_pred.detach().clone(), sw))
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw)
        loss.backward(); self.zero_grad()
        return {"loss": loss}

def make(cls=ReviewGuide, **last):
    kerasish.utils.set_random_seed(1)
    m = cls([layers.Input((5,)), layers.Dense(6), layers.Dense(4, activation="softmax", **last)])
    m.compile(optimizer=kerasish.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy", device="cpu")
    m.seen = []
    return m

def test_a_forward_hook_on_the_output_layer_is_seen_by_the_custom_step():
    m = make()
    m.layers[-1].register_forward_hook(lambda mod, i, o: o * 0.5)
    expected = m(torch.as_tensor(X)).detach()
    m.fit(X, Y, batch_size=8, shuffle=False, verbose=0)
    torch.testing.assert_close(m.seen[0][0], expected, rtol=0, atol=0)

def test_a_sequential_subclass_own_call_is_what_the_custom_step_sees():
    class Squares(ReviewGuide):
        def call(self, inputs):
            return super().call(inputs) ** 2
    m = make(Squares)
    expected = m(torch.as_tensor(X)).detach()
    m.fit(X, Y, batch_size=8, shuffle=False, verbose=0)
    torch.testing.assert_close(m.seen[0][0], expected, rtol=0, atol=0)

def test_the_output_layers_activity_regularizer_counts_in_both_steps():
    m = make(kerasish.Sequential, activity_regularizer=kerasish.regularizers.L2(10.0))
    xt = torch.as_tensor(X)
    with torch.no_grad():
        out = m(xt, training=True)
        expected = float(kerasish.losses.SparseCategoricalCrossentropy()(torch.as_tensor(Y), out) + sum(m.losses))
    assert m.fit(X, Y, batch_size=8, verbose=0).history["loss"][0] == pytest.approx(expected, rel=1e-5)

def test_predict_inside_a_custom_train_step_works():
    class PseudoLabel(ReviewGuide):
        def train_step(self, data):
            self.predict_on_batch(data[0])  # under inference_mode: no logits kept (no version counter)
            return super().train_step(data)
    make(PseudoLabel).fit(X, Y, batch_size=8, verbose=0)

def test_a_nested_custom_evaluate_leaves_the_outer_keep_flag():
    class Quiet(kerasish.Sequential):
        def test_step(self, data):
            return {}
    other = make(Quiet)
    class Outer(ReviewGuide):
        def train_step(self, data):
            other.evaluate(data[0], data[1], verbose=0)
            y_pred = self(data[0], training=True)
            self.kept = "_keras_logits" in y_pred.__dict__
            return {}
    m = make(Outer)
    m.fit(X, Y, batch_size=8, shuffle=False, verbose=0)
    assert m.kept

def test_class_weight_reaches_a_custom_step_as_its_sample_weight():
    """Keras (torch backend) hands train_step the class weights as its sample_weight: the same here."""
    from tests.keras_parity import keras_module

    keras = keras_module()
    weights = {0: 1.0, 1: 2.0, 2: 0.5, 3: 3.0}
    seen = []

    class KerasStep(keras.Sequential):
        def train_step(self, data):
            _, _, sw = keras.utils.unpack_x_y_sample_weight(data)
            seen.append(None if sw is None else np.asarray(sw.detach().cpu()))
            return {}

    theirs = KerasStep([keras.Input((5,)), keras.layers.Dense(4, activation="softmax")])
    theirs.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    theirs.fit(X, Y, batch_size=8, shuffle=False, verbose=0, class_weight=weights)
    m = make()
    m.fit(X, Y, batch_size=8, shuffle=False, verbose=0, class_weight=weights)
    ours = m.seen[0][1]
    assert ours is not None and seen[0] is not None
    np.testing.assert_array_equal(np.asarray(ours), seen[0])
    np.testing.assert_array_equal(np.asarray(ours), np.array([1.0, 2.0, 0.5, 3.0], "float32")[Y])


def test_a_dense_subclass_with_its_own_call_is_called_by_both_steps():
    """The logits path runs the output layer's `call_logits`; a subclass that overrides `call` alone
    computes something else, so both steps call it."""
    class Squared(layers.Dense):
        def call(self, inputs):
            return super().call(inputs) ** 2

    for cls in (kerasish.Sequential, ReviewGuide):
        kerasish.utils.set_random_seed(1)
        m = cls([layers.Input((5,)), Squared(4, activation="softmax")])
        m.compile(optimizer=kerasish.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy", device="cpu")
        m.seen = []
        with torch.no_grad():
            expected = float(kerasish.losses.SparseCategoricalCrossentropy()(torch.as_tensor(Y), m(torch.as_tensor(X))))
        assert m.fit(X, Y, batch_size=8, verbose=0).history["loss"][0] == pytest.approx(expected, rel=1e-6)


def test_a_model_subclass_that_defines_forward_trains():
    """kerasish.Model subclasses may define forward instead of call (as its error message says)."""
    class Forward(kerasish.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(1)

        def forward(self, x):
            return self.d(x) * 0 + 5.0

    m = Forward()
    m.compile(optimizer="sgd", loss="mse", device="cpu")
    history = m.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), epochs=1, verbose=0)
    assert history.history["loss"] == [pytest.approx(16.0)]
