"""`model.summary()` in Keras 3's layout: a box-drawn table and the parameter totals with sizes.

Each model kind lists its rows (`summary_rows()`: `(layer, "name (Class)", "output shape")`)
and, for functional models, the layers each one reads (`connections()`); this module does
the counting and the drawing. Counts follow Keras 3: a layer's "Param #" counts all its
weights, "Non-trainable params" the frozen ones and the state (BatchNormalization's moving
statistics), "Optimizer params" the optimizer's slots plus its step counter and learning
rate, and "Total params" all three. Sizes use each tensor's own element size.
"""

from __future__ import annotations

import shutil
import textwrap
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

import torch

from kerasish.utils.interactive_logging import print_msg

Row = Tuple[Any, str, str]  # (layer, "name (Class)", formatted output shape)

_SEQUENTIAL_POSITIONS = (0.45, 0.80, 1.0)
_FUNCTIONAL_POSITIONS = (0.3, 0.56, 0.74, 1.0)


def format_shape(shape: Optional[Sequence[Any]]) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def readable_size(n_bytes: float) -> str:
    """`4.00 KB`, `1.55 MB`, `0.00 B` as Keras prints them."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes / 1024 < 1:
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.2f} PB"


def _tensors(module: Any, trainable: Optional[bool]) -> List[torch.Tensor]:
    seen, out = set(), []
    for p in module.parameters():
        if id(p) not in seen and (trainable is None or p.requires_grad == trainable):
            seen.add(id(p))
            out.append(p)
    if trainable is not True:
        for b in module.buffers():
            if id(b) not in seen and b.is_floating_point():  # moving statistics (not step counters)
                seen.add(id(b))
                out.append(b)
    return out


def _count(tensors: Iterable[torch.Tensor]) -> Tuple[int, int]:
    tensors = list(tensors)
    return sum(t.numel() for t in tensors), sum(t.numel() * t.element_size() for t in tensors)


def _optimizer_count(model: Any) -> Optional[Tuple[int, int]]:
    opt = getattr(model, "optimizer", None)
    torch_opt = getattr(opt, "torch_optimizer", None)
    if torch_opt is None:
        return None
    if not torch_opt.state and not int(getattr(opt, "iterations", 0)):
        # compile() builds kerasish's torch optimizer at once, Keras builds its optimizer's variables when
        # fit() starts: between compile() and the first step, Keras's summary has no optimizer line.
        return None
    n, size = 1, 4  # the step counter (int32 in Keras 3 on torch: its dtype="int")
    if getattr(opt, "learning_rate_schedule", None) is None:
        n, size = n + 1, size + 4  # the learning rate variable
    for sub in getattr(opt, "optimizers", ()):  # a MultiOptimizer: each sub-optimizer's counter and rate too
        n, size = n + 1, size + 4
        if sub.learning_rate_schedule is None:
            n, size = n + 1, size + 4
    for param, state in torch_opt.state.items():
        for value in state.values():
            if isinstance(value, torch.Tensor) and value.shape == param.shape and value.dim() > 0:
                n += value.numel()
                size += value.numel() * value.element_size()
    # Keras's optimizer also holds the weights' moving averages (use_ema) and the gradient accumulators
    # (gradient_accumulation_steps) as variables; kerasish keeps them beside torch's state.
    for holder in [opt, *getattr(opt, "optimizers", ())]:
        extra = list(getattr(holder, "_ema", ())) + list(getattr(holder, "_accumulators", {}).values())
        for value in extra:
            n += value.numel()
            size += value.numel() * value.element_size()
    return n, size


def _params_cell(layer: Any) -> str:
    if not isinstance(layer, torch.nn.Module):
        return "0"
    if hasattr(layer, "built") and not layer.built:
        return "0 (unbuilt)"
    return f"{sum(t.numel() for t in _tensors(layer, None)):,}"


def _wrap(text: str, width: int) -> List[str]:
    """Word-wrapped lines of a cell; a word longer than the cell ends in '…', as Keras's
    rich table draws it (`global_average_pooling2d[…`), rather than spilling onto a new line."""
    lines: List[str] = []
    for part in text.split("\n"):
        wrapped = textwrap.wrap(part, width, break_long_words=False, break_on_hyphens=False) or [""]
        lines.extend(line if len(line) <= width else line[:width - 1] + "…" for line in wrapped)
    return lines


def column_widths(positions: Sequence[float], line_length: int) -> List[int]:
    """The text width of each column, as Keras's rich table sizes them: each column gets
    `position * line_length` minus the columns before it, plus one space of padding either side;
    when the padded columns and the borders overflow `line_length`, the excess is taken evenly
    from the columns (rich's `ratio_reduce`, rounding half to even)."""
    absolute = positions[-1] > 1  # kerasish also takes the columns' right edges in characters
    raw, current = [], 0
    for p in positions:
        raw.append((int(p) if absolute else int(p * line_length)) - current)
        current += raw[-1]
    padded = [w + 2 for w in raw]
    excess = sum(padded) - (line_length - (len(raw) + 1))  # the borders take one character per column, plus one
    remaining, shares = excess, len(padded)
    for i, width in enumerate(padded):
        if remaining <= 0:
            break
        cut = min(width, round(remaining / shares))
        padded[i] -= cut
        remaining -= cut
        shares -= 1
    widths = [w - 2 for w in padded]
    # Keras refuses a column under 4 characters before padding; one left with under 2 characters
    # of text after the borders could not show a character and the '…' of a cut word.
    if min(raw) < 4 or min(widths) < 2:
        raise ValueError(f"summary(line_length={line_length}) is too short for {len(raw)} columns with "
                         f"positions={list(positions)}; use a line_length of at least {8 * len(raw) + 10}, "
                         "or wider positions.")
    return widths


def sequential_like(model: Any) -> bool:
    """Whether Keras draws this functional model as it draws a Sequential (no 'Connected to'
    column): one input, and its layer calls form a single chain (each call reads one tensor, no
    layer is called twice, no tensor feeds two calls)."""
    nodes, inputs = getattr(model, "_nodes", None), getattr(model, "inputs", None)
    if nodes is None or inputs is None or len(inputs) != 1:
        return False
    layers_seen, sources_seen = set(), set()
    for node in nodes:
        flat = node.flat_inputs
        if len(flat) != 1 or id(node.layer) in layers_seen:
            return False
        source = flat[0].node if flat[0].node is not None else flat[0]
        if id(source) in sources_seen:
            return False
        layers_seen.add(id(node.layer))
        sources_seen.add(id(source))
    return True


def _table(header: List[str], rows: List[List[str]], widths: List[int], align: List[str]) -> List[str]:
    def border(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def cells(values: List[str], bar: str) -> List[str]:
        wrapped = [_wrap(v, w) for v, w in zip(values, widths)]
        height = max(len(w) for w in wrapped)
        out = []
        for i in range(height):
            parts = []
            for lines, w, a in zip(wrapped, widths, align):
                text = lines[i] if i < len(lines) else ""
                parts.append(text.rjust(w) if a == "right" else text.center(w) if a == "center" else text.ljust(w))
            out.append(bar + bar.join(f" {p} " for p in parts) + bar)
        return out

    header = [h if len(h) <= w else h[:w - 1] + "…" for h, w in zip(header, widths)]  # as Keras: no wrapping
    lines = [border("┏", "━", "┳", "┓"), *cells(header, "┃"), border("┡", "━", "╇", "┩")]
    for i, row in enumerate(rows):
        if i:
            lines.append(border("├", "─", "┼", "┤"))
        lines.extend(cells(row, "│"))
    lines.append(border("└", "─", "┴", "┘"))
    return lines


def _nested_rows(layer: Any, level: int) -> List[Tuple[Any, str, str]]:
    rows_fn = getattr(layer, "summary_rows", None)
    if rows_fn is None or not getattr(layer, "layers", None):
        return []
    out = []
    for sub, label, shape in rows_fn():
        out.append((sub, "   " * (level - 1) + "└ " + label, shape))
        out.extend(_nested_rows(sub, level + 1))
    return out


def print_summary(model: Any, rows: List[Row], connections: Optional[List[str]] = None,
                  line_length: Optional[int] = None, positions: Optional[Sequence[float]] = None,
                  print_fn: Optional[Callable[[str], Any]] = None, expand_nested: bool = False,
                  show_trainable: bool = False, layer_range: Optional[Sequence[str]] = None) -> str:
    """Draws the summary of `model` from its rows; prints it through `print_fn` and returns the text.

    Raises:
        ValueError: for a `layer_range` naming no layer, or a line too short for the columns.
    """
    functional = connections is not None and not sequential_like(model)
    default = 108 if functional else 88
    positions = list(positions or (_FUNCTIONAL_POSITIONS if functional else _SEQUENTIAL_POSITIONS))
    if show_trainable:
        default += 12
        positions = [p * 0.90 for p in positions] + [1.0]
    line_length = line_length or min(default, shutil.get_terminal_size((default + 4, 24)).columns - 4)
    widths = column_widths(positions, line_length)
    header = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else []) + (
        ["Trainable"] if show_trainable else [])
    align = ["left", "left", "right"] + (["left"] if functional else []) + (["center"] if show_trainable else [])

    selected = list(enumerate(rows))
    if layer_range is not None:
        if len(layer_range) != 2:
            raise ValueError(f"layer_range must be [first_name, last_name], received {layer_range!r}.")
        names = [getattr(layer, "name", "") for layer, _, _ in rows]
        ends = []
        for pattern in layer_range:
            hits = [i for i, n in enumerate(names) if pattern in n]
            if not hits:
                raise ValueError(f"layer_range: no layer name contains {pattern!r}; the layers are {names}.")
            ends.append(hits[0])
        selected = selected[ends[0]:ends[1] + 1]
    body = []
    for index, (layer, label, shape) in selected:
        entries = [(layer, label, shape, connections[index] if functional else None)]
        if expand_nested:
            entries += [(sub, lab, shp, "" if functional else None) for sub, lab, shp in _nested_rows(layer, 1)]
        for sub, lab, shp, conn in entries:
            row = [lab, shp, _params_cell(sub)] + ([conn] if functional else [])
            if show_trainable:
                has_weights = isinstance(sub, torch.nn.Module) and any(True for _ in sub.parameters())
                row.append(("Y" if getattr(sub, "trainable", True) else "N") if has_weights else "-")
            body.append(row)

    trainable = _count(_tensors(model, True))
    frozen = _count(_tensors(model, False))
    optimizer = _optimizer_count(model)
    total = (trainable[0] + frozen[0] + (optimizer[0] if optimizer else 0),
             trainable[1] + frozen[1] + (optimizer[1] if optimizer else 0))
    lines = [f'Model: "{model.name}"', *_table(header, body, widths, align),
             f" Total params: {total[0]:,} ({readable_size(total[1])})",
             f" Trainable params: {trainable[0]:,} ({readable_size(trainable[1])})",
             f" Non-trainable params: {frozen[0]:,} ({readable_size(frozen[1])})"]
    if optimizer is not None:
        lines.append(f" Optimizer params: {optimizer[0]:,} ({readable_size(optimizer[1])})")
    text = "\n".join(lines)
    (print_fn or print_msg)(text)  # stdout, or the "kerasish" logger when logging is not interactive
    return text
