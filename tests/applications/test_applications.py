"""kerasish.applications against Keras 3's own applications (torch backend).

Each model is built in Keras with random weights, saved as `.weights.h5`, loaded into the
kerasish twin through `weights=path`; predictions and parameter counts must agree. Downloads
(`weights="imagenet"`, `decode_predictions`) go to a local HTTP server serving stand-in files.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import re
from pathlib import Path

import os

import numpy as np
import pytest
import torch

import kerasish
from kerasish import applications
from kerasish.applications import imagenet_utils
from kerasish.layers import OpLayer
from tests.keras_parity import assert_close, keras_module
from tests.utils.test_get_file import server  # noqa: F401 (the local HTTP server fixture)

SLOW = pytest.mark.slow
# The largest variants' parity runs only with KERASISH_FULL_APPLICATIONS=1 (CI's 10-minute budget): each
# family keeps a smaller variant in CI, built by the same code from Keras's settings table.
FULL = pytest.mark.skipif(not os.environ.get("KERASISH_FULL_APPLICATIONS"),
                          reason="a larger variant of a family CI checks; KERASISH_FULL_APPLICATIONS=1 runs it")

# (builder, kwargs, image size): small inputs, every top/pooling variant, each family at least once.
PARITY_CASES = [
    ("VGG16", dict(include_top=True, classes=10, classifier_activation=None), 32),
    ("VGG19", dict(include_top=False, pooling="max"), 32),
    ("ResNet50", dict(include_top=False, pooling="avg"), 32),
    ("ResNet50V2", dict(include_top=True, classes=10, classifier_activation=None), 32),
    ("MobileNetV2", dict(include_top=True, classes=10), 32),
    ("MobileNetV2", dict(include_top=False, alpha=0.35), 32),
    ("EfficientNetB0", dict(include_top=False, pooling="max"), 32),
    pytest.param("EfficientNetB3", dict(include_top=True, classes=10, classifier_activation=None), 32, marks=[SLOW, FULL]),
    pytest.param("Xception", dict(include_top=False, pooling="avg"), 71, marks=SLOW),
    ("DenseNet121", dict(include_top=True, classes=10, classifier_activation=None), 32),
    ("ConvNeXtTiny", dict(include_top=False, pooling="avg"), 32),
    pytest.param("ConvNeXtTiny", dict(include_top=True, classes=10, include_preprocessing=False), 32, marks=SLOW),
    pytest.param("EfficientNetB1", dict(include_top=False, pooling="avg"), 32, marks=SLOW),
    pytest.param("EfficientNetB2", dict(include_top=True, classes=5), 32, marks=[SLOW, FULL]),
    pytest.param("ResNet101", dict(include_top=False, pooling="avg"), 32, marks=[SLOW, FULL]),
    pytest.param("DenseNet169", dict(include_top=False, pooling="max"), 32, marks=[SLOW, FULL]),
]


def _images(size: int, n: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def _layer_names(model) -> list:
    # (class, name) of each layer in order; auto-named layers ('add_7') lose their process-wide counter.
    # kerasish lists operator nodes (`x + y` on symbolic tensors) as OpLayers, Keras does not.
    out = []
    for layer in model.layers:
        if isinstance(layer, OpLayer):
            continue
        # Keras's own snake case of the class name ('ReLU' -> 're_lu', 'Conv2D' -> 'conv2d'): a naive one
        # ('re_l_u') left the counter on auto-named ReLU layers, so the comparison depended on test order.
        from keras.src.utils.naming import to_snake_case

        snake = to_snake_case(type(layer).__name__)
        out.append((type(layer).__name__, re.sub(rf"^({snake})_\d+$", r"\1", layer.name)))
    return out


@pytest.mark.parametrize("name,kwargs,size", PARITY_CASES)
def test_keras_weights_load_and_predict_the_same(name, kwargs, size, tmp_path):
    keras = keras_module()
    kwargs = dict(kwargs, input_shape=(size, size, 3))
    theirs = getattr(keras.applications, name)(weights=None, **kwargs)
    path = str(tmp_path / f"{name}.weights.h5")
    theirs.save_weights(path)
    ours = getattr(applications, name)(weights=path, **kwargs)
    assert ours.count_params() == theirs.count_params()
    assert ours.name == theirs.name
    assert tuple(ours.output_shape) == tuple(theirs.output_shape)
    assert _layer_names(ours) == _layer_names(theirs)
    x = _images(size)
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-4, rtol=1e-4)


def test_random_weights_build_without_loading():
    model = applications.ResNet50V2(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    out = model.predict(_images(32), verbose=0)
    assert out.shape == (2, 2048) and np.isfinite(out).all()


def test_public_paths_match_keras():
    keras = keras_module()
    for module, names in {
        "vgg16": ["VGG16"], "vgg19": ["VGG19"], "resnet50": ["ResNet50"], "resnet": ["ResNet101", "ResNet152"],
        "resnet_v2": ["ResNet50V2", "ResNet101V2", "ResNet152V2"], "mobilenet_v2": ["MobileNetV2"],
        "xception": ["Xception"], "densenet": ["DenseNet121", "DenseNet169", "DenseNet201"],
        "efficientnet": ["EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3"],
        "convnext": ["ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge"],
    }.items():
        ours = importlib.import_module(f"kerasish.applications.{module}")
        theirs = getattr(keras.applications, module)
        for name in names + ["preprocess_input", "decode_predictions"]:
            assert callable(getattr(ours, name)), f"{module}.{name}"
            their_args = list(inspect.signature(getattr(theirs, name)).parameters)
            assert list(inspect.signature(getattr(ours, name)).parameters) == their_args, f"{module}.{name}"
        for name in names:
            assert getattr(applications, name) is getattr(ours, name)


# ---- preprocess_input ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("batched", [True, False])
def test_preprocess_input_matches_keras(mode, data_format, batched):
    keras = keras_module()
    x = np.random.RandomState(1).uniform(0, 255, (2, 5, 5, 3) if batched else (5, 5, 3)).astype("float32")
    if data_format == "channels_first":
        x = np.ascontiguousarray(np.moveaxis(x, -1, -3))
    expected = keras.applications.imagenet_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode)
    got = imagenet_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode)
    assert_close(got, expected, atol=1e-5)
    # Tensors (Keras's own tensor path) agree too.
    expected_t = keras.applications.imagenet_utils.preprocess_input(
        torch.tensor(x), data_format=data_format, mode=mode)
    got_t = imagenet_utils.preprocess_input(torch.tensor(x), data_format=data_format, mode=mode)
    assert isinstance(got_t, torch.Tensor)
    assert_close(got_t, expected_t, atol=1e-4)


def test_preprocess_input_writes_over_a_float_array_and_converts_integers():
    keras = keras_module()
    x = np.random.RandomState(2).uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    mine = x.copy()
    out = imagenet_utils.preprocess_input(mine, mode="caffe")
    assert np.shares_memory(out, mine)  # in place, as Keras documents
    ints = np.random.RandomState(3).randint(0, 256, (1, 4, 4, 3)).astype("uint8")
    got = imagenet_utils.preprocess_input(ints, mode="torch")
    assert got.dtype == np.float32
    assert_close(got, keras.applications.imagenet_utils.preprocess_input(ints.copy(), mode="torch"), atol=1e-6)


@pytest.mark.parametrize("module", ["vgg16", "vgg19", "resnet50", "resnet", "resnet_v2", "mobilenet_v2",
                                    "xception", "densenet", "efficientnet", "convnext"])
def test_each_module_preprocesses_as_keras(module):
    keras = keras_module()
    x = _images(4, n=1, seed=4)
    expected = getattr(keras.applications, module).preprocess_input(x.copy())
    got = importlib.import_module(f"kerasish.applications.{module}").preprocess_input(x.copy())
    assert_close(got, expected, atol=1e-5)


def test_preprocess_input_inside_a_functional_model():
    inputs = kerasish.layers.Input(shape=(4, 4, 3))
    model = kerasish.Model(inputs, applications.vgg16.preprocess_input(inputs))
    x = _images(4, n=2, seed=5)
    assert_close(model.predict(x, verbose=0), imagenet_utils.preprocess_input(x.copy(), mode="caffe"), atol=1e-4)


def test_preprocess_input_bad_mode_and_data_format():
    x = np.zeros((1, 2, 2, 3), "float32")
    with pytest.raises(ValueError, match="Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode=bgr"):
        imagenet_utils.preprocess_input(x, mode="bgr")
    with pytest.raises(ValueError, match="Expected data_format to be one of .*Received: data_format=nhwc"):
        imagenet_utils.preprocess_input(x, data_format="nhwc")


# ---- argument errors, each checked against Keras's ---------------------------------------------------

ERROR_CASES = [
    ("VGG16", dict(weights="imagenet", classes=10), r"`classes` should be 1000"),
    ("ResNet50", dict(weights="no/such/file.weights.h5"), r"The `weights` argument should be either"),
    ("VGG16", dict(weights=None, include_top=False, input_shape=(16, 16, 3)), r"Input size must be at least 32x32"),
    ("Xception", dict(weights=None, include_top=False, input_shape=(64, 64, 3)), r"Input size must be at least 71x71"),
    ("ResNet50", dict(weights="imagenet", input_shape=(64, 64, 3)),
     r"`input_shape` should be \(224, 224, 3\)\.  Received: input_shape=\(64, 64, 3\)"),
    ("MobileNetV2", dict(weights="imagenet", include_top=False, input_shape=(64, 64, 3), alpha=0.6),
     r"alpha must be one of `0.35`, `0.50`, `0.75`, `1.0`, `1.3` or `1.4` only; Received `alpha=0.6`"),
    ("VGG16", dict(weights=None, input_shape=(None, None, 3)), r"you should specify a static `input_shape`"),
    ("VGG16", dict(weights=None, include_top=False, input_shape=(32, 32)), r"`input_shape` must be a tuple of three"),
    ("ConvNeXtTiny", dict(weights="imagenet", name="my_net"),
     r'Model name "my_net" does not match weights variant "convnext_tiny"'),
]


@pytest.mark.parametrize("name,kwargs,match", ERROR_CASES)
def test_bad_arguments_raise_keras_errors(name, kwargs, match):
    keras = keras_module()
    with pytest.raises(ValueError, match=match):
        getattr(keras.applications, name)(**kwargs)
    with pytest.raises(ValueError, match=match):
        getattr(applications, name)(**kwargs)


def test_classifier_activation_with_pretrained_weights(tmp_path):
    keras = keras_module()
    path = str(tmp_path / "m.weights.h5")
    keras.applications.VGG16(weights=None, classes=3, input_shape=(32, 32, 3)).save_weights(path)
    with pytest.raises(ValueError, match="Only `None` and `softmax` activations are allowed"):
        applications.VGG16(weights=path, classes=3, input_shape=(32, 32, 3), classifier_activation="relu")


def test_errors_kerasish_adds():
    with pytest.raises(ValueError, match=r"`pooling` should be None, 'avg' or 'max'. Received: pooling='mean'"):
        applications.VGG16(weights=None, include_top=False, pooling="mean")
    with pytest.raises(ValueError, match="`input_tensor` must be a symbolic tensor.*Pass `input_shape=`"):
        applications.VGG16(weights=None, include_top=False, input_tensor=torch.zeros(1, 32, 32, 3))


def test_input_tensor_builds_on_the_users_graph():
    inputs = kerasish.layers.Input(shape=(32, 32, 3))
    x = kerasish.layers.Rescaling(1.0 / 255)(inputs)
    model = applications.MobileNetV2(input_tensor=x, weights=None, include_top=False, pooling="avg")
    assert model.inputs[0] is inputs
    assert model.predict(_images(32), verbose=0).shape == (2, 1280)


def test_layer_scale_config_round_trip_and_saved_convnext(tmp_path):
    from kerasish.applications.convnext import LayerScale

    layer = LayerScale(0.5, 4, name="scale")
    config = json.loads(json.dumps(layer.get_config()))
    assert LayerScale.from_config(config).get_config() == layer.get_config()
    assert_close(layer(torch.ones(2, 4)), torch.full((2, 4), 0.5))
    model = applications.ConvNeXtTiny(weights=None, include_top=False, pooling="avg", input_shape=(32, 32, 3))
    model.save(tmp_path / "convnext.keras")
    loaded = kerasish.saving.load_model(tmp_path / "convnext.keras")
    x = _images(32)
    assert_close(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


# ---- downloads, from a local server ----------------------------------------------------------------


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("KERASISH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_imagenet_weights_download_keras_file_then_load(server, home, monkeypatch, tmp_path):  # noqa: F811
    keras = keras_module()
    from keras.src.applications import vgg16 as keras_vgg16
    from keras.src.legacy.saving import legacy_h5_format
    import h5py

    # Keras's exact URL and hash for the no-top file.
    file_name, file_hash = applications.vgg16.WEIGHTS_NO_TOP
    assert applications.vgg16.BASE_WEIGHTS_PATH + file_name == keras_vgg16.WEIGHTS_PATH_NO_TOP
    assert f'file_hash="{file_hash}"' in inspect.getsource(keras_vgg16)
    # The stand-in: a legacy tf.keras .h5 that Keras writes for the same (small) network.
    theirs = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    standin = tmp_path / "standin.h5"
    with h5py.File(standin, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, theirs)
    data = standin.read_bytes()
    server.files[file_name] = data
    monkeypatch.setattr(applications.vgg16, "BASE_WEIGHTS_PATH", server.url(""))
    monkeypatch.setattr(applications.vgg16, "WEIGHTS_NO_TOP", (file_name, _md5(data)))
    ours = applications.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    x = _images(32)  # the legacy .h5 Keras wrote loads into kerasish's VGG16 with Keras's predictions
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-4)
    assert (home / "models" / file_name).read_bytes() == data
    assert [name for name, _ in server.requests] == [file_name]


STANDIN = b"not really weights"


@pytest.mark.parametrize("builder,kwargs,file_name,module,hash_key", [
    ("ResNet50", dict(include_top=False), "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "resnet",
     "resnet50"),
    ("ResNet50V2", dict(), "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5", "resnet", "resnet50v2"),
    ("MobileNetV2", dict(include_top=False, alpha=0.35, input_shape=(96, 96, 3)),
     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5", "mobilenet_v2", None),
    ("EfficientNetB0", dict(include_top=False), "efficientnetb0_notop.h5", "efficientnet", "b0"),
    ("DenseNet121", dict(), "densenet121_weights_tf_dim_ordering_tf_kernels.h5", "densenet", (6, 12, 24, 16)),
    ("ConvNeXtTiny", dict(include_top=False), "convnext_tiny_notop.h5", "convnext", "convnext_tiny"),
    ("Xception", dict(), "xception_weights_tf_dim_ordering_tf_kernels.h5", "xception", None),
    ("VGG19", dict(include_top=False), "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg19", None),
])
def test_imagenet_asks_for_keras_file_names(builder, kwargs, file_name, module, hash_key, server, home,  # noqa: F811
                                            monkeypatch):
    keras_module()
    their_source = inspect.getsource(importlib.import_module(f"keras.src.applications.{module}"))
    module = importlib.import_module(f"kerasish.applications.{module}")
    assert module.BASE_WEIGHTS_PATH.split("/")[-2] in their_source  # Keras's folder of published files
    server.files[file_name] = STANDIN
    monkeypatch.setattr(module, "BASE_WEIGHTS_PATH", server.url(""))
    if isinstance(hash_key, str):
        assert all(h in their_source for h in module.WEIGHTS_HASHES[hash_key])
        monkeypatch.setitem(module.WEIGHTS_HASHES, hash_key, (_md5(STANDIN),) * 2)
    elif hash_key is not None:
        assert all(h in their_source for h in module.WEIGHTS[hash_key])
        monkeypatch.setitem(module.WEIGHTS, hash_key, (module.WEIGHTS[hash_key][0],) + (_md5(STANDIN),) * 2)
    elif hasattr(module, "WEIGHTS_NO_TOP"):  # (file name, hash) pairs
        for attr in ("WEIGHTS", "WEIGHTS_NO_TOP"):
            assert getattr(module, attr)[1] in their_source
            monkeypatch.setattr(module, attr, (getattr(module, attr)[0], _md5(STANDIN)))
    with pytest.raises((ValueError, OSError)):  # a stand-in that is no weights file at all
        getattr(applications, builder)(weights="imagenet", **kwargs)
    assert [name for name, _ in server.requests] == [file_name]
    assert (home / "models" / file_name).read_bytes() == STANDIN


def test_decode_predictions_matches_keras_with_a_local_class_index(server, home, monkeypatch):  # noqa: F811
    keras = keras_module()
    from keras.src.applications import imagenet_utils as keras_utils

    assert imagenet_utils.CLASS_INDEX_PATH == keras_utils.CLASS_INDEX_PATH
    assert f'file_hash="{imagenet_utils.CLASS_INDEX_HASH}"' in inspect.getsource(keras_utils)
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    data = json.dumps(index).encode()
    server.files["imagenet_class_index.json"] = data
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_PATH", server.url("imagenet_class_index.json"))
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_HASH", _md5(data))
    monkeypatch.setattr(imagenet_utils, "_CLASS_INDEX", None)
    monkeypatch.setattr(keras_utils, "CLASS_INDEX", index)
    preds = np.random.RandomState(6).uniform(size=(3, 1000)).astype("float32")
    got = applications.resnet50.decode_predictions(preds, top=3)
    assert got == keras.applications.resnet50.decode_predictions(preds, top=3)
    assert applications.vgg16.decode_predictions(torch.tensor(preds), top=2) == [row[:2] for row in got]
    assert len(server.requests) == 1  # loaded once, then kept
    assert (home / "models" / "imagenet_class_index.json").read_bytes() == data
    with pytest.raises(ValueError, match=r"expects a batch of predictions .*Received array with shape: \(3, 10\)"):
        imagenet_utils.decode_predictions(preds[:, :10])


# ---- the keras-io transfer-learning flow ------------------------------------------------------------


def _image_folder(root: Path) -> Path:
    from PIL import Image

    rng = np.random.RandomState(7)
    for label, base in (("cats", 40), ("dogs", 200)):
        (root / label).mkdir(parents=True)
        for i in range(8):
            pixels = np.clip(base + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def test_transfer_learning_then_fine_tuning(tmp_path):
    data = kerasish.utils.image_dataset_from_directory(
        _image_folder(tmp_path / "images"), image_size=(32, 32), batch_size=8, seed=0)
    # Keras's default name, 'mobilenetv2_1.00_32', holds a '.', which kerasish refuses for a nested layer.
    base = applications.MobileNetV2(input_shape=(32, 32, 3), weights=None, include_top=False, name="mobilenetv2")
    base.trainable = False
    inputs = kerasish.layers.Input(shape=(32, 32, 3))
    x = applications.mobilenet_v2.preprocess_input(inputs)
    x = base(x, training=False)
    x = kerasish.layers.GlobalAveragePooling2D()(x)
    outputs = kerasish.layers.Dense(1)(x)
    model = kerasish.Model(inputs, outputs)

    def snapshot(weights):
        return [w.detach().clone() for w in weights]

    base_before, head_before = snapshot(base.weights), snapshot(model.layers[-1].weights)
    model.compile(optimizer=kerasish.optimizers.Adam(1e-2),
                  loss=kerasish.losses.BinaryCrossentropy(from_logits=True))
    model.fit(data, epochs=1, verbose=0)
    assert all(torch.equal(a, b) for a, b in zip(base_before, base.weights))  # frozen: BN statistics too
    # The random base's features are tiny (about 1e-12), so Adam may leave the kernel within float32 rounding:
    # the head has learned when any of its weights moved.
    assert not all(torch.equal(a, b) for a, b in zip(head_before, model.layers[-1].weights))

    base.trainable = True
    model.compile(optimizer=kerasish.optimizers.Adam(1e-5),
                  loss=kerasish.losses.BinaryCrossentropy(from_logits=True))
    trainable_before = snapshot(base.trainable_weights)
    model.fit(data, epochs=1, verbose=0)
    changed = [not torch.equal(a, b) for a, b in zip(trainable_before, base.trainable_weights)]
    assert len(changed) == len(base.trainable_weights) > 100 and sum(changed) > len(changed) // 2, sum(changed)
