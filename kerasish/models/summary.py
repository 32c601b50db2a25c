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
           line_length: int = 80, print_fn: Optional[Callable[[str], Any]] = None,
           connected_to: Optional[List[str]] = None) -> str:
    """Renders the table; prints it through `print_fn` (default print) and returns it.

    `connected_to` adds Keras's fourth column for functional models (inbound layers).
    """
    if connected_to is None:
        widths = [int(line_length * 0.45), int(line_length * 0.33)]
        widths.append(line_length - sum(widths))
    else:
        widths = [int(line_length * 0.32), int(line_length * 0.22), int(line_length * 0.12)]
        widths.append(line_length - sum(widths))
    header = " Layer (type)".ljust(widths[0]) + "Output Shape".ljust(widths[1]) + "Param #".rjust(widths[2] - 1)
    if connected_to is not None:
        header += "  Connected to"
    lines = [f'Model: "{name}"', "_" * line_length, header]
    lines.append("=" * line_length)
    for i, (label, shape, params) in enumerate(rows):
        line = (" " + label).ljust(widths[0]) + shape.ljust(widths[1]) + f"{params:,}".rjust(widths[2] - 1)
        if connected_to is not None:
            line += "  " + connected_to[i]
        lines.append(line)
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
