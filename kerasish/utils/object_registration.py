"""The table of classes a saved config may name, and how a name becomes a class.

A saved object is `{'class_name', 'config', 'module', 'registered_name'}`. Loading
turns that back into a class by looking, in order, in:

1. the `custom_objects` dict passed to the loader,
2. the enclosing `custom_object_scope(...)` blocks (per thread),
3. the classes registered with `@register_keras_serializable()` (or `register_serializable`),
4. kerasish's own classes, which `kerasish.layers` and `kerasish.models` add with
   `register_builtin` when they are imported (the first such lookup imports them, through
   the loader `import kerasish` adds with `add_builtin_loader`).

A name found nowhere is an error that says how to make it known; nothing is ever
imported by name from a file. This module is a leaf (standard library only), so
layers, models and saving can all use it without importing each other.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

from kerasish.utils.text import did_you_mean, short_repr

_REGISTERED: Dict[str, Any] = {}  # registered name -> class or function
_REGISTERED_NAMES: Dict[Any, str] = {}  # class or function -> registered name
_BUILTINS: Dict[str, type] = {}  # kerasish's own classes, by class name
_BUILTIN_LOADERS: List[Callable[[], None]] = []  # import the packages that fill _BUILTINS (run once)


class _ScopeState(threading.local):
    def __init__(self) -> None:
        self.objects: Dict[str, Any] = {}


_scope = _ScopeState()


# --------------------------------------------------------------------- kerasish's own classes
def register_builtin(*classes: type) -> None:
    """Adds kerasish's own classes (by class name) to the table loading resolves names in."""
    for cls in classes:
        _BUILTINS[cls.__name__] = cls


def add_builtin_loader(loader: Callable[[], None]) -> None:
    """Adds a function that imports packages which call `register_builtin`; it runs once, before the
    first lookup of kerasish's own classes (`import kerasish` stays cheap: nothing registers until needed)."""
    _BUILTIN_LOADERS.append(loader)


def _load_builtins() -> None:
    while _BUILTIN_LOADERS:
        loader = _BUILTIN_LOADERS.pop(0)  # popped first: a lookup made while it imports does not rerun it
        try:
            loader()
        except BaseException:
            _BUILTIN_LOADERS.insert(0, loader)
            raise


def register_builtin_alias(name: str, cls: type) -> None:
    """Adds another name for one of kerasish's classes (Keras's `GroupQueryAttention` for
    `GroupedQueryAttention`), so configs that use it load."""
    _BUILTINS.setdefault(name, cls)


def builtin_classes() -> Mapping[str, type]:
    """kerasish's own classes by class name (a copy)."""
    _load_builtins()
    return dict(_BUILTINS)


def is_builtin(cls: Any) -> bool:
    """Whether `cls` is one of kerasish's own classes (not a user's subclass of one)."""
    if isinstance(cls, type) and cls.__name__ not in _BUILTINS:
        _load_builtins()
    return isinstance(cls, type) and _BUILTINS.get(cls.__name__) is cls


# --------------------------------------------------------------------- custom objects
def check_custom_objects(custom_objects: Any, arg: str = "custom_objects") -> Dict[str, Any]:
    """`custom_objects` as a dict, or a TypeError that shows the expected form.

    Raises:
        TypeError: when it is not a dict of `{name: class}` with string names.
    """
    if custom_objects is None:
        return {}
    if isinstance(custom_objects, Mapping) and all(isinstance(k, str) for k in custom_objects):
        return dict(custom_objects)
    example = "{'MyLayer': MyLayer}"
    raise TypeError(
        f"{arg} must be a dict from class names to classes, received {short_repr(custom_objects, 120)} of type "
        f"{type(custom_objects).__name__}. Pass {arg}={example}."
    )


class CustomObjectScope:
    """Makes classes known to loading inside a `with` block, without registering them.

    `load_model`, `model_from_json` and `from_config` calls inside the block find the
    classes by name. Nested scopes add to the enclosing ones (the inner one wins a
    name both define); the scope is per thread.

    Args:
        custom_objects: `{name: class}`, the name being the saved class name. Defaults to `None`.

    Raises:
        TypeError: when `custom_objects` is not such a dict.

    Example:
        >>> from kerasish.layers import Layer
        >>> class Scale(Layer):
        ...     pass
        >>> with custom_object_scope({"Scale": Scale}):
        ...     get_registered_object("Scale") is Scale
        True
        >>> get_registered_object("Scale") is None
        True
    """

    def __init__(self, custom_objects: Optional[Mapping[str, Any]] = None) -> None:
        self.custom_objects = check_custom_objects(custom_objects, "custom_object_scope(custom_objects)")
        self._outer: Optional[Dict[str, Any]] = None

    def __enter__(self) -> "CustomObjectScope":
        self._outer = _scope.objects
        _scope.objects = {**self._outer, **self.custom_objects}
        return self

    def __exit__(self, *exc_info: Any) -> None:
        _scope.objects = self._outer if self._outer is not None else {}


