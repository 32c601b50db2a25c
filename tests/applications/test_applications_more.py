"""EfficientNetB4-B7, EfficientNetV2, MobileNet, MobileNetV3, InceptionV3, InceptionResNetV2 against Keras 3's.

As in test_applications.py, Keras (torch backend) builds each model, saves `.weights.h5`, and
kerasish loads the file through `weights=path`. Keras's random initial weights leave the outputs
near zero and blind to the image (batch norm with unit statistics, Glorot kernels), so the Keras
model's kernels and batch-norm statistics are drawn at random first: a wrong layer order or a
missed layer then shows in the predictions.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re

import os

import numpy as np
import pytest

import kerasish
from kerasish import applications
from kerasish.layers import OpLayer
from tests.applications.test_applications import _images
from tests.keras_parity import assert_close, keras_module
from tests.utils.test_get_file import server  # noqa: F401 (the local HTTP server fixture)

SLOW = pytest.mark.slow
# The largest variants' parity runs only with KERASISH_FULL_APPLICATIONS=1 (CI's 10-minute budget): each
# family keeps a smaller variant in CI, built by the same code from Keras's settings table.
FULL = pytest.mark.skipif(not os.environ.get("KERASISH_FULL_APPLICATIONS"),
                          reason="a larger variant of a family CI checks; KERASISH_FULL_APPLICATIONS=1 runs it")

PARITY_CASES = [
    ("MobileNet", dict(include_top=True, classes=10, classifier_activation=None), 32),
    ("MobileNet", dict(include_top=False, pooling="avg", alpha=0.5, depth_multiplier=2), 32),
    ("MobileNetV3Small", dict(include_top=True, classes=10, classifier_activation=None), 32),
    ("MobileNetV3Small", dict(include_top=False, pooling="max", alpha=0.75, include_preprocessing=False), 32),
    pytest.param("MobileNetV3Large", dict(include_top=False, minimalistic=True), 32, marks=SLOW),
    pytest.param("MobileNetV3Large", dict(include_top=True, classes=7, alpha=1.25, classifier_activation=None), 32,
                 marks=SLOW),
    pytest.param("InceptionV3", dict(include_top=True, classes=10, classifier_activation=None), 75, marks=SLOW),
    pytest.param("InceptionV3", dict(include_top=False, pooling="max"), 80, marks=SLOW),
    pytest.param("EfficientNetB4", dict(include_top=False, pooling="avg"), 64, marks=[SLOW, FULL]),
    pytest.param("EfficientNetB7", dict(include_top=True, classes=5, classifier_activation=None), 32, marks=[SLOW, FULL]),
    pytest.param("InceptionResNetV2", dict(include_top=True, classes=10, classifier_activation=None), 75,
                 marks=SLOW),
    pytest.param("EfficientNetV2B0", dict(include_top=True, classes=10, classifier_activation=None), 32,
                 marks=SLOW),
    pytest.param("EfficientNetV2B1", dict(include_top=False, include_preprocessing=False), 32, marks=[SLOW, FULL]),
    pytest.param("EfficientNetV2S", dict(include_top=False, pooling="avg"), 32, marks=[SLOW, FULL]),
    pytest.param("EfficientNetV2B3", dict(include_top=False, pooling="max"), 32, marks=[SLOW, FULL]),
]


def _layer_names(model) -> list:
    # (class, name) of each layer in order, auto-named layers ('re_lu_14') without their process-wide counter,
    # and kerasish's operator nodes (`x + 3.0` on symbolic tensors), which Keras does not list, left out.
    from keras.src.utils.naming import to_snake_case

    return [(type(layer).__name__, re.sub(rf"^({to_snake_case(type(layer).__name__)})_\d+$", r"\1", layer.name))
            for layer in model.layers if not isinstance(layer, OpLayer)]


def _randomize_statistics(model, seed: int = 0) -> None:
    # Batch-norm statistics, scales and offsets drawn at random, and kernels about He's scale, in Keras's model.
    # Smaller kernels make deep models blind to the image again; He's scale (2 / fan_in) makes the deepest
    # ones (EfficientNetB7) chaotic, so float rounding alone changes their outputs.
    rng = np.random.RandomState(seed)
    for layer in model.layers:
        for variable in layer.weights:
            shape, name = tuple(variable.shape), variable.path.rsplit("/", 1)[-1]
            if name == "kernel":
                depthwise = type(layer).__name__ == "DepthwiseConv2D"  # (rows, cols, channels, multiplier)
                fan_in = int(np.prod(shape[:-2])) * (1 if depthwise else shape[-2])
                variable.assign(rng.normal(0.0, np.sqrt(1.5 / fan_in), shape).astype("float32"))
            elif name in ("moving_variance", "gamma"):
                variable.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
            elif name in ("moving_mean", "beta"):
                variable.assign(rng.normal(0.0, 0.2, shape).astype("float32"))


@pytest.mark.parametrize("name,kwargs,size", PARITY_CASES)
def test_keras_weights_load_and_predict_the_same(name, kwargs, size, tmp_path):
    keras = keras_module()
    kwargs = dict(kwargs, input_shape=(size, size, 3))
    theirs = getattr(keras.applications, name)(weights=None, **kwargs)
    _randomize_statistics(theirs)
    path = str(tmp_path / f"{name}.weights.h5")
    theirs.save_weights(path)
    ours = getattr(applications, name)(weights=path, **kwargs)
    assert ours.count_params() == theirs.count_params()
    assert len(ours.weights) == len(theirs.weights)
    assert ours.name == theirs.name
    assert tuple(ours.output_shape) == tuple(theirs.output_shape)
    assert _layer_names(ours) == _layer_names(theirs)
    x = _images(size)
    x[1] *= 0.3  # a darker second image: two noise images alike in their statistics look alike to deep models
    if name in ("MobileNet", "InceptionV3", "InceptionResNetV2") or kwargs.get("include_preprocessing") is False:
        x = x / 127.5 - 1.0  # [0, 255] would saturate the ReLU6s of a model that does not rescale itself
    expected = theirs.predict(x, verbose=0)
    scale = float(np.abs(expected).max())
    assert scale > 0 and not np.allclose(expected[0], expected[1], atol=1e-3 * scale)  # the comparison can fail
    assert_close(ours.predict(x, verbose=0), expected, atol=1e-4 * scale, rtol=1e-4)


def test_efficientnet_b4_to_b7_scale_as_keras(monkeypatch):
    # Width, depth, default size and dropout of each variant, as Keras passes them to its builder.
    keras_module()
    from keras.src.applications import efficientnet as keras_efficientnet

    from kerasish.applications import efficientnet

    seen = {}
    monkeypatch.setattr(keras_efficientnet, "EfficientNet", lambda *args, **kw: seen.setdefault("keras", args))
    monkeypatch.setattr(efficientnet, "build_efficientnet", lambda *args: seen.setdefault("ours", args))
    for b in range(4, 8):
        seen.clear()
        getattr(keras_efficientnet, f"EfficientNetB{b}")(weights=None)
        getattr(efficientnet, f"EfficientNetB{b}")(weights=None)
        assert seen["ours"][:4] == seen["keras"][:4], b
        assert seen["ours"][4] == f"efficientnetb{b}" and seen["ours"][-1] == f"b{b}"


def test_efficientnet_v2_variants_scale_as_keras(monkeypatch):
    # Width, depth, default size, name and weights key of each variant, as Keras passes them to its builder.
    keras_module()
    from keras.src.applications import efficientnet_v2 as keras_v2

    from kerasish.applications import efficientnet_v2

    seen = {}
    monkeypatch.setattr(keras_v2, "EfficientNetV2", lambda **kw: seen.setdefault("keras", kw))
    monkeypatch.setattr(efficientnet_v2, "build_efficientnet_v2", lambda *args: seen.setdefault("ours", args))
    for variant in ("B0", "B1", "B2", "B3", "S", "M", "L"):
        seen.clear()
        getattr(keras_v2, f"EfficientNetV2{variant}")(weights=None)
        getattr(efficientnet_v2, f"EfficientNetV2{variant}")(weights=None)
        theirs = seen["keras"]
        assert seen["ours"][:4] == (theirs["width_coefficient"], theirs["depth_coefficient"],
                                    theirs["default_size"], theirs["name"]), variant
        assert seen["ours"][-1] == theirs["weights_name"]
    # The stage tables are Keras's, stage by stage.
    keys = ("kernel_size", "num_repeat", "input_filters", "output_filters", "expand_ratio", "se_ratio", "strides")
    for name, stages in keras_v2.DEFAULT_BLOCKS_ARGS.items():
        ours = efficientnet_v2.STAGES[name.split("-")[1][0]]
        assert [tuple(stage[k] for k in keys) + (stage["conv_type"] == 1,) for stage in stages] == list(ours), name


@SLOW
@FULL
def test_efficientnet_b5_feature_extractor_builds_with_keras_shapes():
    keras = keras_module()
    ours = applications.EfficientNetB5(weights=None, include_top=False, input_shape=(32, 32, 3))
    theirs = keras.applications.EfficientNetB5(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert ours.count_params() == theirs.count_params()
    assert _layer_names(ours) == _layer_names(theirs)


def test_public_paths_match_keras():
    keras = keras_module()
    for module, names in {
        "efficientnet": [f"EfficientNetB{i}" for i in range(8)], "mobilenet": ["MobileNet"],
        "mobilenet_v3": [], "inception_v3": ["InceptionV3"], "inception_resnet_v2": ["InceptionResNetV2"],
        "efficientnet_v2": [f"EfficientNetV2{v}" for v in ("B0", "B1", "B2", "B3", "S", "M", "L")],
    }.items():
        ours = importlib.import_module(f"kerasish.applications.{module}")
        theirs = getattr(keras.applications, module)
        for name in names + ["preprocess_input", "decode_predictions"]:
            their_args = list(inspect.signature(getattr(theirs, name)).parameters)
            assert list(inspect.signature(getattr(ours, name)).parameters) == their_args, f"{module}.{name}"
        for name in names:
            assert getattr(applications, name) is getattr(ours, name)
    # Keras exports MobileNetV3Small/Large at the top of keras.applications only.
    for name in ("MobileNetV3Small", "MobileNetV3Large"):
        their_args = list(inspect.signature(getattr(keras.applications, name)).parameters)
        assert list(inspect.signature(getattr(applications, name)).parameters) == their_args, name


@pytest.mark.parametrize("module", ["mobilenet", "mobilenet_v3", "inception_v3", "efficientnet_v2",
                                    "inception_resnet_v2"])
def test_each_module_preprocesses_as_keras(module):
    keras = keras_module()
    x = _images(4, n=1, seed=4)
    expected = getattr(keras.applications, module).preprocess_input(x.copy())
    got = importlib.import_module(f"kerasish.applications.{module}").preprocess_input(x.copy())
    assert_close(got, expected, atol=1e-5)


def test_mobilenet_v3_top_takes_any_size_and_the_tensor_shape():
    keras = keras_module()
    ours = applications.MobileNetV3Small(weights=None, classes=4)
    theirs = keras.applications.MobileNetV3Small(weights=None, classes=4)
    assert tuple(ours.input_shape) == tuple(theirs.input_shape) == (None, None, None, 3)
    assert ours.count_params() == theirs.count_params()
    assert ours.predict(_images(48), verbose=0).shape == (2, 4)
    inputs = kerasish.layers.Input(shape=(40, 40, 3))
    model = applications.MobileNetV3Small(weights=None, include_top=False, input_tensor=inputs, pooling="avg")
    assert model.inputs[0] is inputs and model.output_shape == (None, 576)


ERROR_CASES = [
    ("MobileNet", dict(weights="imagenet", depth_multiplier=2), r"depth multiplier must be 1.  Received depth_mul"),
    ("MobileNet", dict(weights="imagenet", alpha=0.3, include_top=False),
     r"alpha can be one of`0.25`, `0.50`, `0.75` or `1.0` only.  Received alpha=0.3"),
    ("MobileNet", dict(weights="imagenet", classes=10), r"`classes` should be 1000"),
    ("MobileNet", dict(weights=None, include_top=False, input_shape=(16, 16, 3)), r"Input size must be at least 32x32"),
    ("MobileNetV3Small", dict(weights="imagenet", alpha=0.5),
     r"alpha can be one of `0.75`, `1.0` for non minimalistic or `1.0` for minimalistic only."),
    ("MobileNetV3Large", dict(weights="imagenet", alpha=0.75, minimalistic=True),
     r"alpha can be one of `0.75`, `1.0` for non minimalistic"),
    ("MobileNetV3Small", dict(weights="imagenet", classes=10),
     r'If using `weights="imagenet"` with `include_top` as true, `classes` should be 1000.  Received classes=10'),
    ("MobileNetV3Small", dict(weights="no/such/file.h5"), r"The `weights` argument should be either"),
    ("MobileNetV3Large", dict(weights=None, input_shape=(24, 24, 3)),
     r"Input size must be at least 32x32; Received `input_shape=\(24, 24, 3\)`"),
    ("InceptionV3", dict(weights=None, include_top=False, input_shape=(64, 64, 3)), r"at least 75x75"),
    ("InceptionV3", dict(weights="imagenet", classes=10), r"`classes` should be 1000"),
    ("InceptionV3", dict(weights="imagenet", input_shape=(224, 224, 3)), r"`input_shape` should be \(299, 299, 3\)"),
    ("EfficientNetB5", dict(weights="imagenet", input_shape=(224, 224, 3)), r"`input_shape` should be \(456, 456, 3\)"),
    ("EfficientNetB7", dict(weights="imagenet", classes=3), r"`classes` should be 1000"),
    ("InceptionResNetV2", dict(weights="imagenet", classes=3), r"`classes` should be 1000.  ?Received classes=3"),
    ("InceptionResNetV2", dict(weights=None, include_top=False, input_shape=(74, 80, 3)), r"at least 75x75"),
    ("InceptionResNetV2", dict(weights="no/such/file.h5"), r"The `weights` argument should be either"),
    ("EfficientNetV2B0", dict(weights="imagenet", classes=3),
     r'If using `weights="imagenet"` with `include_top` as true, `classes` should be 1000'),
    ("EfficientNetV2S", dict(weights="imagenet", input_shape=(224, 224, 3)),
     r"`input_shape` should be \(384, 384, 3\)"),
    ("EfficientNetV2M", dict(weights="no/such/file.h5"), r"The `weights` argument should be either"),
    ("EfficientNetV2B2", dict(weights=None, include_top=False, input_shape=(16, 16, 3)), r"at least 32x32"),
]


@pytest.mark.parametrize("name,kwargs,match", ERROR_CASES)
def test_bad_arguments_raise_keras_errors(name, kwargs, match):
    keras = keras_module()
    with pytest.raises(ValueError, match=match):
        getattr(keras.applications, name)(**kwargs)
    with pytest.raises(ValueError, match=match):
        getattr(applications, name)(**kwargs)


def test_mobilenet_v3_input_shape_must_match_the_tensor():
    keras = keras_module()
    match = r"input_shape\[1\] must equal input_tensor.shape\[2\].  Received input_shape=\(40, 48, 3\)"
    with pytest.raises(ValueError, match=match):
        keras.applications.MobileNetV3Small(weights=None, input_tensor=keras.Input((40, 40, 3)),
                                            input_shape=(40, 48, 3))
    with pytest.raises(ValueError, match=match):
        applications.MobileNetV3Small(weights=None, input_tensor=kerasish.layers.Input(shape=(40, 40, 3)),
                                      input_shape=(40, 48, 3))


def test_custom_scale_layer_matches_keras_and_round_trips(tmp_path):
    keras = keras_module()
    import json

    from keras.src.applications import inception_resnet_v2 as keras_irv2

    from kerasish.applications.inception_resnet_v2 import CustomScaleLayer, inception_resnet_block

    layer = CustomScaleLayer(0.17, name="scale")
    config = json.loads(json.dumps(layer.get_config()))
    assert CustomScaleLayer.from_config(config).get_config() == layer.get_config() and config["scale"] == 0.17
    a, b = _images(3, n=2, seed=8), _images(3, n=2, seed=9)
    theirs = keras_irv2.CustomScaleLayer(0.17)([a, b])
    assert_close(layer([a, b]), theirs, atol=1e-4)
    # A saved model holding the layer loads back with the same predictions.
    inputs = kerasish.layers.Input(shape=(8, 8, 16))
    model = kerasish.Model(inputs, inception_resnet_block(inputs, scale=0.2, block_type="block8", block_idx=1))
    model.save(tmp_path / "block.keras")
    loaded = kerasish.saving.load_model(tmp_path / "block.keras")
    x = np.random.RandomState(10).normal(size=(2, 8, 8, 16)).astype("float32")
    assert_close(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    match = r'Unknown Inception-ResNet block type. Expects "block35", "block17" or "block8", but got: block9'
    with pytest.raises(ValueError, match=match):
        keras_irv2.inception_resnet_block(keras.Input((8, 8, 16)), 0.1, "block9", 1)
    with pytest.raises(ValueError, match=match):
        inception_resnet_block(inputs, 0.1, "block9", 1)


def test_errors_kerasish_adds():
    with pytest.raises(ValueError, match=r"`pooling` should be None, 'avg' or 'max'. Received: pooling='mean'"):
        applications.MobileNetV3Small(weights=None, include_top=False, pooling="mean")
    with pytest.raises(ValueError, match="`input_tensor` must be a symbolic tensor.*Pass `input_shape=`"):
        applications.MobileNetV3Small(weights=None, input_tensor=np.zeros((1, 32, 32, 3)), input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"`pooling` should be None.*Received: pooling='sum'"):
        applications.InceptionV3(weights=None, include_top=False, pooling="sum")


# ---- downloads, from a local server ----------------------------------------------------------------

STANDIN = b"not really weights"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASISH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.parametrize("builder,kwargs,file_name,module,hash_key", [
    pytest.param("EfficientNetB6", dict(include_top=False), "efficientnetb6_notop.h5", "efficientnet", "b6",
                 marks=SLOW),
    pytest.param("EfficientNetB4", dict(), "efficientnetb4.h5", "efficientnet", "b4", marks=SLOW),
    ("MobileNet", dict(include_top=False, alpha=0.25, input_shape=(128, 128, 3)), "mobilenet_2_5_128_tf_no_top.h5",
     "mobilenet", None),
    ("MobileNet", dict(), "mobilenet_1_0_224_tf.h5", "mobilenet", None),
    ("MobileNetV3Small", dict(include_top=False, minimalistic=True, input_shape=(224, 224, 3)),
     "weights_mobilenet_v3_small_minimalistic_224_1.0_float_no_top_v2.h5", "mobilenet_v3",
     "small_minimalistic_224_1.0_float"),
    ("MobileNetV3Large", dict(alpha=0.75, input_shape=(224, 224, 3)), "weights_mobilenet_v3_large_224_0.75_float.h5",
     "mobilenet_v3", "large_224_0.75_float"),
    ("EfficientNetV2B0", dict(include_top=False), "efficientnetv2-b0_notop.h5", "efficientnet_v2", "b0"),
    pytest.param("EfficientNetV2S", dict(), "efficientnetv2-s.h5", "efficientnet_v2", "-s", marks=SLOW),
    ("InceptionResNetV2", dict(), "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
     "inception_resnet_v2", None),
    ("InceptionV3", dict(include_top=False), "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
     "inception_v3", None),
])
def test_imagenet_asks_for_keras_file_names(builder, kwargs, file_name, module, hash_key, server, home,  # noqa: F811
                                            monkeypatch):
    keras_module()
    their_source = inspect.getsource(importlib.import_module(f"keras.src.applications.{module}"))
    their_source = re.sub(r'"\s*"', "", their_source)  # strings Keras splits over lines, joined
    module = importlib.import_module(f"kerasish.applications.{module}")
    base = next(n for n in ("BASE_WEIGHT_PATH", "BASE_WEIGHTS_PATH", "BASE_WEIGHT_URL") if hasattr(module, n))
    theirs = importlib.import_module(f"keras.src.applications.{module.__name__.rsplit('.', 1)[-1]}")
    if hasattr(theirs, base):
        assert getattr(module, base) == getattr(theirs, base)
    else:  # Keras spells out the whole URL of each file
        assert getattr(module, base) + module.WEIGHTS[0] == theirs.WEIGHTS_PATH
        assert getattr(module, base) + module.WEIGHTS_NO_TOP[0] == theirs.WEIGHTS_PATH_NO_TOP
    server.files[file_name] = STANDIN
    monkeypatch.setattr(module, base, server.url(""))
    if hash_key is not None:
        assert module.WEIGHTS_HASHES == theirs.WEIGHTS_HASHES
        monkeypatch.setitem(module.WEIGHTS_HASHES, hash_key, (_md5(STANDIN),) * 2)
    elif hasattr(module, "WEIGHTS_NO_TOP"):
        for attr in ("WEIGHTS", "WEIGHTS_NO_TOP"):
            file_name_, file_hash = getattr(module, attr)
            assert file_name_ in their_source and f'file_hash="{file_hash}"' in their_source
            monkeypatch.setattr(module, attr, (getattr(module, attr)[0], _md5(STANDIN)))
    with pytest.raises((ValueError, OSError)):  # a stand-in that is no weights file at all
        getattr(applications, builder)(weights="imagenet", **kwargs)
    assert [name for name, _ in server.requests] == [file_name]
    assert (home / "models" / file_name).read_bytes() == STANDIN


def test_mobilenet_v3_integer_alpha_finds_the_published_file(server, home, monkeypatch):  # noqa: F811
    # Deliberate difference: Keras looks up "small_224_1_float" for alpha=1 and fails with a KeyError.
    from kerasish.applications import mobilenet_v3

    file_name = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
    server.files[file_name] = STANDIN
    monkeypatch.setattr(mobilenet_v3, "BASE_WEIGHT_PATH", server.url(""))
    monkeypatch.setitem(mobilenet_v3.WEIGHTS_HASHES, "small_224_1.0_float", (_md5(STANDIN),) * 2)
    with pytest.raises((ValueError, OSError)), pytest.warns(UserWarning, match=r"Weights for input shape \(224, 224\)"):
        applications.MobileNetV3Small(weights="imagenet", include_top=False, alpha=1)
    assert [name for name, _ in server.requests] == [file_name]
