"""Frozen-dataclass configs: command-line overrides, validation and JSON round-trip.

An experiment config is a tree of frozen dataclasses. ``override(cfg, ["optimizer.lr=1e-3"])``
returns a new tree with the dotted field replaced; the string is parsed according to the field's
declared type, and unknown keys fail with the list of valid ones.
"""

from __future__ import annotations

import ast
import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["override", "to_dict", "from_dict"]


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_seed(key: str) -> bool:
    leaf = key.rsplit(".", 1)[-1]
    return leaf == "seed" or leaf.endswith("_seed")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Checks a Python literal ``value`` (from ``ast.literal_eval``) against ``annotation``:
    ``int`` takes ints and integral floats (``1e3``) but not bools or ``1.5``; ``float`` takes
    ints and floats; ``tuple[T, ...]`` / ``tuple[A, B]`` check every element (``key[i]``)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key}={value!r} is not an int")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{key}={value!r} is not an int (it has a fractional part)")
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key}={value!r} is not a float")
        return float(value)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key}={value!r} is not a boolean (true/false)")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ValueError(f"{key}={value!r} is not a string")
        return value
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            value = (value,)
        if len(args) == 2 and args[1] is Ellipsis:
            element_types = (args[0],) * len(value)
        else:
            element_types = args
            if len(value) != len(args):
                raise ValueError(f"{key}={tuple(value)!r} needs {len(args)} elements")
        return tuple(
            _coerce(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, element_types))
        )
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(f"{key}={value!r} does not match {annotation}: {'; '.join(errors)}")
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{key}={value!r} is not one of {list(args)}")
        return value
    raise ValueError(f"cannot override {key}: unsupported field type {annotation}")


def _parse_value(text: str, annotation: Any, key: str) -> Any:
    """Parses ``text`` as a value of ``annotation`` (bool/int/float/str/tuple/Optional/Literal)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _parse_value(text, arg, key)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(f"cannot parse {key}={text!r} as {annotation}: {'; '.join(errors)}")
    if origin is typing.Literal:
        for option in args:
            if str(option) == text:
                return option
        raise ValueError(f"{key}={text!r} is not one of {list(args)}")
    if annotation is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError(f"{key}={text!r} is not a boolean (true/false)")
    if annotation is str:
        return text
    if annotation in (int, float) or origin is tuple:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError) as err:
            kind = {int: "an int", float: "a float"}.get(annotation, "a Python tuple literal")
            raise ValueError(f"{key}={text!r} is not {kind}") from err
        value = _coerce(value, annotation, key)
        if _is_seed(key) and value < 0:
            raise ValueError(f"{key}={value} must be >= 0 (a seed)")
        return value
    raise ValueError(f"cannot override {key}: unsupported field type {annotation}")


def _keys(tree: dict[str, Any], prefix: str) -> list[str]:
    """Dotted keys of the leaves of an override tree."""
    return [
        k
        for name, value in sorted(tree.items())
        for k in (_keys(value, f"{prefix}{name}.") if isinstance(value, dict) else [prefix + name])
    ]


def _apply(cfg: Any, tree: dict[str, Any], prefix: str) -> Any:
    """Replaces every field named in ``tree`` (nested dict of override strings) in one step per
    section, so that cross-field checks in ``__post_init__`` see all the new values at once."""
    if not dataclasses.is_dataclass(cfg):
        raise ValueError(f"{prefix.rstrip('.')} is not a config section")
    names = [f.name for f in dataclasses.fields(cfg)]
    hints = _field_types(type(cfg))
    changes = {}
    for name, value in tree.items():
        if name not in names:
            raise ValueError(
                f"unknown config key {prefix + name!r}: {type(cfg).__name__} has {names}"
            )
        if isinstance(value, dict):
            changes[name] = _apply(getattr(cfg, name), value, f"{prefix}{name}.")
        else:
            changes[name] = _parse_value(value, hints[name], prefix + name)
    try:
        return dataclasses.replace(cfg, **changes)
    except ValueError as err:  # a __post_init__ check: say which overrides triggered it
        raise ValueError(f"{', '.join(_keys(tree, prefix))}: {err}") from err


def override(cfg: Any, assignments: Iterable[str]) -> Any:
    """Applies ``key.sub=value`` assignments to a frozen dataclass tree (later ones win).

    Raises:
      ValueError: for a malformed assignment, an unknown key or a value of the wrong type.
    """
    tree: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {assignment!r} must look like key.sub=value")
        *sections, leaf = key.strip().split(".")
        node = tree
        for i, section in enumerate(sections):
            node = node.setdefault(section, {})
            if not isinstance(node, dict):
                raise ValueError(f"{'.'.join(sections[: i + 1])} is not a config section")
        node[leaf] = text.strip()
    return _apply(cfg, tree, "")


def to_dict(cfg: Any) -> dict[str, Any]:
    """Dataclass tree -> JSON-ready dict (tuples become lists)."""
    return dataclasses.asdict(cfg)


def _allows_tuple(annotation: Any) -> bool:
    """``tuple[...]``, or a union (``tuple[...] | None``) with a tuple arm."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_allows_tuple(arg) for arg in typing.get_args(annotation))
    return typing.get_origin(annotation) is tuple


def _as_tuples(value: Any) -> Any:
    """JSON lists back to (nested) tuples: ``[["batch", ["data", "fsdp"]]]`` -> tuples."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list) else value


def from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Inverse of :func:`to_dict` for a dataclass type ``cls``; unknown keys raise."""
    hints = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(
            f"unknown keys {sorted(unknown)} for {cls.__name__}; expected {sorted(names)}"
        )
    kwargs = {}
    for name, value in data.items():
        annotation = hints[name]
        if dataclasses.is_dataclass(annotation) and isinstance(value, Mapping):
            value = from_dict(annotation, value)
        elif _allows_tuple(annotation) and isinstance(value, list):
            value = _as_tuples(value)
        kwargs[name] = value
    return cls(**kwargs)
