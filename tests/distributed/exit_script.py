"""A small data-parallel fit that must end with exit code 0 on every rank.

    python -m torch.distributed.run --nproc_per_node=2 tests/distributed/exit_script.py OUT

Each rank trains a tiny model on CPU (gloo) for two epochs, writes OUT/done_<rank>, and
returns from main; tests/test_distributed_exits.py launches it many times in a row and
requires every launch to exit cleanly (no abort in the interpreter's teardown).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch


def main(argv) -> None:
    torch.set_num_threads(1)
    import kerasish
    from kerasish import distributed
    from kerasish.layers import Dense

    kerasish.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")
    model = kerasish.Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", device="cpu")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    model.evaluate(x, y, verbose=0)
    with open(os.path.join(argv[0], f"done_{distributed.rank()}"), "w") as f:
        f.write(str(distributed.world_size()))


if __name__ == "__main__":
    main(sys.argv[1:])
