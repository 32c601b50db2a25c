import os

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers
from kerasish.utils import image_dataset_from_directory, text_dataset_from_directory
from tests.keras_parity import keras_module

PIL = pytest.importorskip("PIL.Image")
IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


@pytest.fixture
def image_dir(tmp_path):
    """cats: 10 JPEGs (3 in a subfolder), dogs: 10 PNGs, sizes varying; green channel 0 for cats, 200 for dogs."""
    root = tmp_path / "images"
    rng = np.random.RandomState(0)
    for label, (name, suffix) in enumerate((("cats", "jpg"), ("dogs", "png"))):
        for i in range(10):
            folder = root / name / ("nested" if i % 4 == 1 else "")
            folder.mkdir(parents=True, exist_ok=True)
            pixels = np.zeros((12 + i, 16 - i // 2, 3), dtype="uint8")
            pixels[..., 0] = rng.randint(0, 255, size=pixels.shape[:2])
            pixels[..., 1] = 200 * label
            PIL.fromarray(pixels).save(folder / f"img_{i}.{suffix}")
    (root / "cats" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def text_dir(tmp_path):
    root = tmp_path / "texts"
    for label, name in enumerate(("neg", "pos")):
        (root / name).mkdir(parents=True)
        for i in range(7):
            words = "awful bad dull" if label == 0 else "great lovely fun"
            (root / name / f"{i}.txt").write_text(f"{words} movie number {i} é", encoding="utf-8")
    (root / "neg" / "skip.md").write_text("ignored")
    return root


def _all(ds):
    xs, ys = zip(*list(ds))
    return torch.cat(xs), torch.cat(ys)


# ----------------------------------------------------------------- images
def test_counts_class_names_shapes_and_messages(image_dir, capsys):
    ds = image_dataset_from_directory(image_dir, image_size=(8, 10), batch_size=6, seed=1)
    assert capsys.readouterr().out == "Found 20 files belonging to 2 classes.\n"
    assert ds.class_names == ["cats", "dogs"]
    assert len(ds) == 4 and len(ds.file_paths) == 20
    batches = list(ds)
    assert [tuple(x.shape) for x, _ in batches] == [(6, 8, 10, 3)] * 3 + [(2, 8, 10, 3)]
    x, y = batches[0]
    assert x.dtype == torch.float32 and y.dtype == torch.int32 and y.shape == (6,)
    assert float(x.max()) > 1.0  # raw 0-255 values, as Keras (no rescaling)


def test_each_label_belongs_to_its_image(image_dir):
    ds = image_dataset_from_directory(image_dir, image_size=(5, 5), batch_size=7, seed=3)
    for _ in range(2):  # two passes, each reshuffled
        x, y = _all(ds)
        assert (y == (x[..., 1].mean(dim=(1, 2)) > 100).to(torch.int32)).all()
        assert sorted(y.tolist()) == [0] * 10 + [1] * 10


@pytest.mark.parametrize("label_mode, shape, dtype", [
    ("int", (4,), torch.int32), ("categorical", (4, 2), torch.float32), ("binary", (4, 1), torch.float32)])
def test_label_modes(image_dir, label_mode, shape, dtype):
    ds = image_dataset_from_directory(image_dir, label_mode=label_mode, image_size=(4, 4), batch_size=4,
                                      shuffle=False, verbose=False)
    x, y = next(iter(ds))
    assert y.shape == shape and y.dtype == dtype
    ints = _all(ds)[1]
    ints = ints.argmax(-1) if label_mode == "categorical" else ints.reshape(-1)
    assert ints.tolist() == [0] * 10 + [1] * 10  # unshuffled: Keras's sorted order


def test_no_labels_yields_images_only(image_dir, capsys):
    for kwargs in ({"labels": None}, {"label_mode": None}):
        ds = image_dataset_from_directory(image_dir, image_size=(4, 4), batch_size=8, **kwargs)
        batch = next(iter(ds))
        assert isinstance(batch, torch.Tensor) and batch.shape == (8, 4, 4, 3)
    # label_mode=None drops the labels before indexing, as in Keras: the class folders are not classes then.
    assert capsys.readouterr().out == "Found 20 files.\n" * 2
    assert image_dataset_from_directory(image_dir, labels=None, verbose=False).class_names is None


def test_hidden_folders_are_classes_only_when_labels_are_not_inferred(image_dir):
    keras_module()
    from keras.src.utils import dataset_utils as keras_dataset_utils

    (image_dir / ".hidden").mkdir()
    PIL.fromarray(np.zeros((4, 4, 3), dtype="uint8")).save(image_dir / ".hidden" / "x.png")
    inferred = image_dataset_from_directory(image_dir, verbose=False, seed=0)
    assert inferred.class_names == ["cats", "dogs"] and len(inferred.file_paths) == 20
    unlabelled = image_dataset_from_directory(str(image_dir), labels=None, verbose=False, seed=4)
    paths, _, _ = keras_dataset_utils.index_directory(str(image_dir), None, formats=IMAGE_FORMATS, seed=4,
                                                      verbose=False)
    assert unlabelled.file_paths == paths and len(paths) == 21  # Keras walks every folder then


def test_file_order_and_split_match_keras(image_dir, capsys):
    keras = keras_module()
    from keras.src.utils import dataset_utils as keras_dataset_utils

    for seed in (0, 7, 1234):
        paths, labels, names = keras_dataset_utils.index_directory(
            str(image_dir), "inferred", formats=IMAGE_FORMATS, shuffle=True, seed=seed, verbose=False)
        train, val = image_dataset_from_directory(str(image_dir), seed=seed, validation_split=0.3, subset="both",
                                                  image_size=(4, 4), batch_size=5)
        k_train, _ = keras_dataset_utils.get_training_or_validation_split(paths, labels, 0.3, "training")
        k_val, k_val_labels = keras_dataset_utils.get_training_or_validation_split(paths, labels, 0.3, "validation")
        assert train.file_paths == k_train and val.file_paths == k_val and train.class_names == names
        assert _all(val)[1].tolist() == list(k_val_labels)  # validation is not reshuffled
    out = capsys.readouterr().out
    assert ("Found 20 files belonging to 2 classes.\nUsing 14 files for training.\n"
            "Using 6 files for validation.\n") in out
    assert keras.__version__


def test_training_and_validation_subsets_are_disjoint_and_complete(image_dir):
    common = dict(image_size=(4, 4), seed=5, validation_split=0.25, verbose=False)
    train = image_dataset_from_directory(image_dir, subset="training", **common)
    val = image_dataset_from_directory(image_dir, subset="validation", **common)
    both = image_dataset_from_directory(image_dir, subset="both", **common)
    assert set(train.file_paths).isdisjoint(val.file_paths)
    assert len(train.file_paths) == 15 and len(val.file_paths) == 5
    assert sorted(train.file_paths + val.file_paths) == sorted(
        image_dataset_from_directory(image_dir, verbose=False, seed=1).file_paths)
    assert both[0].file_paths == train.file_paths and both[1].file_paths == val.file_paths


def test_same_seed_same_batches_and_a_new_order_each_pass(image_dir):
    a = image_dataset_from_directory(image_dir, image_size=(4, 4), batch_size=20, seed=9, verbose=False)
    b = image_dataset_from_directory(image_dir, image_size=(4, 4), batch_size=20, seed=9, verbose=False)
    first_a, first_b = next(iter(a)), next(iter(b))
    assert torch.equal(first_a[0], first_b[0]) and torch.equal(first_a[1], first_b[1])
    second_a = next(iter(a))
    assert not torch.equal(first_a[0], second_a[0])


@pytest.mark.parametrize("kwargs", [
    {"interpolation": "bilinear"},
    {"interpolation": "nearest", "color_mode": "grayscale"},
    {"interpolation": "bicubic", "crop_to_aspect_ratio": True},
    {"interpolation": "bilinear", "pad_to_aspect_ratio": True, "color_mode": "rgba"},
    {"interpolation": "nearest", "crop_to_aspect_ratio": True, "data_format": "channels_first"},
    {"interpolation": "bilinear", "data_format": "channels_first"},
])
def test_pixels_match_keras_image_loader(image_dir, kwargs):
    # Keras's own image_dataset_from_directory needs TensorFlow (format="tf") or grain
    # (format="grain"), neither installed; its grain per-file loader runs on Keras's torch
    # backend without them and is the oracle for decoding and resizing.
    keras_module()
    from keras.src.utils.image_dataset_utils import _load_image_grain

    ds = image_dataset_from_directory(image_dir, image_size=(6, 9), batch_size=None, shuffle=False,
                                      label_mode=None, verbose=False, **kwargs)
    channels = {"grayscale": 1, "rgba": 4}.get(kwargs.get("color_mode"), 3)
    images = list(ds)
    assert len(images) == 20
    for path, ours in zip(ds.file_paths, images):
        theirs = _load_image_grain(path, (6, 9), channels, kwargs["interpolation"],
                                   kwargs.get("data_format", "channels_last"),
                                   kwargs.get("crop_to_aspect_ratio", False), kwargs.get("pad_to_aspect_ratio", False))
        np.testing.assert_allclose(ours.numpy(), np.asarray(theirs.cpu()), atol=1e-3)


def test_single_images_when_batch_size_is_none(image_dir):
    ds = image_dataset_from_directory(image_dir, image_size=(4, 4), batch_size=None, verbose=False, seed=0)
    x, y = next(iter(ds))
    assert x.shape == (4, 4, 3) and y.shape == () and y.dtype == torch.int32 and len(ds) == 20


def test_worker_processes_give_the_same_batches(image_dir):
    kwargs = dict(image_size=(5, 5), batch_size=6, shuffle=False, verbose=False)
    serial = list(image_dataset_from_directory(image_dir, **kwargs))
    parallel = list(image_dataset_from_directory(image_dir, num_workers=2, **kwargs))
    assert len(serial) == len(parallel) == 4
    for (xa, ya), (xb, yb) in zip(serial, parallel):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_explicit_labels_and_class_names(image_dir):
    sorted_paths = image_dataset_from_directory(image_dir, shuffle=False, verbose=False).file_paths
    labels = [i % 3 for i in range(20)]
    ds = image_dataset_from_directory(image_dir, labels=labels, image_size=(4, 4), shuffle=False, batch_size=20,
                                      verbose=False)
    assert ds.class_names == ["0", "1", "2"] and ds.file_paths == sorted_paths
    assert next(iter(ds))[1].tolist() == labels
    swapped = image_dataset_from_directory(image_dir, class_names=["dogs", "cats"], image_size=(4, 4),
                                           shuffle=False, batch_size=20, verbose=False)
    x, y = next(iter(swapped))
    assert swapped.class_names == ["dogs", "cats"]
    assert (y == (x[..., 1].mean(dim=(1, 2)) < 100).to(torch.int32)).all()
    only = image_dataset_from_directory(image_dir, class_names=["dogs"], verbose=False)
    assert len(only.file_paths) == 10


def test_symlinked_folders_need_follow_links(image_dir, tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    PIL.fromarray(np.zeros((5, 5, 3), dtype="uint8")).save(extra / "z.png")
    os.symlink(extra, image_dir / "dogs" / "linked")
    assert len(image_dataset_from_directory(image_dir, verbose=False).file_paths) == 20
    assert len(image_dataset_from_directory(image_dir, follow_links=True, verbose=False).file_paths) == 21


def test_fit_evaluate_predict_take_the_dataset(image_dir):
    train = image_dataset_from_directory(image_dir, image_size=(6, 6), batch_size=5, seed=2, verbose=False)
    model = kerasish.Sequential([layers.Input(shape=(6, 6, 3)), layers.Rescaling(1 / 255.0),
                                 layers.GlobalAveragePooling2D(), layers.Dense(2)])
    model.compile(optimizer=kerasish.optimizers.Adam(0.1),
                  loss=kerasish.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(train, epochs=15, verbose=0)
    assert len(history.history["loss"]) == 15 and history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(train, verbose=0)
    assert accuracy == 1.0  # the green channel tells the classes apart
    assert model.predict(train, verbose=0).shape == (20, 2)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"subset": "training"}, ValueError, r"subset and validation_split go together.*subset='training'"),
    ({"validation_split": 0.2, "seed": 1}, ValueError, r"subset and validation_split go together"),
    ({"validation_split": 0.2, "subset": "training"}, ValueError, r"needs a seed.*Pass seed="),
    ({"validation_split": 1.5, "subset": "training", "seed": 1}, ValueError,
     r"validation_split must be a fraction between 0 and 1.*validation_split=1\.5"),
    ({"validation_split": 0.2, "subset": "train", "seed": 1}, ValueError,
     r"subset must be 'training', 'validation', 'both' or None\. Received: subset='train'"),
    ({"label_mode": "sparse"}, ValueError, r"label_mode must be one of .*Received: label_mode='sparse'"),
    ({"labels": [0, 1]}, ValueError, r"labels has 2 entries but the directory .* holds 20 files"),
    ({"labels": "folders"}, ValueError, r"labels must be 'inferred'.*Received: labels='folders'"),
    ({"labels": [0] * 20, "class_names": ["a"]}, ValueError, r"class_names can only be passed with labels='inferred'"),
    ({"class_names": ["cats", "birds"]}, ValueError, r"class_names must name subfolders.*\['cats', 'dogs'\]"),
    ({"color_mode": "cmyk"}, ValueError, r"color_mode must be one of .*Received: color_mode='cmyk'"),
    ({"image_size": (4, 4, 3)}, ValueError, r"image_size must be \(height, width\).*\(4, 4, 3\)"),
    ({"interpolation": "area"}, ValueError, r"'area' is a TensorFlow kernel.*Use one of"),
    ({"interpolation": "linear"}, ValueError, r"interpolation must be one of .*'linear'"),
    ({"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, ValueError,
     r"Only one of crop_to_aspect_ratio and pad_to_aspect_ratio"),
    ({"data_format": "nhwc"}, ValueError, r"data_format must be 'channels_last' or 'channels_first'.*'nhwc'"),
    ({"batch_size": 0}, ValueError, r"batch_size must be a positive integer or None\. Received: batch_size=0"),
    ({"num_workers": -1}, ValueError, r"num_workers must be an integer >= 0"),
])
def test_bad_arguments_are_explained(image_dir, kwargs, error, message):
    with pytest.raises(error, match=message):
        image_dataset_from_directory(image_dir, verbose=False, **kwargs)


def test_binary_needs_two_classes_and_empty_folders_are_refused(image_dir, tmp_path):
    (image_dir / "birds").mkdir()
    with pytest.raises(ValueError, match=r"label_mode='binary' needs exactly 2 classes.*'birds'"):
        image_dataset_from_directory(image_dir, label_mode="binary", verbose=False)
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"No image files found in directory .*empty.*Allowed suffixes"):
        image_dataset_from_directory(empty, verbose=False)
    with pytest.raises(ValueError, match=r"directory must be an existing folder.*does not exist"):
        image_dataset_from_directory(tmp_path / "nowhere", verbose=False)


def test_missing_pillow_is_reported_before_any_work(image_dir, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"image_dataset_from_directory needs Pillow.*pip install pillow"):
        image_dataset_from_directory(image_dir)
    assert capsys.readouterr().out == ""


def test_categorical_labels_must_be_numbered_from_zero(image_dir):
    with pytest.raises(ValueError, match=r"one-hot encodes labels 0\.\.1 \(2 classes\), but labels holds 5"):
        image_dataset_from_directory(image_dir, labels=[0, 5] * 10, label_mode="categorical", verbose=False)


# ----------------------------------------------------------------- texts
def test_text_batches_are_strings_with_labels(text_dir, capsys):
    ds = text_dataset_from_directory(text_dir, batch_size=5, shuffle=False)
    assert capsys.readouterr().out == "Found 14 files belonging to 2 classes.\n"
    assert ds.class_names == ["neg", "pos"] and len(ds) == 3
    texts, labels = next(iter(ds))
    assert isinstance(texts, np.ndarray) and texts.dtype == object and texts.shape == (5,)
    assert all(isinstance(t, str) for t in texts)
    assert labels.dtype == torch.int32
    for path, text in zip(ds.file_paths, np.concatenate([t for t, _ in ds])):
        with open(path, encoding="utf-8") as f:
            assert text == f.read()


def test_text_max_length_label_modes_and_no_labels(text_dir):
    ds = text_dataset_from_directory(text_dir, max_length=5, label_mode="binary", batch_size=14, seed=3, verbose=False)
    texts, labels = next(iter(ds))
    assert {len(t) for t in texts} == {5} and labels.shape == (14, 1) and labels.dtype == torch.float32
    assert all(t.startswith("great") == bool(y) for t, y in zip(texts, labels[:, 0]))
    only = text_dataset_from_directory(text_dir, labels=None, batch_size=4, verbose=False, seed=0)
    assert isinstance(next(iter(only)), np.ndarray) and only.class_names is None


def test_text_split_matches_keras(text_dir):
    keras_module()
    from keras.src.utils import dataset_utils as keras_dataset_utils

    paths, labels, _ = keras_dataset_utils.index_directory(str(text_dir), "inferred", formats=(".txt",),
                                                           shuffle=True, seed=11, verbose=False)
    train, val = text_dataset_from_directory(str(text_dir), seed=11, validation_split=0.3, subset="both",
                                             verbose=False)
    assert train.file_paths == paths[:-4] and val.file_paths == paths[-4:]


def test_text_bad_arguments(text_dir, tmp_path):
    with pytest.raises(ValueError, match=r"max_length must be a positive integer or None\. Received: max_length=0"):
        text_dataset_from_directory(text_dir, max_length=0)
    with pytest.raises(ValueError, match=r"label_mode must be one of .*Received: label_mode='onehot'"):
        text_dataset_from_directory(text_dir, label_mode="onehot")
    with pytest.raises(ValueError, match=r"labels has 3 entries but the directory .* holds 14 files"):
        text_dataset_from_directory(text_dir, labels=[0, 1, 0], verbose=False)
    (tmp_path / "none" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"No text files found in directory"):
        text_dataset_from_directory(tmp_path / "none", verbose=False)


def test_text_vectorization_model_fits_on_the_text_dataset(text_dir):
    ds = text_dataset_from_directory(text_dir, batch_size=4, seed=0, verbose=False)
    vectorize = layers.TextVectorization(max_tokens=30, output_sequence_length=6)
    vectorize.adapt(np.concatenate([texts for texts, _ in ds]))
    model = kerasish.Sequential([vectorize, layers.Embedding(30, 4), layers.GlobalAveragePooling1D(), layers.Dense(2)])
    model.compile(optimizer=kerasish.optimizers.Adam(0.05),
                  loss=kerasish.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(ds, epochs=10, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
