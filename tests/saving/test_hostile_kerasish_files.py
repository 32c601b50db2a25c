"""Hostile `.kerasish` files (issue 22): each is refused with a clear ValueError naming what
is wrong, before it can run code or allocate more than the file holds."""

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from kerasish.saving import load_model, load_weights, model_file
from tests.saving.conftest import make_data, make_model

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture
def saved(tmp_path):
    model = make_model()
    x, y = make_data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "good.kerasish"
    model.save(str(path))
    return path


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write(path, members, extra=(), compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in list(members.items()) + list(extra):
            zf.writestr(name, data)
    return str(path)


def _with_config(saved, tmp_path, edit):
    members = _members(saved)
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config)
    return _write(tmp_path / "hostile.kerasish", members)


def _layers(config):
    return config["model"]["config"]["layers"]


def _dense(config):
    # The first Dense: a Sequential whose input shape is known lists its InputLayer first, as Keras does.
    return next(e for e in _layers(config) if e["class_name"] == "Dense")


# ---------------------------------------------------------------- the zip container
def test_a_duplicated_config_member_is_refused(saved, tmp_path):
    members = _members(saved)
    path = _write(tmp_path / "dup.kerasish", members, extra=[("config.json", b'{"format": "kerasish"}')])
    with pytest.raises(ValueError, match=r"the member 'config\.json' appears twice"):
        load_model(path)


@pytest.mark.parametrize("name", ["../evil.json", "/etc/evil", "sub/../../evil", "C:\\evil", "..\\evil"])
def test_member_names_pointing_outside_the_archive_are_refused(saved, tmp_path, name):
    path = _write(tmp_path / "t.kerasish", _members(saved), extra=[(name, b"x")])
    with pytest.raises(ValueError, match=r"points outside the archive"):
        load_model(path)


def test_a_zip_bomb_weights_member_is_refused_unread(saved, tmp_path):
    # 512 MiB of zeros deflated to ~2 MB: a ratio of ~230, as the 14 MB -> 3 GiB file of the issue.
    path = tmp_path / "bomb.kerasish"
    members = _members(saved)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("config.json", members["config.json"])
        with zf.open("model.safetensors", "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(512):
                f.write(chunk)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"the member 'model\.safetensors' declares 536870912 bytes "
                                             r"uncompressed from \d+ compressed, a ratio over 100 \(a zip bomb\)"):
            load_model(str(path))
        with pytest.raises(ValueError, match=r"a ratio over 100"):
            load_weights(make_model(), str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2 ** 20


def test_a_weights_member_larger_than_the_architecture_is_refused(saved, tmp_path):
    members = _members(saved)
    members["model.safetensors"] = st_save({"pad": torch.zeros(1_000_000)})  # 4 MB, stored: ratio 1
    with pytest.raises(ValueError, match=r"the member 'model\.safetensors' declares 4000\d+ bytes, more than the "
                                         r"\d+ its role allows"):
        load_model(_write(tmp_path / "big.kerasish", members))


def test_an_oversized_config_member_is_refused(saved, tmp_path, monkeypatch):
    monkeypatch.setitem(model_file.JSON_LIMITS, "config.json", 1000)
    with pytest.raises(ValueError, match=r"the member 'config\.json' declares \d+ bytes, more than the 1000"):
        load_model(str(saved))


# ---------------------------------------------------------------- JSON
def test_deeply_nested_config_is_refused_before_parsing(saved, tmp_path):
    members = _members(saved)
    members["config.json"] = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ValueError, match=r"config\.json nests 100000 levels deep, more than the 200"):
        load_model(_write(tmp_path / "deep.kerasish", members))


def test_deeply_nested_optimizer_description_is_refused(saved, tmp_path):
    members = _members(saved)
    members["optimizer.json"] = b'{"a": ' * 5000 + b"1" + b"}" * 5000
    with pytest.raises(ValueError, match=r"The optimizer description in .* nests 5000 levels deep"):
        load_model(_write(tmp_path / "deep.kerasish", members))


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"name": "[" * 1000 + '\\"{' * 300})
    assert model_file.parse_json(text.encode(), "x") == json.loads(text)