custom_object_scope = CustomObjectScope


def get_custom_objects() -> Dict[str, Any]:
    """The live table of registered classes and functions (`{registered_name: object}`).

    Classes made known with `custom_object_scope` are not in it.
    """
    return _REGISTERED


# --------------------------------------------------------------------- registration
def _add(obj: Any, key: str, api: str, error: type) -> Any:
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        raise error(
            f"{api} registers a class or a function, received {short_repr(obj)} of type {type(obj).__name__}. "
            "Put the decorator directly above `class MyLayer(...)` or `def my_fn(...)`."
        )
    if inspect.isclass(obj):
        missing = [m for m in ("get_config", "from_config") if not callable(getattr(obj, m, None))]
        if missing:
            raise error(
                f"Class {obj.__name__} cannot be registered: it has no {' or '.join(missing)}. Add "
                "get_config(self) returning its constructor arguments as a JSON-ready dict and a classmethod "
                "from_config(cls, config) returning cls(**config) (kerasish layers and models inherit from_config)."
            )
    current = _REGISTERED.get(key)
    # Re-running a definition (a notebook cell) replaces the class; a different class may not take the name.
    if current is not None and current is not obj and current.__qualname__ != obj.__qualname__:
        raise ValueError(
            f"The name {key!r} is already registered to {current.__module__}.{current.__qualname__}; "
            f"received {obj.__module__}.{obj.__qualname__}. Register it under another name: "
            f"{api.split('(')[0]}(name='...')."
        )
    if current is not None:
        _REGISTERED_NAMES.pop(current, None)
    _REGISTERED[key] = obj
    _REGISTERED_NAMES[obj] = key
    return obj


def register_keras_serializable(package: str = "Custom", name: Optional[str] = None) -> Callable[[Any], Any]:
    """Registers a class (or function) so that saved models naming it load without `custom_objects`.

    The registered name is `'package>name'`; a saved object records it, and loading finds
    the class by it. A class needs `get_config()` returning its constructor arguments
    (kerasish layers and models inherit `from_config`, which calls `cls(**config)`).

    Args:
        package: the first part of the registered name. Defaults to `'Custom'`.
        name: the second part. Defaults to `None` (the class or function name).

    Returns:
        A decorator that registers its argument and returns it unchanged.

    Raises:
        TypeError: when used without parentheses, or `package`/`name` is not a string.
        ValueError: when the decorated class lacks get_config/from_config, or the name
            is already registered to a different class.

    Example:
        >>> from kerasish.layers import Layer
        >>> @register_keras_serializable(package="demo")
        ... class Double(Layer):
        ...     def call(self, inputs):
        ...         return 2 * inputs
        >>> get_registered_name(Double)
        'demo>Double'
        >>> get_registered_object("demo>Double") is Double
        True
    """
    if not isinstance(package, str) or not (name is None or isinstance(name, str)):
        bad = package if not isinstance(package, str) else name
        hint = (" It was used without parentheses: write @register_keras_serializable() (or "
                "@register_keras_serializable(package='my_package')).") if callable(bad) else ""
        raise TypeError(
            f"register_keras_serializable expects strings for package and name, received "
            f"{'package' if bad is package else 'name'}={short_repr(bad)}.{hint}"
        )

    def decorator(obj: Any) -> Any:
        key = f"{package}>{name if name is not None else getattr(obj, '__name__', '?')}"
        return _add(obj, key, "register_keras_serializable(package=..., name=...)", ValueError)

    return decorator


