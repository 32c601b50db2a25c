"""Models with their own train_step / test_step, trained in one process or under torchrun; each process
writes what it saw. tests/distributed/test_custom_step_ddp.py compares the runs.

One process (the reference, global batch 8):
    python tests/distributed/custom_step_script.py --out OUT --batch-size 8
Two processes (per-process batch 4, the same global batch):
    python -m torch.distributed.run --nproc_per_node=2 tests/distributed/custom_step_script.py --out OUT --batch-size 4
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
    y = (x[:, :1] - 0.5 * x[:, 1:2] + 0.1).astype("float32")
    return x, y


def classes():
    import kerasish

    class GuideStep(kerasish.Sequential):
        """The Keras torch guide's train_step and test_step, with its own trackers."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = kerasish.metrics.Mean(name="loss")
            self.mae_metric = kerasish.metrics.MeanAbsoluteError(name="mae")

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = torch.nn.functional.mse_loss(y_pred, y)
            loss.backward()
            weights = self.trainable_weights
            self.optimizer.apply([v.grad for v in weights], weights)
            self.loss_tracker.update_state(loss)
            self.mae_metric.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result(), "last": loss.detach()}

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            self.loss_tracker.update_state(torch.nn.functional.mse_loss(y_pred, y))
            self.mae_metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    class AutogradStep(kerasish.Sequential):
        """Gradients from torch.autograd.grad handed to the optimizer: they never reach .grad."""

        def train_step(self, data):
            x, y = data
            loss = torch.nn.functional.mse_loss(self(x, training=True), y)
            weights = self.trainable_weights
            grads = torch.autograd.grad(loss, weights)
            self.optimizer.apply(list(grads), weights)
            return {"loss": loss}

    class TwoPlayers(kerasish.Model):
        """A GAN-shaped step (the Keras torch guide's): two sub-models, two optimizers, two backward passes;
        the "noise" is taken from the batch so one process and two see the same numbers."""

        def __init__(self):
            super().__init__()
            self.generator = kerasish.Sequential([kerasish.layers.Input((3,)), kerasish.layers.Dense(5)])
            self.critic = kerasish.Sequential([kerasish.layers.Input((5,)), kerasish.layers.Dense(1)])

        def compile(self, c_optimizer, g_optimizer):
            super().compile()
            self.c_optimizer, self.g_optimizer = c_optimizer, g_optimizer

        def call(self, x):
            return self.critic(self.generator(x[:, :3] * 0.5))

        def train_step(self, data):
            x, _ = data
            z = x[:, :3] * 0.5
            self.zero_grad()
            fake = self.generator(z).detach()
            c_loss = (self.critic(fake) - self.critic(x)).mean() + 0.1 * (self.critic(x) ** 2).mean()
            c_loss.backward()
            weights = self.critic.trainable_weights
            self.c_optimizer.apply([v.grad for v in weights], weights)
            self.zero_grad()
            g_loss = -self.critic(self.generator(z)).mean()
            g_loss.backward()
            weights = self.generator.trainable_weights
            self.g_optimizer.apply([v.grad for v in weights], weights)
            return {"c_loss": c_loss.detach(), "g_loss": g_loss.detach()}

    class SuperStep(kerasish.Sequential):
        """A step that adds to the built-in one: its logs are the built-in step's (Python numbers)."""

        def train_step(self, data):
            return super().train_step(data)

    class LateWeights(kerasish.Model):
        """A sub-model first built inside train_step: each process would initialise it differently."""

        def __init__(self):
            super().__init__()
            self.head = kerasish.layers.Dense(1)
            self.extra = kerasish.layers.Dense(1)

        def call(self, x):
            return self.head(x)

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            loss = torch.nn.functional.mse_loss(self(x, training=True) + self.extra(x), y)
            loss.backward()
            for optimizer, part in ((self.optimizer, self.head), (self.extra_optimizer, self.extra)):
                weights = part.trainable_weights  # each part with its own optimizer, as a GAN's two players
                optimizer.apply([v.grad for v in weights], weights)
            return {"loss": loss.detach()}

    return GuideStep, AutogradStep, TwoPlayers, SuperStep, LateWeights


def build(cls, seed: int, batch_norm: bool = False):
    import kerasish
    from kerasish.layers import BatchNormalization, Dense, Input

    kerasish.utils.set_random_seed(seed)
    layers = [Input((5,)), Dense(8, activation="tanh")] + ([BatchNormalization()] if batch_norm else []) + [Dense(1)]
    model = cls(layers)
    model.compile(optimizer=kerasish.optimizers.SGD(0.05, momentum=0.5), loss="mse")
    return model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from kerasish import distributed

    GuideStep, AutogradStep, TwoPlayers, SuperStep, LateWeights = classes()
    x, y = data(64, 1)  # 8 global batches of 8
    x_val, y_val = data(16, 2)  # shards of 8: equal batches, so a Mean of batch means is the same both ways

    model = build(GuideStep, 0)  # joins the process group under torchrun
    tag = str(distributed.rank()) if distributed.launched_by_torchrun() else "single"
    history = model.fit(x, y, batch_size=args.batch_size, epochs=3, shuffle=False, validation_data=(x_val, y_val),
                        verbose=0)
    result = {"world_size": distributed.world_size(), "history": history.history,
              "weights": [w.ravel().tolist() for w in model.get_weights()]}

    normed = build(GuideStep, 1, batch_norm=True)
    if distributed.rank() == 1:  # a different start on rank 1: fit must begin from rank 0's weights
        normed.set_weights([w + 1.0 for w in normed.get_weights()])
    normed.fit(x, y, batch_size=args.batch_size, epochs=2, verbose=0)
    result["batch_norm_weights"] = [w.ravel().tolist() for w in normed.get_weights()]

    import kerasish

    kerasish.utils.set_random_seed(3)
    players = TwoPlayers()
    players.compile(kerasish.optimizers.Adam(0.01), kerasish.optimizers.SGD(0.05))
    players_history = players.fit(x, y, batch_size=args.batch_size, epochs=2, shuffle=False, verbose=0)
    result["two_players"] = {"history": players_history.history,
                             "weights": [w.ravel().tolist() for w in players.get_weights()]}

    # The built-in step's logs through super().train_step; a backward pass in a callback on rank 0 only.
    def rank0_backward(epoch, logs):
        if distributed.rank() == 0:
            probe = torch.as_tensor(x[:4])
            torch.nn.functional.mse_loss(plain(probe), torch.as_tensor(y[:4])).backward()
            plain.zero_grad()

    plain = build(SuperStep, 4)
    plain_history = plain.fit(x, y, batch_size=args.batch_size, epochs=2, shuffle=False, verbose=0,
                              callbacks=[kerasish.callbacks.LambdaCallback(on_epoch_end=rank0_backward)])
    result["super_step"] = {"history": plain_history.history,
                            "weights": [w.ravel().tolist() for w in plain.get_weights()]}

    try:
        late = LateWeights()
        late.compile(optimizer=kerasish.optimizers.SGD(0.05), loss="mse")
        late.extra_optimizer = kerasish.optimizers.SGD(0.05)
        late.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)
        result["late_error"] = None
    except RuntimeError as error:
        result["late_error"] = str(error)

    try:
        build(AutogradStep, 2).fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)
        result["autograd_error"] = None
    except RuntimeError as error:
        result["autograd_error"] = str(error)

    with open(os.path.join(args.out, f"result_{tag}.json"), "w", encoding="utf-8") as f:
        json.dump(result, f)
    distributed.barrier()


if __name__ == "__main__":
    sys.exit(main())
