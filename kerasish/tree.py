"""`kerasish.tree`: Keras 3's nested-structure utilities (`keras.tree`).

Structures are lists, tuples (named tuples included), dicts and OrderedDicts; anything
else is a leaf, None included (as Keras's tree, unlike torch's pytree, where None has no
leaves). Dicts flatten in sorted key order, OrderedDicts in insertion order, as Keras.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Iterator, List, Tuple

__all__ = [
    "is_nested", "flatten", "flatten_with_path", "pack_sequence_as", "map_structure", "map_structure_up_to",
    "assert_same_structure", "assert_same_paths", "lists_to_tuples", "traverse", "map_shape_structure",
    "MAP_TO_NONE",
]


class MAP_TO_NONE:
    """The value a `traverse` function returns to replace a node with None (returning None
    itself means "keep the node", top-down: "keep going into it"). `map_structure` gives it
    no meaning: a function returning it puts the class itself in the result, as in Keras."""


def is_nested(structure: Any) -> bool:
    """True for a list, tuple or dict (a structure with children)."""
    return isinstance(structure, (list, tuple, dict))


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _keys(d: dict) -> List[Any]:
    if isinstance(d, collections.OrderedDict):
        return list(d)
    try:
        return sorted(d)
    except TypeError as e:
        raise TypeError(f"The keys of a dict in a structure must be sortable (Keras sorts them): {e}.") from None


def _children(structure: Any) -> List[Tuple[Any, Any]]:
    if isinstance(structure, dict):
        return [(k, structure[k]) for k in _keys(structure)]
    return list(enumerate(structure))


def _rebuild(like: Any, values: List[Any]) -> Any:
    if isinstance(like, dict):
        items = dict(zip(_keys(like), values))
        if isinstance(like, collections.OrderedDict):
            return type(like)((k, items[k]) for k in like)
        return type(like)((k, items[k]) for k in like) if type(like) is not dict else {k: items[k] for k in like}
    if _is_namedtuple(like):
        return type(like)(*values)
    return type(like)(values)


def _walk(structure: Any, path: Tuple[Any, ...]) -> Iterator[Tuple[Tuple[Any, ...], Any]]:
    if is_nested(structure):
        for key, child in _children(structure):
            yield from _walk(child, path + (key,))
    else:
        yield path, structure


def flatten(structure: Any) -> List[Any]:
    """The leaves of `structure` in Keras's order (`flatten(1)` is `[1]`)."""
    return [leaf for _, leaf in _walk(structure, ())]


def flatten_with_path(structure: Any) -> List[Tuple[Tuple[Any, ...], Any]]:
    """`(path, leaf)` pairs; a path is the tuple of keys/indices from the root."""
    return list(_walk(structure, ()))


def pack_sequence_as(structure: Any, flat_sequence: Any) -> Any:
    """`structure`'s shape filled with the leaves of `flat_sequence` in order.

    Raises:
        ValueError: when the number of leaves differs from the structure's.
    """
    flat = list(flat_sequence)
    expected = len(flatten(structure))
    if len(flat) != expected:
        raise ValueError(
            f"pack_sequence_as: the structure has {expected} leaves but flat_sequence has {len(flat)} items. "
            "Pass exactly one value per leaf of the structure."
        )
    it = iter(flat)

    def fill(s: Any) -> Any:
        if is_nested(s):
            return _rebuild(s, [fill(child) for _, child in _children(s)])
        return next(it)

    return fill(structure)


def assert_same_structure(a: Any, b: Any, check_types: bool = True) -> None:
    """Raises ValueError naming the first place where `a` and `b` are shaped differently."""

    def check(x: Any, y: Any, path: Tuple[Any, ...]) -> None:
        if is_nested(x) != is_nested(y):
            raise ValueError(f"The structures differ at {list(path)}: {type(x).__name__} vs {type(y).__name__}.")
        if not is_nested(x):
            return
        if check_types and type(x) is not type(y) and not (isinstance(x, list) and isinstance(y, list)):
            raise ValueError(f"The structures differ at {list(path)}: {type(x).__name__} vs {type(y).__name__}.")
        kx, ky = [k for k, _ in _children(x)], [k for k, _ in _children(y)]
        if kx != ky:
            raise ValueError(f"The structures differ at {list(path)}: keys/lengths {kx} vs {ky}.")
        for (k, cx), (_, cy) in zip(_children(x), _children(y)):
            check(cx, cy, path + (k,))

    check(a, b, ())


