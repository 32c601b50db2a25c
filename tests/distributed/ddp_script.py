"""Runs the same small trainings in one process or under torchrun, and writes what each process saw.

One process (the reference, global batch 8):
    python tests/distributed/ddp_script.py --out OUT --batch-size 8
Two processes (per-process batch 4, the same global batch):
    python -m torch.distributed.run --nproc_per_node=2 tests/distributed/ddp_script.py --out OUT --batch-size 4

Each process writes OUT/result_<rank>.json (OUT/result_single.json for the reference) and gives its
ModelCheckpoint / TensorBoard / CSVLogger their own folder OUT/files_<rank>, so a test can see which
process wrote files. tests/test_distributed.py compares the results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch


def data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64") + (x[:, 2] > 1.0).astype("int64")
    return x, y


def build(seed: int, device: str = "cpu"):
    import kerasish
    from kerasish.layers import Dense

    kerasish.utils.set_random_seed(seed)
    model = kerasish.Sequential([Dense(16, activation="relu", input_shape=(5,)), Dense(3, activation="softmax")])
    model.compile(optimizer=kerasish.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", kerasish.metrics.MeanIoU(num_classes=3, sparse_y_pred=False, name="iou")],
                  device=device)
    return model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (each process then uses cuda:LOCAL_RANK)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from kerasish import distributed
    from kerasish.callbacks import (BackupAndRestore, CSVLogger, EarlyStopping, LambdaCallback, ModelCheckpoint,
                                    TensorBoard)

    x, y = data(60, 1)  # 60 samples: 7 full global batches of 8 and a last one of 4 (2 per process)
    x_val, y_val = data(21, 2)  # 21: shards of 11 and 10
    x_eval, y_eval = data(53, 3)
    w_eval = np.linspace(0.5, 2.0, 53).astype("float32")

    model = build(0, args.device)  # joins the process group under torchrun
    tag = str(distributed.rank()) if distributed.launched_by_torchrun() else "single"
    files = os.path.join(args.out, f"files_{tag}")
    callbacks = [ModelCheckpoint(os.path.join(files, "ckpt-{epoch:02d}.kerasish")),
                 TensorBoard(os.path.join(files, "tb"), write_graph=False),
                 CSVLogger(os.path.join(files, "log.csv"))]
    history = model.fit(x, y, batch_size=args.batch_size, epochs=3, validation_data=(x_val, y_val),
                        callbacks=callbacks, verbose=2 if tag != "single" else 0)
    result = {
        "world_size": distributed.world_size(),
        "device": str(model.device),
        "history": history.history,
        "weights": [w.ravel().tolist() for w in model.get_weights()],
        "evaluate": model.evaluate(x_eval, y_eval, sample_weight=w_eval, batch_size=5, verbose=0, return_dict=True),
        "predict": model.predict(x_eval, batch_size=5, verbose=0).tolist(),
        "predict_dataset": model.predict(
            torch.utils.data.TensorDataset(torch.from_numpy(x_eval)), batch_size=5, verbose=0).tolist(),
    }

    stopper = build(1, args.device)
    early = EarlyStopping(monitor="val_loss", min_delta=0.02, patience=1)
    stop_history = stopper.fit(x, y, batch_size=args.batch_size, epochs=30, validation_data=(x_val, y_val),
                               callbacks=[early], verbose=0)
    result["early_stopping"] = {"epochs_run": len(stop_history.history["loss"]), "stopped_epoch": early.stopped_epoch,
                                "val_loss": stop_history.history["val_loss"]}

    ds_model = build(2, args.device)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    ds_history = ds_model.fit(dataset, batch_size=args.batch_size, epochs=2, verbose=0)
    result["dataset_fit"] = {"loss": ds_history.history["loss"],
                             "weights": [w.ravel().tolist() for w in ds_model.get_weights()]}

    # BackupAndRestore: interrupted after epoch 2, resumed by a fresh model (rank 0 writes, all restore).
    def interrupt(epoch, logs):
        if epoch == 1:
            raise KeyboardInterrupt

    backup = os.path.join(args.out, f"backup_{'single' if tag == 'single' else 'ddp'}")
    try:
        build(3, args.device).fit(x, y, batch_size=args.batch_size, epochs=4, verbose=0,
                                  callbacks=[BackupAndRestore(backup), LambdaCallback(on_epoch_end=interrupt)])
    except KeyboardInterrupt:
        pass
    resumed = build(4, args.device)
    resumed_history = resumed.fit(x, y, batch_size=args.batch_size, epochs=4, verbose=0,
                                  callbacks=[BackupAndRestore(backup)])
    result["resumed"] = {"loss": resumed_history.history["loss"],
                         "weights": [w.ravel().tolist() for w in resumed.get_weights()]}

    with open(os.path.join(args.out, f"result_{tag}.json"), "w", encoding="utf-8") as f:
        json.dump(result, f)
    distributed.barrier()


if __name__ == "__main__":
    sys.exit(main())