def register_serializable(cls: Optional[type] = None, *, name: Optional[str] = None) -> Any:
    """Registers a class under a plain name (kerasish's older form of `register_keras_serializable`).

    Works as `@register_serializable`, `@register_serializable(name='MyNet')` or as a
    plain call. Plain `torch.nn.Module` classes qualify when they define `get_config()`
    and a classmethod `from_config(config)`.

    Args:
        cls: the class to register. Defaults to `None` (decorator with arguments).
        name: the name written to files. Defaults to `None` (the class name).

    Returns:
        The class, unchanged (so it works as a decorator).

    Raises:
        TypeError: if `cls` is not a class or lacks get_config/from_config.
        ValueError: if `name` is already registered to a different class.

    Example:
        >>> import torch
        >>> @register_serializable
        ... class TinyNet(torch.nn.Module):
        ...     def __init__(self, units=4):
        ...         super().__init__()
        ...         self.units = units
        ...         self.fc = torch.nn.Linear(3, units)
        ...     def forward(self, x):
        ...         return self.fc(x)
        ...     def get_config(self):
        ...         return {"units": self.units}
        ...     @classmethod
        ...     def from_config(cls, config):
        ...         return cls(**config)
    """

    def register(klass: type) -> type:
        if not isinstance(klass, type):
            raise TypeError(
                f"register_serializable expects a class, received {klass!r} of type {type(klass).__name__}. "
                "Decorate the class itself: @register_serializable above `class MyNet(...)`."
            )
        return _add(klass, name or klass.__name__, "register_serializable(name=...)", TypeError)

    if cls is None:
        return register
    return register(cls)


def get_registered_name(obj: Any) -> str:
    """The name `obj` (a class or function) is registered under, else its own `__name__`.

    Example:
        >>> get_registered_name(dict)
        'dict'
    """
    name = _REGISTERED_NAMES.get(obj)
    return name if name is not None else obj.__name__


def _sources(custom_objects: Optional[Mapping[str, Any]],
             module_objects: Optional[Mapping[str, Any]] = None) -> Iterator[Mapping[str, Any]]:
    # The lookup order, first match wins.
    yield custom_objects or {}
    yield _scope.objects
    yield _REGISTERED
    yield module_objects or {}


def get_registered_object(name: str, custom_objects: Optional[Mapping[str, Any]] = None,
                          module_objects: Optional[Mapping[str, Any]] = None) -> Any:
    """The class or function known under `name`, or None.

    Looks in `custom_objects`, then the enclosing `custom_object_scope`s, then the
    registered objects, then `module_objects`.

    Args:
        name: a registered name (`'package>Name'`) or a key of the dicts.
        custom_objects: `{name: object}` from the user. Defaults to `None`.
        module_objects: `{name: object}` from a library. Defaults to `None`.

    Returns:
        The object, or None when no table has the name.
    """
    for table in _sources(custom_objects, module_objects):
        if name in table:
            return table[name]
    return None


def registered_names() -> list:
    """Every name loading resolves without help: kerasish's own classes and the registered ones."""
    _load_builtins()
    return sorted(set(_BUILTINS) | set(_REGISTERED))


def resolve_class(class_name: str, registered_name: Optional[str] = None, module: Optional[str] = None,
                  custom_objects: Optional[Mapping[str, Any]] = None) -> Any:
    """The class a saved object names (see the module docstring for the lookup order).

    A user's class is found by its registered name or its class name (the usual key of
    `custom_objects`); kerasish's own classes only when the object was saved from a
    kerasish module, so a user's class called `Dense` never loads as kerasish's.

    Raises:
        ValueError: for a name found nowhere: the message lists the known names and how
            to make the class known.
    """
    names = [n for n in dict.fromkeys((registered_name, class_name)) if isinstance(n, str)]
    for table in _sources(custom_objects):
        for name in names:
            if name in table:
                return table[name]
    if module is not None:
        # Saved before it was registered: the registered class with this name and module.
        matches = [obj for obj in _REGISTERED.values()
                   if getattr(obj, "__name__", None) == class_name and getattr(obj, "__module__", None) == module]
        if len(matches) == 1:
            return matches[0]
    if module is None or module in ("kerasish", "keras") or module.startswith(("kerasish.", "keras.")):
        # kerasish's own classes, and Keras's of the same name (a config Keras wrote).
        _load_builtins()
        if class_name in _BUILTINS:
            return _BUILTINS[class_name]
    valid = registered_names()
    origin = []
    if module is not None:
        origin.append(f"defined in module {module!r}")
    if registered_name and registered_name != class_name:
        origin.append(f"registered as {registered_name!r}")
    where = f" ({', '.join(origin)})" if origin else ""
    short = str(class_name).split(">")[-1]
    example = f"{{'{class_name}': {short}}}"
    raise ValueError(
        f"The saved config describes an object of class {class_name!r}{where}, which is not registered. "
        f"Registered classes: {', '.join(valid)}.{did_you_mean(str(class_name), valid)} Pass the class to the "
        f"loader, e.g. load_model(path, custom_objects={example}), or load inside "
        f"`with kerasish.saving.custom_object_scope({example}):`, or decorate the class with "
        "@kerasish.saving.register_keras_serializable() and import the module that defines it before loading."
    )
