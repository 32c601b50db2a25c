"""Keras-style model summary table (pure formatting)."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

Row = Tuple[str, str, int]


def format_shape(shape: Optional[Sequence[Any]]) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n:.2f} GB"  # pragma: no cover


def render(name: str, rows: List[Row], trainable: int, non_trainable: int, bytes_per_param: int = 4,
           line_length: int = 80, print_fn: Optional[Callable[[str], Any]] = None) -> str:
    """Renders the table; prints it through `print_fn` (default print) and returns it."""
    widths = [int(line_length * 0.45), int(line_length * 0.33)]
    widths.append(line_length - sum(widths))
    lines = [f'Model: "{name}"', "_" * line_length]
    lines.append(" Layer (type)".ljust(widths[0]) + "Output Shape".ljust(widths[1]) + "Param #".rjust(widths[2] - 1))
    lines.append("=" * line_length)
    for i, (label, shape, params) in enumerate(rows):
        lines.append((" " + label).ljust(widths[0]) + shape.ljust(widths[1]) + f"{params:,}".rjust(widths[2] - 1))
        if i < len(rows) - 1:
            lines.append("")
    lines.append("=" * line_length)
    total = trainable + non_trainable
    lines.append(f"Total params: {total:,} ({_fmt_bytes(total * bytes_per_param)})")
    lines.append(f"Trainable params: {trainable:,} ({_fmt_bytes(trainable * bytes_per_param)})")
    lines.append(f"Non-trainable params: {non_trainable:,} ({_fmt_bytes(non_trainable * bytes_per_param)})")
    lines.append("_" * line_length)
    text = "\n".join(lines)
    (print_fn or print)(text)
    return text