@pytest.mark.parametrize("order, shown", [
    ("{", "'{'"), ('{"a": 1}', "'{\"a\": 1}'"), ("[[1]]", "'\\[\\[1\\]\\]'"), ("5", "'5'"),
    ('["nope"]', "'\\[\"nope\"\\]'"),
])
def test_bad_key_order_metadata_is_refused(saved, tmp_path, order, shown):
    members = _members(saved)
    tensors = {k: v.clone() for k, v in make_model().state_dict().items()}
    members["model.safetensors"] = st_save(tensors, metadata={"kerasish_key_order": order})
    with pytest.raises(ValueError, match=rf"The key-order metadata 'kerasish_key_order' in .* is {shown}, expected "
                                         r"a JSON list naming each of its 4 tensors once"):
        load_model(_write(tmp_path / "order.kerasish", members))


# ---------------------------------------------------------------- the architecture
def test_a_dtype_naming_a_torch_function_is_refused_and_never_called(saved, tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: called.append(a))
    path = _with_config(saved, tmp_path, lambda c: _dense(c)["config"].update(dtype="load"))
    with pytest.raises(ValueError, match=r"Cannot rebuild the saved Dense 'dense\w*' from its config: Unknown dtype "
                                         r"'load'\. Expected a dtype name"):
        load_model(path)
    assert called == []


@pytest.mark.parametrize("edit, message", [
    (lambda c: _dense(c).update(class_name=["Dense"]), r"The object description must be \{'class_name'"),
    (lambda c: _dense(c).pop("config"), r"The object description must be .*received \{'class_name': 'Dense'"),
    (lambda c: c["model"].pop("config"), r"The model description must be \{'class_name'"),
    (lambda c: c["model"]["config"].update(name=5), r"Cannot rebuild the saved Sequential 5 from its config: name "),
    (lambda c: c["model"]["config"].update(build_input_shape="x"), r"build_input_shape='x'; expected a list of "),
    (lambda c: c.update(format_version="2"), r"format_version='2' \(str\), expected an integer"),
    (lambda c: c.update(compile="x"), r"compile='x', expected the compile settings \(a dict\) or null"),
])
def test_malformed_architecture_entries_are_named(saved, tmp_path, edit, message):
    with pytest.raises(ValueError, match=message):
        load_model(_with_config(saved, tmp_path, edit))


@pytest.fixture
def saved_functional(tmp_path):
    from kerasish import Input, Model
    from kerasish.layers import Dense

    inputs = Input((3,))
    model = Model(inputs, Dense(1)(Dense(2)(inputs)))
    model.compile(optimizer="adam", loss="mse", device="cpu")
    path = tmp_path / "functional.kerasish"
    model.save(str(path))
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda c: _layers(c)[0].pop("config"), r"cannot be rebuilt from its graph \(KeyError: 'config'\)"),
    (lambda c: _layers(c)[1].update(inbound_nodes=5), r"from its graph \(TypeError: 'int' object is not iterable\)"),
    (lambda c: c["model"]["config"].update(output_layers=[["zzz", 0, 0]]), r"from its graph \(KeyError: \('zzz'"),
    (lambda c: c["model"]["config"].pop("input_layers"), r"from its graph \(KeyError: 'input_layers'\)"),
    (lambda c: c["model"]["config"].update(layers="abc"), r"from its graph \(TypeError: layers='abc' is not a list"),
    (lambda c: _layers(c)[1].update(registered_name=["x"]), r"The layer description must be \{'class_name': \.\.\., "
                                                            r"'config': \.\.\.\} \(a string, a dict, and 'module'"),
    (lambda c: c["model"].update(module=5), r"The model description must be .*received \{'module': 5"),
])
def test_malformed_functional_graphs_are_named(saved_functional, tmp_path, edit, message):
    with pytest.raises(ValueError, match=message):
        load_model(_with_config(saved_functional, tmp_path, edit))


