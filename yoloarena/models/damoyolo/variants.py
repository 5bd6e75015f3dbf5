"""Registered DAMO-YOLO models with their published figures (official README, COCO val2017)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import YoloArenaError, unknown
from ...registry import register_model
from .model import DamoVariant, DamoYolo
from .structure import STRUCTURES, Structure, read_structure

LOGGER = logging.getLogger("yoloarena")

VARIANTS = {
    "damoyolo-t": DamoVariant("T", "res", "relu", (64, 128, 256), 1.0, 1.0),
    "damoyolo-s": DamoVariant("S", "res", "relu", (128, 256, 512), 1.0, 0.75),
    "damoyolo-m": DamoVariant("M", "csp", "silu", (128, 256, 512), 1.5, 1.0),
    "damoyolo-l": DamoVariant("L", "csp", "silu", (128, 256, 512), 2.0, 1.0),
    "damoyolo-ns": DamoVariant("Ns", "mob", "silu", (40, 80, 160), 0.5, 0.5, imgsz=416),
    "damoyolo-nm": DamoVariant("Nm", "mob", "silu", (64, 128, 256), 0.5, 0.5, imgsz=416),
    "damoyolo-nl": DamoVariant("Nl", "mob", "silu", (80, 160, 320), 0.5, 0.5, imgsz=416),
}
# mAP (distilled where released), latency ms (T4 TensorRT FP16 for T-L, OpenVINO FP16 CPU for
# Nano), GFLOPs and params (M) as published; Nano figures are at 416.
_PUBLISHED = {
    "damoyolo-t": (43.6, 42.0, 2.78, 18.1, 8.5, "damoyolo_tinynasL20_T_436.pth"),
    "damoyolo-s": (47.7, 46.0, 3.83, 37.8, 16.3, "damoyolo_tinynasL25_S_477.pth"),
    "damoyolo-m": (50.2, 49.2, 5.62, 61.8, 28.2, "damoyolo_tinynasL35_M_502.pth"),
    "damoyolo-l": (51.9, 50.8, 7.95, 97.3, 42.1, "damoyolo_tinynasL45_L_519.pth"),
    "damoyolo-ns": (32.3, 32.3, 4.08, 1.56, 1.41, "damoyolo_nano_small.pth"),
    "damoyolo-nm": (38.2, 38.2, 5.05, 3.69, 2.71, "damoyolo_nano_middle.pth"),
    "damoyolo-nl": (40.5, 40.5, 6.69, 6.04, 5.69, "damoyolo_nano_large.pth"),
}
_KEYS = ("map50_95", "map50_95_no_distill", "latency_ms", "gflops", "params_m", "weights")


def _register(name: str) -> None:
    variant = VARIANTS[name]
    published = dict(zip(_KEYS, _PUBLISHED[name], strict=True))
    published["source"] = "tinyvision/DAMO-YOLO README (v0.3.x)"
    published["latency_setup"] = "OpenVINO FP16 CPU, 416" if variant.nano else "T4 TensorRT FP16 b1"

    @register_model(name, family="damoyolo", imgsz=variant.imgsz, published=published)
    def build(
        num_classes: int = 80, names: dict[int, str] | Sequence[str] | None = None
    ) -> DamoYolo:
        return DamoYolo(VARIANTS[name], num_classes=num_classes, names=names)

    build.__name__ = build.__qualname__ = name.replace("-", "_")
    build.__doc__ = f"DAMO-YOLO {variant.structure} ({variant.imgsz} px input)."


for _name in VARIANTS:
    _register(_name)


def variants_of(block_type: str) -> list[str]:
    """Released models whose backbone has this block type, smallest first."""
    return [n for n, v in VARIANTS.items() if v.block_type == block_type]


def _size(st: Structure) -> tuple[int, ...]:
    return (*st.out_channels, sum(s.depth for s in st.stages))


def closest_variant(structure: Structure) -> str:
    """The released model of the same block type whose backbone is closest in output widths
    (C3, C4, C5) and total depth: least sum of |log ratio| (ties go to the smaller model)."""

    def distance(name: str) -> float:
        ref = _size(STRUCTURES[VARIANTS[name].structure])
        return sum(abs(math.log(a / b)) for a, b in zip(_size(structure), ref, strict=True))

    return min(variants_of(structure.type), key=distance)


def check_neck(neck: str, structure: Structure) -> str:
    """neck, checked to be a released model of the structure's block type."""
    choices = variants_of(structure.type)
    if neck not in choices:
        raise unknown(f"neck for a {structure.type} structure", neck, choices)
    return neck


@register_model("damoyolo-nas", family="damoyolo", listed=False)
def damoyolo_nas(
    num_classes: int = 80,
    names: dict[int, str] | Sequence[str] | None = None,
    structure: Structure | dict[str, Any] | str | Path | None = None,
    neck: str | None = None,
) -> DamoYolo:
    """DAMO-YOLO on a searched backbone: structure (a Structure, its dict or json text, or a
    structure .yaml/.json file) with the neck, head and recipe of a released model of the same
    block type (neck; default: the file's `neck`, else the closest released variant)."""
    if structure is None:
        raise YoloArenaError(
            "damoyolo-nas needs a structure: give model=path/to/structure.yaml (written by "
            "`yoloarena search`)"
        )
    source = "structure"
    if isinstance(structure, str) and structure.lstrip().startswith("{"):  # from a checkpoint
        structure = Structure.from_json(structure)
    elif isinstance(structure, str | Path):
        source = str(structure)
        structure, file_neck = read_structure(structure)
        neck = neck or file_neck
    elif isinstance(structure, dict):
        structure = Structure.from_dict(structure)
    chosen = check_neck(neck, structure) if neck else closest_variant(structure)
    variant = VARIANTS[chosen]
    if source != "structure":  # built from a file: say where neck, head and recipe come from
        why = "named in the file" if neck else f"the closest released {structure.type} model"
        LOGGER.info("%s: %s backbone with the neck, head and training recipe of %s (%s)",
                    source, structure.describe(), chosen, why)  # fmt: skip
    model = DamoYolo(variant, num_classes=num_classes, names=names, structure=structure)
    model.imgsz = variant.imgsz
    # plain strings, as checkpoints and exported files keep them
    model.build_kwargs = {"structure": structure.to_json(), "neck": chosen}
    return model
