"""Typed configuration: dataclass defaults < one yaml file < key=value overrides.

Every field is declared with `param`: its default, one line of help (`yoloarena MODE help` lists
them) and optional bounds (ge/gt/le/lt) or a check function, enforced when a config is built from
user values. Values are coerced by the field's type; unknown keys raise an error that suggests
the closest name. Nested dataclass fields are addressed with dots (``hyp.lr0=0.01``) or nested
yaml mappings. A dict field declared with ``param(inline=provider)`` takes extra top-level keys
that provider() describes (train's hyperparameters: ``lr0=0.02`` or ``lr0:`` in a cfg file).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from .errors import YoloArenaError, unknown

T = TypeVar("T")
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
_BOUNDS = ("ge", "gt", "le", "lt")


class ConfigError(YoloArenaError):
    """A config value that cannot be used."""


def param(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    check: Callable[[Any], Any] | None = None,
    inline: Callable[[], Mapping[str, Key]] | None = None,
) -> Any:
    """A dataclass field with its one-line help and the bounds a user value must meet.

    check(value) raises a YoloArenaError for a value it refuses (e.g. a device that is missing).
    inline: for a dict field, a function returning the extra top-level keys it collects."""
    meta = {"help": help, "check": check, "inline": inline}
    meta.update({k: v for k, v in zip(_BOUNDS, (ge, gt, le, lt), strict=True) if v is not None})
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class Key:
    """A key an inline field collects: its type, the default shown in help, and its metadata."""

    name: str
    type: Any
    default: str
    meta: Mapping[str, Any]


def read_yaml(path: str | Path, what: str = "config file", error: type = ConfigError) -> dict:
    """A yaml file that must hold a mapping, as plain data; every problem is one line naming it.

    Python tags (!!python/object, ...) are refused: nothing in a yaml file is ever executed."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} '{path}' not found" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise error(f"{what} '{path}' is not a text file (not UTF-8)") from None
    except yaml.constructor.ConstructorError as e:
        tag = str(e.problem or "").rsplit(" ", 1)[-1].strip("'").replace("tag:yaml.org,2002:", "!!")
        raise error(
            f"{what} '{path}'{_mark(e)}: the tag {tag} is not allowed; yoloarena reads plain "
            "yaml only (no !!python tags): write the value itself"
        ) from None
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise error(f"{what} '{path}' is not valid yaml{_mark(e)}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{what} '{path}' must hold a mapping of key: value, not {_kind(data)}")
    return data


def _mark(e: Exception) -> str:
    mark = getattr(e, "problem_mark", None)
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def _kind(data: Any) -> str:
    return {list: "a list", str: "a string"}.get(type(data), f"a {type(data).__name__}")


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


def _inline(cls: type) -> dict[str, dict[str, Key]]:
    """{inline field name: the keys it collects} of cls."""
    return {
        name: dict(f.metadata["inline"]())
        for name, (f, _) in _fields(cls).items()
        if f.metadata.get("inline")
    }


def all_keys(cls: type, prefix: str = "") -> list[str]:
    """Every key a user may set on cls (dotted for nested sections, inline keys at the top)."""
    keys = []
    for name, (f, tp) in _fields(cls).items():
        if f.metadata.get("inline"):
            keys += [prefix + k for k in f.metadata["inline"]()]
            continue
        keys.append(prefix + name)
        if dataclasses.is_dataclass(tp):
            keys += all_keys(tp, prefix + name + ".")
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


def check_value(value: Any, meta: Mapping[str, Any], key: str) -> Any:
    """value, if it meets the bounds and check of its field's metadata; else ConfigError."""
    if value is None:
        return value
    for v in value if isinstance(value, list | tuple) else [value]:
        if isinstance(v, int | float) and not isinstance(v, bool) and not _within(v, meta):
            raise ConfigError(
                f"{key}={show_value(value)} is out of range: it must be {bounds(meta)}"
            )
    if meta.get("check"):
        meta["check"](value)
    return value


def _within(v: float, meta: Mapping[str, Any]) -> bool:
    if v != v:  # nan
        return False
    return not (
        ("ge" in meta and v < meta["ge"])
        or ("gt" in meta and v <= meta["gt"])
        or ("le" in meta and v > meta["le"])
        or ("lt" in meta and v >= meta["lt"])
    )