def test_a_huge_declared_layer_is_refused_before_any_allocation(saved, tmp_path):
    # 2 KB of config declaring Dense(20000) on 20000 inputs: 1.6 GB if built for real.
    def edit(config):
        _layers(config)[0]["config"]["shape"] = [20000]  # the Input, not the Dense, sets its input (as Keras)
        config["model"]["config"]["build_input_shape"] = [None, 20000]
        dense = _dense(config)["config"]
        dense.update(units=20000, input_shape=[20000])
    path = _with_config(saved, tmp_path, edit)
    with pytest.raises(ValueError, match=r"Shape mismatch for weight 'layers\.dense\w*\.kernel' .*the model has "
                                         r"shape \(20000, 20000\), the file has shape \(3, 4\)"):
        load_model(path)
    # Peak memory of a fresh process (torch allocates outside tracemalloc's view; VmHWM is the
    # peak resident size of this process alone, unlike ru_maxrss, which a child inherits).
    script = textwrap.dedent(f"""
        import re
        import kerasish

        def peak_mib():
            with open("/proc/self/status") as f:
                return int(re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1)) // 1024

        before = peak_mib()
        try:
            kerasish.load_model({path!r})
        except ValueError as e:
            assert "Shape mismatch" in str(e), e
        print(peak_mib() - before)
    """)
    if not os.path.exists("/proc/self/status"):
        pytest.skip("peak memory is read from /proc/self/status (Linux)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) < 200  # MiB of peak growth; a real build takes 1,600


# ---------------------------------------------------------------- compile settings
@pytest.mark.parametrize("edit, message", [
    (lambda c: c["compile"]["optimizer"].update(class_name="Optimizer"),
     r"optimizer class 'Optimizer', which kerasish does not have"),
    (lambda c: c["compile"]["optimizer"].update(class_name=["Adam"]),
     r"The compile optimizer entry must be \{'class_name': str, 'config': dict\}, received \{'class_name': \['Adam'\]"),
    (lambda c: c["compile"]["optimizer"].update(config=[1]), r"The compile optimizer entry must be"),
    (lambda c: c["compile"].pop("optimizer"), r"The compile optimizer entry must be .*received None"),
    (lambda c: c["compile"]["optimizer"]["config"].update(bogus=1),
     r"The file's optimizer Adam has a config it cannot be built from \(.*bogus"),
    (lambda c: c["compile"].update(loss={"class_name": ["X"], "config": {}}),
     r"The saved compile\.loss is \{'class_name': \['X'\].*expected \{'class_name': str, 'config': dict\}"),
    (lambda c: c["compile"].update(loss={"class_name": "MeanSquaredError", "config": {"zz": 1}}),
     r"The saved compile\.loss is .*expected a kerasish loss and its config"),
    (lambda c: c["compile"].update(metrics=["mae", {"a": 1}]), r"The saved compile\.metrics\[1\] is \{'a': 1\}"),
    (lambda c: c["compile"].update(metrics=[{"class_name": "Nope", "config": {}}]),
     r"The saved compile\.metrics\[0\] is .*Nope.*expected a metric kerasish can rebuild"),
    (lambda c: c["compile"].update(weighted_metrics=[3]), r"The saved compile\.weighted_metrics\[0\] is 3"),
    (lambda c: c["compile"].update(loss_weights="x"), r"The saved compile\.loss_weights is 'x', expected a number"),
])
def test_malformed_compile_entries_are_named(saved, tmp_path, edit, message):
    path = _with_config(saved, tmp_path, edit)
    with pytest.raises(ValueError, match=message):
        load_model(path)
    assert np.asarray(load_model(path, compile=False).predict(make_data()[0], verbose=0)).shape == (24, 1)


def test_optimizer_state_with_a_broken_structure_is_refused(saved, tmp_path):
    members = _members(saved)
    members["optimizer.json"] = json.dumps({"state": {"__items__": [[1]]}, "param_groups": []})
    with pytest.raises(ValueError, match=r"The optimizer state in .* does not fit this model's optimizer"):
        load_model(_write(tmp_path / "opt.kerasish", members))
