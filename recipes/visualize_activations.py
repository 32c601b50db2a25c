"""Visualise what the CNN's first convolution sees: its 32 feature maps for a few test images.

Trains the MNIST CNN briefly, then writes the first Conv2D's activations for a few
test images to TensorBoard (as images, under the `activations/` tag) and to a PNG grid
(one row per image: the input, then its feature maps).

Run:
    python -m kerasish.recipes visualize_activations --dataset fashion_mnist --epochs 1
    tensorboard --logdir runs/visualize_activations
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from kerasish.recipes import _cli, mnist_cnn


def save_grid(images: np.ndarray, maps: np.ndarray, path: str) -> None:
    """A PNG grid: for each image, the input then each feature map (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('The PNG grid needs matplotlib: pip install "kerasish[plot]"') from None
    n, channels = maps.shape[0], maps.shape[-1]
    fig, axes = plt.subplots(n, channels + 1, figsize=((channels + 1) * 0.6, n * 0.6), squeeze=False)
    for i in range(n):
        axes[i][0].imshow(images[i, :, :, 0], cmap="gray")
        for c in range(channels):
            axes[i][c + 1].imshow(maps[i, :, :, c], cmap="viridis")
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    p = _cli.parser("first-convolution activations of the MNIST CNN", epochs=1, batch_size=128, dataset="mnist")
    p.add_argument("--images", type=int, default=4, help="test images to visualise (default 4)")
    p.add_argument("--png", default=None, help="PNG grid path (default <logdir>/activations.png)")
    args = p.parse_args(argv)
    _cli.setup(args)
    (x_train, y_train), (x_test, _) = mnist_cnn.load_data(args.dataset, args.quick)
    model = mnist_cnn.build_model()
    _cli.banner("visualize_activations", model.device, [f"dataset: {args.dataset}"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=2)
    samples = x_test[: args.images]
    first_conv = model.layers[0]
    model.eval()
    with torch.inference_mode():
        maps = first_conv(torch.from_numpy(samples).to(model.device)).cpu().numpy()
    logdir = _cli.logdir_for(args, "visualize_activations") or os.path.join("runs", "visualize_activations")
    from kerasish.callbacks.tensorboard import log_activations

    log_activations(logdir, model, first_conv.name, samples, step=0)
    png = args.png or os.path.join(logdir, "activations.png")
    save_grid(samples, maps, png)
    print(f"activations of {first_conv.name!r}: shape {maps.shape}")
    print(f"TensorBoard images: {logdir}   PNG grid: {png}")
    return {"activations_shape": maps.shape, "logdir": logdir, "png": png}


if __name__ == "__main__":
    main()
