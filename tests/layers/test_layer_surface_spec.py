"""`Layer.compute_output_spec`: a symbolic call that records nothing, held against Keras 3."""

from __future__ import annotations

import kerasish
from tests.keras_parity import keras_module


def test_a_spec_records_no_node_and_carries_no_mask_as_in_keras():
    keras = keras_module()
    for lib in (keras, kerasish):
        embedding = lib.layers.Embedding(10, 3, mask_zero=True)
        spec = embedding.compute_output_spec(lib.Input((5,), dtype="int32"))
        assert (tuple(spec.shape), spec.dtype) == ((None, 5, 3), "float32")
        assert getattr(spec, "_keras_mask", None) is None  # masks come with a recorded call
        assert len(embedding._inbound_nodes) == 0
        out = embedding(lib.Input((5,), dtype="int32"))  # the recorded call: one node, and the mask
        assert len(embedding._inbound_nodes) == 1
        assert tuple(out._keras_mask.shape) == (None, 5)
    ours = kerasish.layers.Embedding(10, 3, mask_zero=True)
    assert ours.compute_output_spec(kerasish.Input((5,), dtype="int32")).node is None


def test_a_spec_of_several_outputs_is_a_list_of_unrecorded_tensors():
    lstm = kerasish.layers.LSTM(4, return_state=True)
    specs = lstm.compute_output_spec(kerasish.Input((6, 2)))
    assert [tuple(s.shape) for s in specs] == [(None, 4)] * 3
    assert all(s.node is None for s in specs) and not lstm._inbound_nodes
    assert lstm.built  # as kerasish's symbolic calls do, the spec builds the layer
