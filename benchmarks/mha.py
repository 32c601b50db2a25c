"""MultiHeadAttention forward+backward: kerasish vs Keras 3 (torch backend) vs torch.nn.MultiheadAttention.

Self-attention on `(batch, length, 256)` inputs with 4 heads of size 64 (key_dim=64), the
three layers holding the same weights (their outputs are compared first). Each step is
`layer(x, x)` then `out.sum().backward()` (gradients cleared to None between steps). After
a burn-in, the three are timed in interleaved repetitions of `--steps` steps each; the
median milliseconds per step and the ratios are printed per sequence length.

torch's layer is called with `need_weights=False`, its fused-kernel path, as a hand-written
model would; kerasish's and Keras's MHA both reach torch's scaled_dot_product_attention.
Keras is optional: without it (or with another Keras backend) its column is skipped.

Run:
    python benchmarks/mha.py                        # lengths 128 and 512, 5 repetitions
    python benchmarks/mha.py --reps 3 --steps 2     # a quick CPU run
    python benchmarks/mha.py --device cuda --steps 50
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

HEADS, KEY_DIM = 4, 64
EMBED = HEADS * KEY_DIM


def _keras() -> Optional[Any]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        return None
    return keras if keras.backend.backend() == "torch" else None


def build_layers(device: torch.device, length: int, batch: int) -> Dict[str, Any]:
    """The three layers with one set of weights, each as a `step(x)` returning the output."""
    from kerasish.layers.attention import MultiHeadAttention

    ours = MultiHeadAttention(num_heads=HEADS, key_dim=KEY_DIM)
    ours.build((None, length, EMBED), (None, length, EMBED))
    ours.to(device)
    weights = ours.get_weights()  # Keras's layout: q/k/v kernels (E, N, H), biases (N, H), output (N, H, E), (E,)
    torch_mha = torch.nn.MultiheadAttention(EMBED, HEADS, batch_first=True).to(device)
    with torch.no_grad():
        kernels = [torch.tensor(w).reshape(EMBED, EMBED).T for w in weights[0:6:2]]
        biases = [torch.tensor(w).reshape(EMBED) for w in weights[1:6:2]]
        torch_mha.in_proj_weight.copy_(torch.cat(kernels))
        torch_mha.in_proj_bias.copy_(torch.cat(biases))
        torch_mha.out_proj.weight.copy_(torch.tensor(weights[6]).reshape(EMBED, EMBED).T)
        torch_mha.out_proj.bias.copy_(torch.tensor(weights[7]))
    layers: Dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "kerasish": lambda x: ours(x, x, training=True),
        "torch": lambda x: torch_mha(x, x, x, need_weights=False)[0],
    }
    params: Dict[str, List[torch.Tensor]] = {"kerasish": list(ours.parameters()),
                                             "torch": list(torch_mha.parameters())}
    keras = _keras()
    if keras is not None:
        theirs = keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=KEY_DIM)
        theirs.build((None, length, EMBED), (None, length, EMBED))
        theirs.set_weights(weights)
        layers["keras"] = lambda x: theirs(x, x, training=True)
        params["keras"] = [v.value for v in theirs.trainable_variables]
    x = torch.randn(batch, length, EMBED, device=device)
    outs = {name: step(x).detach().float().cpu().numpy() for name, step in layers.items()}
    for name, out in outs.items():
        diff = float(np.abs(out - outs["kerasish"]).max())
        if name != "kerasish":
            print(f"  max |{name} - kerasish| = {diff:.2e}")
    return {"layers": layers, "params": params, "x": x}


def time_steps(step: Callable[[torch.Tensor], torch.Tensor], params: List[torch.Tensor], x: torch.Tensor,
               steps: int, device: torch.device) -> float:
    """Milliseconds per forward+backward step over `steps` steps."""
    start = time.perf_counter()
    for _ in range(steps):
        for p in params:
            p.grad = None
        step(x).sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize()  # host sync: once per timed block, so the clock covers the queued kernels
    return (time.perf_counter() - start) / steps * 1e3


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="128,512", help="comma-separated sequence lengths")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reps", type=int, default=5, help="interleaved timed repetitions")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per repetition (default: 3 on the CPU, 30 on CUDA)")
    parser.add_argument("--burn-in", type=int, default=2, help="untimed steps per layer first")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    steps = args.steps or (30 if device.type == "cuda" else 3)
    lengths = [int(n) for n in args.lengths.split(",") if n]
    torch.manual_seed(0)
    print(f"MHA forward+backward, batch {args.batch}, {HEADS} heads, key_dim {KEY_DIM} (embed {EMBED}), "
          f"device {device}, {args.reps} reps x {steps} steps, torch {torch.__version__}")
    rows = []
    for length in lengths:
        print(f"length {length}:")
        setup = build_layers(device, length, args.batch)
        layers, params, x = setup["layers"], setup["params"], setup["x"]
        for name, step in layers.items():
            time_steps(step, params[name], x, args.burn_in, device)
        times: Dict[str, List[float]] = {name: [] for name in layers}
        for _ in range(args.reps):
            for name, step in layers.items():  # interleaved, so drift hits every layer alike
                times[name].append(time_steps(step, params[name], x, steps, device))
        rows.append((length, {name: statistics.median(t) for name, t in times.items()}))
    print(f"\n{'length':>6} {'kerasish ms':>12} {'keras ms':>10} {'torch ms':>10} "
          f"{'kerasish/keras':>15} {'kerasish/torch':>15}")
    for length, med in rows:
        keras_ms = med.get("keras")
        print(f"{length:>6} {med['kerasish']:>12.2f} {keras_ms if keras_ms is not None else float('nan'):>10.2f} "
              f"{med['torch']:>10.2f} "
              f"{(med['kerasish'] / keras_ms) if keras_ms else float('nan'):>15.2f} "
              f"{med['kerasish'] / med['torch']:>15.2f}")


if __name__ == "__main__":
    main()