def assert_same_paths(a: Any, b: Any) -> None:
    """Raises ValueError when the two structures' leaf paths differ (types may differ)."""
    pa, pb = {p for p, _ in _walk(a, ())}, {p for p, _ in _walk(b, ())}
    if pa != pb:
        raise ValueError(f"The structures have different paths: only in the first {sorted(map(str, pa - pb))}, "
                         f"only in the second {sorted(map(str, pb - pa))}.")


def map_structure(func: Callable[..., Any], *structures: Any) -> Any:
    """`func` applied leafwise to one or more structures of the same shape."""
    if not structures:
        raise ValueError("map_structure needs at least one structure.")
    for other in structures[1:]:
        assert_same_structure(structures[0], other, check_types=False)

    def apply(*xs: Any) -> Any:
        if is_nested(xs[0]):
            kids = [[c for _, c in _children(x)] for x in xs]
            return _rebuild(xs[0], [apply(*cs) for cs in zip(*kids)])
        return func(*xs)

    return apply(*structures)


def map_structure_up_to(shallow_structure: Any, func: Callable[..., Any], *structures: Any) -> Any:
    """`map_structure` that stops at the leaves of `shallow_structure` (deeper parts go to `func` whole)."""

    def apply(shallow: Any, *xs: Any) -> Any:
        if is_nested(shallow):
            keys = [k for k, _ in _children(shallow)]
            for x in xs:
                if not is_nested(x) or [k for k, _ in _children(x)] != keys:
                    raise ValueError(f"map_structure_up_to: a structure does not match the shallow structure {keys}.")
            kids = [[c for _, c in _children(x)] for x in xs]
            return _rebuild(shallow, [apply(s, *cs) for s, *cs in zip([c for _, c in _children(shallow)], *kids)])
        return func(*xs)

    return apply(shallow_structure, *structures)


def lists_to_tuples(structure: Any) -> Any:
    """The structure with every list turned into a tuple."""
    if isinstance(structure, list):
        return tuple(lists_to_tuples(x) for x in structure)
    if is_nested(structure):
        return _rebuild(structure, [lists_to_tuples(c) for _, c in _children(structure)])
    return structure


def _is_map_to_none(value: Any) -> bool:
    # By name, as Keras's: its own keras.tree.MAP_TO_NONE (or dm-tree's) works here too.
    return isinstance(value, type) and value.__name__ == "MAP_TO_NONE"


def traverse(func: Callable[[Any], Any], structure: Any, top_down: bool = True) -> Any:
    """Visits every node (structures and leaves). Top-down: a non-None result of `func`
    replaces the node and stops the descent; bottom-up: `func` sees rebuilt children.
    A result of `MAP_TO_NONE` replaces the node with None."""
    if top_down:
        out = func(structure)
        if out is not None:
            return None if _is_map_to_none(out) else out
        if is_nested(structure):
            return _rebuild(structure, [traverse(func, c, True) for _, c in _children(structure)])
        return structure
    if is_nested(structure):
        structure = _rebuild(structure, [traverse(func, c, False) for _, c in _children(structure)])
    out = func(structure)
    return structure if out is None else None if _is_map_to_none(out) else out


def map_shape_structure(func: Callable[[Any], Any], structure: Any) -> Any:
    """`map_structure` where a tuple/list of ints (or None) counts as one leaf: a shape."""
    def is_shape(x: Any) -> bool:
        return isinstance(x, (list, tuple)) and all(isinstance(d, int) or d is None for d in x)

    if is_shape(structure) or not is_nested(structure):
        return func(structure)
    return _rebuild(structure, [map_shape_structure(func, c) for _, c in _children(structure)])


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
