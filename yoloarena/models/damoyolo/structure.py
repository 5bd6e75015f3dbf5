"""TinyNAS backbone structures as data: a stem and five searched stages, serialised to yaml/json.

A structure is what MAE-NAS searches and what `yoloarena train model=structure.yaml` builds:

    type: k1kx            # k1kx (T, S), kxkx (M, L: inside CSP wrappers) or mobile (Nano)
    stem: 24              # stem conv output width
    stages:               # strides 2, 2, 2, 1, 2; `in` is the previous stage's `out`
    - {in: 24, out: 64, stride: 2, depth: 2, btn: 24}
    ...

`depth` is the number of residual units of a stage (TinyNAS `L`), `btn` their bottleneck width
(ignored by the mobile units, which expand by a fixed ratio of `out`). The released T/S/M/L/Nano
backbones are the `STRUCTURES` below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...errors import YoloArenaError

BLOCK_TYPES = ("k1kx", "kxkx", "mobile")
STAGE_STRIDES = (2, 2, 2, 1, 2)
STAGE_KEYS = ("in", "out", "stride", "depth", "btn")
FILE_KEYS = ("type", "stem", "stages", "neck")  # neck: the released model lending neck and head


class StructureError(YoloArenaError):
    """A structure that cannot be built; the message names the field."""


@dataclass(frozen=True)
class Stage:
    """One searched stage: c_in -> c_out, stride, `depth` units, bottleneck width btn."""

    c_in: int
    c_out: int
    stride: int
    depth: int
    btn: int

    def to_dict(self) -> dict[str, int]:
        values = (self.c_in, self.c_out, self.stride, self.depth, self.btn)
        return dict(zip(STAGE_KEYS, values, strict=True))


@dataclass(frozen=True)
class Structure:
    """A TinyNAS backbone: block type, stem width and five stages (strides 2, 2, 2, 1, 2)."""

    type: str
    stem: int
    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise StructureError(problem)

    @property
    def out_channels(self) -> tuple[int, int, int]:
        """Widths of the stride 8, 16 and 32 outputs (the neck's inputs)."""
        s = self.stages
        return (s[1].c_out, s[3].c_out, s[4].c_out)

    @property
    def convs_per_unit(self) -> int:
        return 3 if self.type == "mobile" else 2

    @property
    def layers(self) -> int:
        """Conv layers of the searched part: the stem plus every unit's convs (TinyNAS count)."""
        return 1 + self.convs_per_unit * sum(s.depth for s in self.stages)

    @property
    def stem_in(self) -> int:
        """Input width of the stem conv: 12 after Focus (k1kx, kxkx), 3 for the plain Nano stem."""
        return 3 if self.type == "mobile" else 12

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "stem": self.stem, "stages": [s.to_dict() for s in self.stages]}

    def to_yaml(self, extra: dict[str, Any] | None = None, header: str = "") -> str:
        """yaml text with one flow-style line per stage (extra keys, e.g. neck, at the end)."""
        lines = [f"# {line}" if line else "#" for line in header.splitlines()]
        lines += [f"type: {self.type}", f"stem: {self.stem}", "stages:"]
        for s in self.stages:
            row = ", ".join(f"{k}: {v}" for k, v in s.to_dict().items())
            lines.append(f"- {{{row}}}")
        lines += [yaml.safe_dump({k: v}, sort_keys=False).strip() for k, v in (extra or {}).items()]
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, source: str = "structure") -> Structure:
        """Build from a mapping (yaml/json), naming the field at fault in any error."""
        if not isinstance(data, dict):
            raise StructureError(f"{source}: expected a mapping with type, stem and stages")
        for key in ("type", "stem", "stages"):
            if key not in data:
                raise StructureError(f"{source}: missing field '{key}'")
        unknown = [k for k in data if k not in ("type", "stem", "stages")]
        if unknown:
            raise StructureError(f"{source}: unknown field '{unknown[0]}' (fields: type, stem, "
                                 "stages)")  # fmt: skip
        rows = data["stages"]
        if not isinstance(rows, list):
            raise StructureError(f"{source}: stages must be a list of 5 stages")
        stem = _int(data["stem"], f"{source}: stem")
        stages = tuple(_stage(row, f"{source}: stages[{i}]") for i, row in enumerate(rows))
        try:
            return cls(str(data["type"]), stem, stages)
        except StructureError as e:
            raise StructureError(f"{source}: {e}") from None

    @classmethod
    def from_json(cls, text: str, source: str = "structure") -> Structure:
        try:
            return cls.from_dict(json.loads(text), source)
        except json.JSONDecodeError as e:
            raise StructureError(f"{source}: not valid json ({e})") from None

    def describe(self) -> str:
        """One line: type, stem and out/depth/btn per stage."""
        rows = " ".join(f"{s.c_out}x{s.depth}/b{s.btn}" for s in self.stages)
        return f"{self.type} stem {self.stem}, {rows}"


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StructureError(f"{where} must be an integer, got {value!r}")
    return value


