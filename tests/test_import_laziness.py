"""`import kerasish` loads almost nothing; every lazy name still resolves, and saved configs still
find kerasish's own classes (the first lookup imports the packages that register them).

Each check runs in a fresh interpreter, so what an earlier import loaded cannot hide a missing one.
Module lists are compared, not times: numbers belong in benchmarks/import_time.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Deferred by `import kerasish`: the bulk of the package and the third-party modules behind it.
DEFERRED_BY_IMPORT_KERASISH = (
    "kerasish.layers", "kerasish.models", "kerasish.ops", "kerasish.training", "kerasish.losses",
    "kerasish.metrics", "kerasish.optimizers", "kerasish.activations", "kerasish.saving", "kerasish.callbacks",
    "kerasish.applications", "kerasish.datasets", "kerasish.recipes", "kerasish.data",
    "safetensors", "h5py", "tensorboard", "torchvision", "matplotlib",
)
# Deferred by `from kerasish.layers import Dense`: layer families a Dense model never uses.
DEFERRED_BY_DENSE = (
    "kerasish.layers.recurrent", "kerasish.layers.conv_lstm", "kerasish.layers.attention",
    "kerasish.layers.text_vectorization", "kerasish.layers.preprocessing.image_augmentation",
    "kerasish.layers.preprocessing.string_lookup", "kerasish.layers.convolutional", "kerasish.models",
    "kerasish.ops.numpy", "kerasish.ops.image", "kerasish.ops.linalg", "kerasish.ops.core",
)


def _run(code: str):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_kerasish_defers_heavy_modules():
    loaded = _run("import json, sys, kerasish; print(json.dumps(sorted(sys.modules)))")
    assert "kerasish" in loaded
    assert [m for m in DEFERRED_BY_IMPORT_KERASISH if m in loaded] == []


def test_import_kerasish_adds_no_third_party_module_to_torch():
    added = _run(
        "import json, sys, torch\n"
        "before = set(sys.modules)\n"
        "import kerasish\n"
        "print(json.dumps(sorted(m for m in set(sys.modules) - before if m.split('.')[0] != 'kerasish')))"
    )
    assert added == []


def test_importing_one_layer_defers_the_other_families():
    loaded = _run("import json, sys; from kerasish.layers import Dense; print(json.dumps(sorted(sys.modules)))")
    assert "kerasish.layers.core" in loaded
    assert [m for m in DEFERRED_BY_DENSE if m in loaded] == []


def test_every_lazy_name_resolves_to_its_defining_module():
    result = _run(
        "import json, kerasish, kerasish.layers as L, kerasish.layers.preprocessing as P\n"
        "bad = [f'kerasish.{n}' for n in kerasish.__all__ if getattr(kerasish, n, None) is None]\n"
        "bad += [f'layers.{n}' for n in L.__all__ if getattr(L, n, None) is None]\n"
        "bad += [f'preprocessing.{n}' for n in P.__all__ if getattr(P, n, None) is None]\n"
        "same = (kerasish.Model is kerasish.models.Model, kerasish.Input is L.Input, L.MaxPool2D is L.MaxPooling2D,\n"
        "        L.GroupQueryAttention is L.GroupedQueryAttention, kerasish.layers.core.Dense is L.Dense,\n"
        "        kerasish.training.__name__ == 'kerasish.training', kerasish.applications.ResNet50.__name__)\n"
        "missing_from_dir = sorted(set(kerasish.__all__) - set(dir(kerasish))) + sorted(set(L.__all__) - set(dir(L)))\n"
        "print(json.dumps([bad, same, missing_from_dir, len(L.__all__)]))"
    )
    bad, same, missing_from_dir, n_layers = result
    assert bad == []
    assert same == [True, True, True, True, True, True, "ResNet50"]
    assert missing_from_dir == []
    assert n_layers > 100


def test_star_import_gives_every_layer():
    names = _run(
        "import json\nfrom kerasish.layers import *\nprint(json.dumps(sorted(n for n in dir() if n[0].isupper())))"
    )
    assert {"Dense", "LSTM", "TextVectorization", "StringLookup", "MaxPool2D", "ConvLSTM2D"} <= set(names)


def test_unknown_attribute_is_an_attribute_error_naming_it():
    result = _run(
        "import json, kerasish, kerasish.layers\n"
        "out = []\n"
        "for mod, name in ((kerasish, 'NoSuchThing'), (kerasish.layers, 'Dense2'), (kerasish, 'a.b')):\n"
        "    try:\n"
        "        getattr(mod, name)\n"
        "    except AttributeError as e:\n"
        "        out.append(str(e))\n"
        "print(json.dumps([out, hasattr(kerasish, 'NoSuchThing')]))"
    )
    messages, has = result
    assert len(messages) == 3 and has is False
    assert "no attribute 'NoSuchThing'" in messages[0] and "layers" in messages[0]
    assert "kerasish.layers" in messages[1] and "'Dense2'" in messages[1]


def test_saved_configs_find_builtin_classes_without_importing_layers_first():
    # Only kerasish.utils.object_registration is imported; the first lookup registers layers and models.
    names = _run(
        "import json\n"
        "from kerasish.utils.object_registration import resolve_class\n"
        "print(json.dumps([resolve_class(n, module='keras.layers').__module__ for n in\n"
        "                  ('Dense', 'TextVectorization', 'GroupQueryAttention', 'StringLookup', 'Sequential')]))"
    )
    assert names == ["kerasish.layers.core", "kerasish.layers.text_vectorization",
                     "kerasish.layers.attention.grouped_query_attention",
                     "kerasish.layers.preprocessing.string_lookup", "kerasish.models.sequential"]


def test_load_model_in_a_fresh_interpreter_that_imported_only_saving(tmp_path):
    path = tmp_path / "model.kerasish"
    expected = _run(
        "import json, torch, kerasish\n"
        "from kerasish import layers\n"
        "torch.manual_seed(0)\n"
        "model = kerasish.Sequential([kerasish.Input((3,)), layers.Dense(4, activation='relu'), layers.Dense(2)])\n"
        f"kerasish.saving.save_model(model, {str(path)!r})\n"
        "print(json.dumps(model.predict(torch.ones(2, 3), verbose=0).tolist()))"
    )
    loaded = _run(
        "import json, sys, torch, kerasish.saving\n"
        f"model = kerasish.saving.load_model({str(path)!r})\n"
        "print(json.dumps([type(model).__name__, model.predict(torch.ones(2, 3), verbose=0).tolist()]))"
    )
    assert loaded == ["Sequential", expected]


def test_every_layer_class_is_registered_after_a_lookup():
    missing = _run(
        "import json, kerasish.layers as L\n"
        "from kerasish.utils.object_registration import builtin_classes\n"
        "found = builtin_classes()\n"
        "print(json.dumps(sorted(n for n in L.__all__ if isinstance(getattr(L, n), type)\n"
        "                        and found.get(getattr(L, n).__name__) is not getattr(L, n))))"
    )
    assert missing == []


def test_is_builtin_before_any_lookup_and_user_classes_stay_user_classes():
    result = _run(
        "import json\n"
        "from kerasish.layers.recurrent import LSTM\n"
        "from kerasish.layers import Layer\n"
        "from kerasish.utils.object_registration import is_builtin\n"
        "class Dense(Layer):\n"
        "    pass\n"
        "print(json.dumps([is_builtin(LSTM), is_builtin(Dense)]))"
    )
    assert result == [True, False]


def test_lazily_loaded_objects_pickle_and_deepcopy():
    result = _run(
        "import copy, json, pickle, kerasish\n"
        "layer = kerasish.layers.Dense(2)\n"
        "twin = copy.deepcopy(layer)\n"
        "cls = pickle.loads(pickle.dumps(kerasish.layers.LSTM))\n"
        "print(json.dumps([type(twin).__name__, twin.units, cls is kerasish.layers.LSTM]))"
    )
    assert result == ["Dense", 2, True]


def test_ops_namespaces_load_on_first_use_and_the_flat_names_resolve():
    result = _run(
        "import json, sys\n"
        "import kerasish.ops as ops\n"
        "before = sorted(m for m in sys.modules if m.startswith('kerasish.ops.'))\n"
        "from kerasish.ops.operation import get_op\n"
        "resize = get_op('image.resize')  # a saved model names ops so; the lookup imports the namespaces\n"
        "from kerasish.ops import image\n"
        "flat = (ops.add is get_op('numpy.add'), ops.relu is get_op('nn.relu'), ops.numpy.add is ops.add,\n"
        "        ops.convert_to_tensor is get_op('core.convert_to_tensor'), resize is image.resize)\n"
        "names = ops.__all__\n"
        "print(json.dumps([before, flat, len(names), 'matmul' in names, 'numpy' in names,\n"
        "                  sorted(set(names) - set(dir(ops)))]))"
    )
    before, flat, n_names, has_matmul, has_numpy, missing_from_dir = result
    assert before == []
    assert flat == [True, True, True, True, True]
    assert n_names > 300 and has_matmul and has_numpy and missing_from_dir == []


def test_ops_unknown_name_is_an_attribute_error():
    message = _run(
        "import json, kerasish.ops as ops\n"
        "try:\n"
        "    ops.no_such_op\n"
        "except AttributeError as e:\n"
        "    print(json.dumps(str(e)))"
    )
    assert "no attribute 'no_such_op'" in message and "dir(kerasish.ops)" in message


def test_ops_on_symbolic_tensors_record_nodes_after_importing_only_one_layer():
    # kerasish.layers installs the recorder for ops called on KerasTensors when it is imported.
    kinds = _run(
        "import json\n"
        "from kerasish.layers import Input, Dense\n"
        "from kerasish import ops\n"
        "x = Input((3,))\n"
        "y = ops.add(Dense(2)(x), 1) * 2\n"
        "print(json.dumps([type(y).__name__, list(y.shape)]))"
    )
    assert kinds == ["KerasTensor", [None, 2]]


def test_ops_on_symbolic_tensors_without_the_layers_says_what_to_import():
    message = _run(
        "import json\n"
        "from kerasish.ops.keras_tensor import KerasTensor\n"
        "from kerasish.ops import numpy as knp\n"
        "try:\n"
        "    knp.add(KerasTensor((None, 3)), 1)\n"
        "except RuntimeError as e:\n"
        "    print(json.dumps(str(e)))"
    )
    assert "ops.add was called on a KerasTensor before kerasish.layers was imported" in message
    assert "from kerasish import layers" in message
