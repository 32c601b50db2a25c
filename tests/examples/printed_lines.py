"""What the examples print, made comparable between two libraries and two runs."""

from __future__ import annotations

import re
from typing import List, Tuple

_NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"


def text_and_numbers(lines: List[str]) -> Tuple[List[str], List[float]]:
    """Each line with its timings as '<time>' and its numbers as '#', and the numbers in order.

    Example:
        >>> text_and_numbers(["3/3 - 0s - 893us/step - loss: 0.9416"])
        (['#/# - <time> - <time>/step - loss: #'], [3.0, 3.0, 0.9416])
    """
    text, numbers = [], []
    for line in lines:
        line = re.sub(r"\b\d+(\.\d+)?(s|ms|us)\b", "<time>", line)
        numbers += [float(n) for n in re.findall(_NUMBER, line)]
        text.append(re.sub(_NUMBER, "#", line))
    return text, numbers