def _stage(row: Any, where: str) -> Stage:
    if not isinstance(row, dict):
        raise StructureError(f"{where} must be a mapping of {', '.join(STAGE_KEYS)}")
    for key in STAGE_KEYS:
        if key not in row:
            raise StructureError(f"{where}: missing field '{key}'")
    for key in row:
        if key not in STAGE_KEYS:
            raise StructureError(
                f"{where}: unknown field '{key}' (fields: {', '.join(STAGE_KEYS)})"
            )
    return Stage(*(_int(row[k], f"{where}.{k}") for k in STAGE_KEYS))


def _problem(st: Structure) -> str:
    """Why the structure cannot be built ('' when it can), naming the field."""
    if st.type not in BLOCK_TYPES:
        return f"type '{st.type}' is not one of {', '.join(BLOCK_TYPES)}"
    if isinstance(st.stem, bool) or not isinstance(st.stem, int) or st.stem < 1:
        return f"stem must be a positive integer, got {st.stem!r}"
    if not isinstance(st.stages, tuple) or not all(isinstance(s, Stage) for s in st.stages):
        return "stages must be a tuple of Stage"
    if len(st.stages) != len(STAGE_STRIDES):
        return f"stages must hold exactly 5 stages, got {len(st.stages)}"
    prev = st.stem
    for i, (s, stride) in enumerate(zip(st.stages, STAGE_STRIDES, strict=True)):
        where = f"stages[{i}]"
        for key, value in s.to_dict().items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                return f"{where}.{key} must be a positive integer, got {value!r}"
        if s.stride != stride:
            return f"{where}.stride must be {stride} (stage strides are 2, 2, 2, 1, 2)"
        if s.c_in != prev:
            return f"{where}.in must equal the previous output width {prev}, got {s.c_in}"
        if st.type == "kxkx" and s.c_out % 2:
            return f"{where}.out must be even for kxkx (CSP halves), got {s.c_out}"
        prev = s.c_out
    if st.type == "kxkx" and st.stages[3].c_out != st.stages[2].c_out:
        return (f"stages[3].out must equal stages[2].out ({st.stages[2].c_out}) for kxkx: the two "
                "stages share one CSP wrapper")  # fmt: skip
    return ""


def read_structure(path: str | Path) -> tuple[Structure, str | None]:
    """(structure, neck or None) from a structure .yaml/.json file; errors name the field."""
    path = Path(path)
    if not path.is_file():
        raise StructureError(f"structure file '{path}' not found")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        raise StructureError(f"'{path}' is not valid {path.suffix[1:]}: {e}") from None
    if not isinstance(data, dict):
        raise StructureError(f"'{path}' must hold a mapping with type, stem and stages")
    if not {"type", "stem", "stages"} & set(data):
        raise StructureError(f"'{path}' is not a structure file (no type, stem or stages; "
                             "`yoloarena search` writes one)")  # fmt: skip
    neck = data.pop("neck", None)
    if neck is not None and not isinstance(neck, str):
        raise StructureError(f"{path}: neck must be a released model name, e.g. damoyolo-t")
    return Structure.from_dict(data, str(path)), neck


def is_structure_file(text: str) -> bool:
    """Whether a model argument names a structure file (by suffix) rather than weights."""
    return Path(text).suffix.lower() in (".yaml", ".yml", ".json")


def _structure(kind: str, stem: int, *rows: tuple[int, int, int, int, int]) -> Structure:
    return Structure(kind, stem, tuple(Stage(*r) for r in rows))


# (in, out, stride, depth, btn) per stage, as recorded by the official search results.
STRUCTURES = {
    "T": _structure("k1kx", 24, (24, 64, 2, 2, 24), (64, 96, 2, 2, 64), (96, 192, 2, 2, 96),
                    (192, 192, 1, 2, 152), (192, 384, 2, 1, 192)),
    "S": _structure("k1kx", 32, (32, 128, 2, 1, 24), (128, 128, 2, 5, 88), (128, 256, 2, 3, 128),
                    (256, 256, 1, 2, 120), (256, 512, 2, 1, 144)),
    "M": _structure("kxkx", 32, (32, 128, 2, 2, 64), (128, 128, 2, 4, 64), (128, 256, 2, 4, 256),
                    (256, 256, 1, 4, 256), (256, 512, 2, 3, 256)),
    "L": _structure("kxkx", 32, (32, 128, 2, 3, 96), (128, 128, 2, 5, 96), (128, 256, 2, 5, 384),
                    (256, 256, 1, 5, 384), (256, 512, 2, 4, 384)),
    "Ns": _structure("mobile", 16, (16, 24, 2, 1, 24), (24, 40, 2, 2, 64), (40, 64, 2, 2, 40),
                     (64, 80, 1, 2, 152), (80, 160, 2, 2, 192)),
    "Nm": _structure("mobile", 16, (16, 40, 2, 2, 24), (40, 64, 2, 2, 64), (64, 112, 2, 2, 40),
                     (112, 128, 1, 2, 152), (128, 256, 2, 1, 192)),
    "Nl": _structure("mobile", 24, (24, 48, 2, 1, 24), (48, 80, 2, 2, 64), (80, 160, 2, 2, 40),
                     (160, 160, 1, 3, 152), (160, 320, 2, 2, 192)),
}  # fmt: skip
