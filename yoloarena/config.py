"""Typed configuration: dataclass defaults < one yaml file < key=value overrides.

Values are coerced by the field's type; unknown keys raise an error that suggests the closest
name. Nested dataclass fields are addressed with dots (``hyp.lr0=0.01``) or nested yaml mappings.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from .errors import YoloArenaError, unknown

T = TypeVar("T")
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


class ConfigError(YoloArenaError):
    """A config value that cannot be used."""


def parse_overrides(args: Sequence[str]) -> dict[str, str]:
    """Turn ['conf=0.3', 'imgsz=320'] into a dict; anything without '=' is an error."""
    out: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"argument '{arg}' is not key=value (for example conf=0.25)")
        out[key] = value.strip()
    return out


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            return True, args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007
    return False, tp


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert value (a CLI string or a yaml value) to the type tp, or raise ConfigError."""
    optional, tp = _is_optional(tp)
    if isinstance(value, str) and optional and value.strip().lower() in ("none", "null", ""):
        return None
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{key} cannot be empty")
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            return _to_bool(value, key)
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(float(value)) if isinstance(value, str) and "." in value else int(value)
        if tp is float:
            return float(value)
        if tp is str:
            return str(value)
        if origin is Literal:
            choices = typing.get_args(tp)
            if str(value) not in [str(c) for c in choices]:
                raise ConfigError(f"{key}={value} is not one of {', '.join(map(str, choices))}")
            return next(c for c in choices if str(c) == str(value))
        if origin in (list, tuple):
            return _to_sequence(value, tp, key)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}={value!r} is not a valid {_type_name(tp)}") from None
    return value


def _to_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{key}={value!r} is not a boolean (use True or False)")


def _to_sequence(value: Any, tp: Any, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(value, str):
        text = value.strip()
        items = yaml.safe_load(text) if text.startswith("[") else text.split(",")
        if not isinstance(items, list):
            items = [items]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    item_tp = args[0] if args else str
    out = [coerce(v.strip() if isinstance(v, str) else v, item_tp, key) for v in items]
    return tuple(out) if origin is tuple else out


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _fields(cls: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls) if f.init}


def _all_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    for name, (_, tp) in _fields(cls).items():
        keys.append(prefix + name)
        if dataclasses.is_dataclass(tp):
            keys += _all_keys(tp, prefix + name + ".")
    return keys


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key}: '{part}' is a value, not a section")
        node[parts[-1]] = value
    return nested


def build_config(cls: type[T], values: Mapping[str, Any], *, prefix: str = "") -> T:
    """Instantiate dataclass cls from a (possibly nested) mapping, coercing every value."""
    fields = _fields(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        dotted = prefix + key
        if key not in fields:
            raise unknown("config key", dotted, _all_keys(cls, prefix))
        _, tp = fields[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{dotted} is a section; set its keys as {dotted}.<name>=value")
            kwargs[key] = build_config(tp, value, prefix=dotted + ".")
        else:
            kwargs[key] = coerce(value, tp, dotted)
    return cls(**kwargs)


def load_config(
    cls: type[T], overrides: Mapping[str, Any] | None = None, yaml_file: str | Path | None = None
) -> T:
    """Defaults of cls, then the yaml file (if any), then overrides (flat, dotted keys)."""
    merged: dict[str, Any] = {}
    if yaml_file:
        path = Path(yaml_file)
        if not path.is_file():
            raise ConfigError(f"config file '{path}' not found")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"config file '{path}' must hold a mapping of key: value")
        merged = data
    _deep_update(merged, _nest(dict(overrides or {})))
    return build_config(cls, merged)


def _deep_update(base: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain dict (nested for sub-configs) of primitives, safe for yaml and checkpoints."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Path):
            value = str(value)
        out[f.name] = value
    return out


def save_yaml(cfg: Any, path: str | Path) -> None:
    from .writes import write_text

    write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