def bounds(meta: Mapping[str, Any]) -> str:
    """The bounds of a field as text: 'in [0, 1]', '>= 1', '' when unbounded."""
    lo = ("[", meta["ge"]) if "ge" in meta else ("(", meta["gt"]) if "gt" in meta else None
    hi = ("]", meta["le"]) if "le" in meta else (")", meta["lt"]) if "lt" in meta else None
    if lo and hi:
        return f"in {lo[0]}{show_value(lo[1])}, {show_value(hi[1])}{hi[0]}"
    if lo:
        return f"{'>=' if lo[0] == '[' else '>'} {show_value(lo[1])}"
    if hi:
        return f"{'<=' if hi[0] == ']' else '<'} {show_value(hi[1])}"
    return ""


def build_config(cls: type[T], values: Mapping[str, Any], *, prefix: str = "") -> T:
    """Instantiate dataclass cls from a (possibly nested) mapping, coercing and checking values."""
    fields, inline = _fields(cls), _inline(cls)
    owner = {k: name for name, keys in inline.items() for k in keys}
    kwargs: dict[str, Any] = {name: {} for name in inline}
    for key, value in values.items():
        dotted = prefix + key
        if key in inline:  # the inline field spelled out as a mapping
            if not isinstance(value, Mapping):
                raise ConfigError(f"{dotted} is a group; set its keys directly as key=value")
            for k, v in value.items():
                if k not in inline[key]:
                    raise unknown("config key", prefix + k, all_keys(cls, prefix))
                kwargs[key][k] = _inline_value(inline[key][k], v, prefix + k)
        elif key in owner:
            kwargs[owner[key]][key] = _inline_value(inline[owner[key]][key], value, dotted)
        elif key not in fields:
            raise unknown("config key", dotted, all_keys(cls, prefix))
        elif dataclasses.is_dataclass(fields[key][1]):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{dotted} is a section; set its keys as {dotted}.<name>=value")
            kwargs[key] = build_config(fields[key][1], value, prefix=dotted + ".")
        else:
            f, tp = fields[key]
            kwargs[key] = check_value(coerce(value, tp, dotted), f.metadata, dotted)
    return cls(**kwargs)


def _inline_value(key: Key, value: Any, dotted: str) -> Any:
    return check_value(coerce(value, key.type, dotted), key.meta, dotted)


def load_config(
    cls: type[T], overrides: Mapping[str, Any] | None = None, yaml_file: str | Path | None = None
) -> T:
    """Defaults of cls, then the yaml file (if any), then overrides (flat, dotted keys)."""
    merged: dict[str, Any] = read_yaml(yaml_file) if yaml_file else {}
    _deep_update(merged, _nest(dict(overrides or {})))
    return build_config(cls, merged)


def _deep_update(base: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain dict (nested for sub-configs, inline keys at the top) of primitives, safe for yaml
    and checkpoints; build_config reads it back."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.metadata.get("inline"):
            out.update({k: _plain(v) for k, v in value.items()})
            continue
        out[f.name] = to_dict(value) if dataclasses.is_dataclass(value) else _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def save_yaml(cfg: Any, path: str | Path) -> None:
    from .writes import write_text

    write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def show_value(value: Any) -> str:
    """A value as a user would type it."""
    if isinstance(value, list | tuple):
        return ",".join(map(show_value, value)) if value else "[]"
    if isinstance(value, float):
        return f"{value:g}"
    return "''" if value == "" else str(value)


def field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def help_rows(cls: type) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(group title, [(key, default, one line)]) of cls for `yoloarena MODE help`: its own keys
    first, then each inline group. A default shows as typed on the command line."""
    own, groups = [], []
    for name, (f, tp) in _fields(cls).items():
        if f.metadata.get("inline"):
            keys = f.metadata["inline"]()
            rows = [(k, key.default, _line(key.meta)) for k, key in keys.items()]
            groups.append((f.metadata.get("help", name), rows))
        elif dataclasses.is_dataclass(tp):
            for title, rows in help_rows(tp):
                title = name if title == "arguments" else f"{name}: {title}"
                groups.append((title, [(f"{name}.{k}", d, h) for k, d, h in rows]))
        else:
            own.append((name, show_value(field_default(f)), _line(f.metadata)))
    return [("arguments", own), *groups]


def _line(meta: Mapping[str, Any]) -> str:
    text, rng = meta.get("help", ""), bounds(meta)
    return f"{text} ({rng})" if rng and rng not in text else text
