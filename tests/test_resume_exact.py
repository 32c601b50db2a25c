"""BackupAndRestore resumes exactly for every kind of training data.

An interrupted fit (a callback raises mid-epoch) is run again with fresh objects made
the same way (model, data, seed), as a restarted script would: its final weights must
equal an uninterrupted run's bit for bit. Every kind of data is read with
`steps_per_epoch` shorter than one pass, so each epoch starts where the last one
stopped: the array order and cursor, a DataLoader's pass and its sampler's generator, a
generator's position must all come back from the backup.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kerasish.data.adapters import ArrayAdapter, IterableAdapter
from tests import resume_child
from tests.callbacks.test_backup_and_restore import Crash, CrashAt  # the in-process crash


def _weights(model):
    return [w.copy() for w in model.get_weights()]


def _assert_bitwise_equal(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        assert np.array_equal(g, e), f"max difference {np.abs(g - e).max()}"


@pytest.mark.parametrize("kind", resume_child.KINDS)
@pytest.mark.parametrize("crash", [(3, 0), (4, 1), (1, 2)])
def test_interrupted_then_resumed_equals_uninterrupted_bitwise(tmp_path, kind, crash):
    reference, ref_history = resume_child.fit(kind, str(tmp_path / "ref"))
    expected = _weights(reference)
    assert ref_history.epoch == list(range(resume_child.EPOCHS))

    with pytest.raises(Crash):
        resume_child.fit(kind, str(tmp_path / "backup"), [CrashAt(*crash)])
    assert (tmp_path / "backup" / "training_backup.zip").is_file()
    resumed, history = resume_child.fit(kind, str(tmp_path / "backup"))
    assert history.epoch == list(range(crash[0], resume_child.EPOCHS))  # it did resume, at the crashed epoch
    _assert_bitwise_equal(_weights(resumed), expected)
    np.testing.assert_array_equal(history.history["loss"], ref_history.history["loss"][crash[0]:])
    assert not (tmp_path / "backup").exists()  # finished: backup and folder removed


def test_resuming_twice_in_a_row_still_equals_uninterrupted(tmp_path):
    expected = _weights(resume_child.fit("loader", str(tmp_path / "ref"))[0])
    with pytest.raises(Crash):
        resume_child.fit("loader", str(tmp_path / "b"), [CrashAt(2, 0)])
    with pytest.raises(Crash):
        resume_child.fit("loader", str(tmp_path / "b"), [CrashAt(4, 2)])
    _assert_bitwise_equal(_weights(resume_child.fit("loader", str(tmp_path / "b"))[0]), expected)


# --------------------------------------------------------------------- the adapters' state
def _array_adapter(shuffle=True):
    x = torch.arange(40, dtype=torch.float32).reshape(20, 2)
    return ArrayAdapter(x, x[:, :1], None, batch_size=3, shuffle=shuffle, device=torch.device("cpu"), steps=2)


def _first_columns(adapter, epochs):
    return [[b[0][:, 0].tolist() for b in adapter] for _ in range(epochs)]


@pytest.mark.parametrize("shuffle", [True, False])
def test_array_adapter_state_round_trip_continues_the_same_batches(shuffle):
    a = _array_adapter(shuffle)
    _first_columns(a, 5)  # 2, 2, 2, 1 (the pass ran out, as in Keras), 2 of the next
    state = a.state_dict()
    torch.manual_seed(123)  # whatever the global state when restoring
    expected = _first_columns(a, 4)

    b = _array_adapter(shuffle)
    b.load_state_dict(state)
    torch.manual_seed(123)
    assert _first_columns(b, 4) == expected
    assert state["cursor"] == 2 and (state["order_rng"] is None) == (not shuffle)


def test_array_adapter_restore_leaves_the_global_random_state_alone():
    a = _array_adapter()
    _first_columns(a, 2)
    b = _array_adapter()
    before = torch.get_rng_state()
    b.load_state_dict(a.state_dict())
    assert torch.equal(torch.get_rng_state(), before)


def test_array_adapter_state_is_empty_when_every_epoch_is_a_full_pass():
    x = torch.zeros(10, 2)
    a = ArrayAdapter(x, x, None, batch_size=5, shuffle=True, device=torch.device("cpu"))
    list(a)
    assert a.state_dict() == {}


@pytest.mark.parametrize("state, message", [
    ({"cursor": -1, "order_rng": None}, r"invalid 'cursor': received -1, expected an int from 0 to 7"),
    ({"cursor": "3", "order_rng": None}, r"invalid 'cursor': received '3'"),
    ({"cursor": 1, "order_rng": None}, r"invalid 'order_rng': received None, expected torch's random state"),
    ({"cursor": 1, "order_rng": torch.zeros(3, dtype=torch.int64)}, r"invalid 'order_rng'.*1-D uint8 tensor"),
    ({"cursor": 1, "order_rng": torch.zeros(3, dtype=torch.uint8)}, r"invalid 'order_rng'.*5056 bytes"),
])
def test_array_adapter_refuses_a_foreign_state(state, message):
    with pytest.raises(ValueError, match=message + r".*delete it to start training from scratch"):
        _array_adapter().load_state_dict(state)


def _loader(seed=7):
    data = torch.utils.data.TensorDataset(torch.arange(20.0).reshape(10, 2))
    sampler = torch.utils.data.RandomSampler(data, generator=torch.Generator().manual_seed(seed))
    return torch.utils.data.DataLoader(data, batch_size=3, sampler=sampler)


def _iter_columns(adapter, epochs):
    return [[b[0][:, 0].tolist() for b in adapter] for _ in range(epochs)]


def test_dataloader_state_round_trip_continues_the_same_batches():
    a = IterableAdapter(_loader(), 3, False, torch.device("cpu"), steps=3)
    a.peek()
    _iter_columns(a, 3)  # 3 batches, 1 (the pass ran out), 3 of the next pass's 4
    state = a.state_dict()
    assert state["consumed"] == 3 and "pass_rng" in state
    expected = _iter_columns(a, 3)

    b = IterableAdapter(_loader(), 3, False, torch.device("cpu"), steps=3)
    b.peek()  # fit peeks before restoring
    before = torch.get_rng_state()
    b.load_state_dict(state)
    assert torch.equal(torch.get_rng_state(), before)
    assert _iter_columns(b, 3) == expected


def test_dataloader_of_another_kind_is_refused():
    a = IterableAdapter(_loader(), 3, False, torch.device("cpu"), steps=3)
    list(a)
    plain = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(10, 2)), batch_size=3)
    with pytest.raises(ValueError, match=r"invalid 'generators'.*expected 0 torch.Generator.get_state\(\) tensor"):
        IterableAdapter(plain, 3, False, torch.device("cpu"), steps=3).load_state_dict(a.state_dict())


def test_a_generator_that_ends_before_the_saved_position_is_named():
    def five():
        for i in range(5):
            yield torch.full((2, 1), float(i)), torch.zeros(2, 1)

    a = IterableAdapter(five(), 2, False, torch.device("cpu"))
    a.peek()
    with pytest.raises(ValueError, match=r"ran out after 5 batches while moving to the saved position \(8 batches\)"
                                         r".*Pass the same data"):
        a.load_state_dict({"consumed": 8, "epoch": 0, "generators": []})


def test_a_generator_skips_to_the_saved_position():
    def count():
        i = 0
        while True:
            yield torch.full((1, 1), float(i)), torch.zeros(1, 1)
            i += 1

    a = IterableAdapter(count(), 1, False, torch.device("cpu"), steps=2)
    a.peek()
    a.load_state_dict({"consumed": 5, "epoch": 0, "generators": []})
    assert [float(b[0]) for b in a] == [5.0, 6.0]
    with pytest.raises(ValueError, match=r"already yielded more batches than the saved position \(3\).*cannot be "
                                         r"rewound"):
        a.load_state_dict({"consumed": 3, "epoch": 0, "generators": []})


def test_resuming_with_other_data_is_refused_and_the_backup_kept(tmp_path):
    with pytest.raises(Crash):
        resume_child.fit("loader", str(tmp_path / "b"), [CrashAt(2, 1)])
    # The rerun passes a shuffling DataLoader without the seeded sampler the backup was made with.
    with pytest.raises(ValueError, match=r"Cannot resume from '.*training_backup.zip': The saved iterable data "
                                         r"position has an invalid 'generators'.*expected 0 torch.Generator"):
        resume_child.fit("loader_global", str(tmp_path / "b"))
    assert (tmp_path / "b" / "training_backup.zip").is_file()  # kept for a rerun with the right data


@pytest.mark.parametrize("change, message", [
    ({"consumed": -2}, r"invalid 'consumed': received -2, expected an int >= 0"),
    ({"epoch": "1"}, r"invalid 'epoch': received '1', expected an int >= 0"),
    ({"pass_rng": {"host": {"torch": torch.zeros(2, dtype=torch.uint8)}, "generators": []}},
     r"invalid 'pass_rng'.*expected the random states of host_rng_state\(\)"),
])
def test_iterable_adapter_refuses_a_foreign_state(change, message):
    a = IterableAdapter(_loader(), 3, False, torch.device("cpu"), steps=3)
    list(a)
    state = dict(a.state_dict(), **change)
    with pytest.raises(ValueError, match=message + r".*delete it to start training from scratch"):
        IterableAdapter(_loader(), 3, False, torch.device("cpu"), steps=3).load_state_dict(state)


@pytest.mark.parametrize("field, value, message", [
    ("next_epoch", "3", r"'next_epoch' is '3', not an int >= 0"),
    ("rng", None, r"'rng' or 'data' is not a dict"),
    ("data", [1], r"'rng' or 'data' is not a dict"),
])
def test_an_edited_backup_is_refused_with_the_field_named(tmp_path, field, value, message):
    import json
    import zipfile

    with pytest.raises(Crash):
        resume_child.fit("arrays", str(tmp_path / "b"), [CrashAt(2, 1)])
    path = tmp_path / "b" / "training_backup.zip"
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    state = json.loads(members["state.json"])
    state[field] = value
    members["state.json"] = json.dumps(state).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match=r"The backup '.*training_backup.zip' is unreadable: .*" + message):
        resume_child.fit("arrays", str(tmp_path / "b"))
