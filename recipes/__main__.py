"""`python -m kerasish.recipes [NAME] [flags]` (also the `kerasish` console script)."""

from __future__ import annotations

import importlib
import sys
from typing import List, Optional

from kerasish.recipes import RECIPES
from kerasish.utils.text import did_you_mean


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "list"):
        print("usage: python -m kerasish.recipes NAME [--epochs N] [--batch-size N] [--device D] [--quick]\n")
        print("recipes:")
        for name, module in RECIPES.items():
            doc = (importlib.import_module(module).__doc__ or "").strip().splitlines()[0]
            print(f"  {name:20s} {doc}")
        return 0
    name = argv[0]
    if name not in RECIPES:
        print(f"Unknown recipe {name!r}. Valid recipes: {', '.join(RECIPES)}.{did_you_mean(name, RECIPES)}",
              file=sys.stderr)
        return 2
    from kerasish.datasets import DatasetUnavailableError

    try:
        importlib.import_module(RECIPES[name]).main(argv[1:])
    except DatasetUnavailableError as e:
        # Offline and not cached: the message says which file, where we looked, how to provide it.
        print(f"kerasish recipe {name}: the data is not available.\n{e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
