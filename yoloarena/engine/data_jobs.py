"""`yoloarena check` (dataset report, detection or classification), `yoloarena convert` (YOLO <->
COCO, and detection -> classification crops) and `yoloarena data synth` (a synthetic dataset)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import param
from ..data.classify import check_classify, is_classify_data
from ..data.classify_convert import to_classify
from ..data.convert import to_coco, to_yolo
from ..data.load import check_dataset, load_dataset
from ..data.spec import SPLITS, read_data_yaml
from ..errors import YoloArenaError
from ..writes import write_json, write_text
from .runs import run_dir

LOGGER = logging.getLogger("yoloarena")


@dataclass
class CheckConfig:
    """Arguments of `yoloarena check`."""

    data: str = param("", "dataset .yaml or COCO .json to scan")
    workers: int | None = param(None, "scanning processes (None: one per core)", ge=0)
    show: int = param(50, "problem lines printed per split (all are in report.txt/json)", ge=0)
    project: str = param("", "run folder parent ('': runs/check); the report goes to project/name")
    name: str = param("exp", "run folder name (exp, exp2, ... unless exist_ok)")
    exist_ok: bool = param(False, "reuse project/name instead of incrementing")


def run_check(cfg: CheckConfig) -> int:
    """Print the summary and problems of every split; exit code 1 if a split has an error."""
    if not cfg.data:
        raise YoloArenaError("check needs data=<dataset .yaml or COCO .json>")
    if is_classify_data(cfg.data):
        reports = check_classify(cfg.data, cfg.workers)
    else:
        reports = check_dataset(cfg.data, cfg.workers)
    out = run_dir(cfg.project, "check", cfg.name, cfg.exist_ok)
    lines = []
    for report in reports:
        LOGGER.info("%s", report.summary())
        if report.problems:
            LOGGER.info("%s", report.details(cfg.show))
        lines += [report.summary(), report.details()]
    write_text(out / "report.txt", "\n".join(lines) + "\n")
    write_json(out / "report.json", [r.to_dict() for r in reports], indent=1)
    LOGGER.info("full report saved to %s", out)
    return 1 if any(r.errors for r in reports) else 0


@dataclass
class ConvertConfig:
    """Arguments of `yoloarena convert`."""

    data: str = param("", "dataset .yaml (YOLO layout) or COCO .json to convert")
    to: Literal["coco", "yolo", "classify"] = param(
        "coco", "target format: coco, yolo, or classify (one crop per box, ImageNet layout)"
    )
    out: str = param("", "output folder (images are linked, not copied; to=classify: crops)")
    pad: float = param(0.0, "to=classify: fraction of the box size added on each side", ge=0)
    min_size: int = param(0, "to=classify: skip crops with a shorter side (pixels)", ge=0)


def run_convert(cfg: ConvertConfig) -> Path:
    if not cfg.data or not cfg.out:
        raise YoloArenaError(
            "convert needs data=<.yaml or .json> to=coco|yolo|classify out=<folder>"
        )
    path = Path(cfg.data)
    if path.suffix.lower() == ".json":
        splits = {"val": load_dataset(path)}
    else:
        spec = read_data_yaml(path)
        splits = {s: load_dataset(path, s) for s in SPLITS if spec.splits.get(s)}
    if cfg.to == "classify":
        return _to_classify(cfg, splits)
    written = (to_coco if cfg.to == "coco" else to_yolo)(splits, cfg.out)
    LOGGER.info("converted %s (%s) to %s: %s", cfg.data, ", ".join(splits), cfg.to, written)
    return written


def _to_classify(cfg: ConvertConfig, splits: dict) -> Path:
    summary = to_classify(splits, cfg.out, cfg.pad, cfg.min_size)
    for split, n in summary.crops.items():
        LOGGER.info("%s: %d crops in %d classes (%d written, %d already there)", split, n,
                    len(summary.per_class[split]), summary.written[split],
                    summary.existing[split])  # fmt: skip
    for p in summary.problems:
        LOGGER.warning("%s", p)
    LOGGER.info("classification dataset: %s (use data=%s)", summary.out, summary.out)
    return summary.out


@dataclass
class SynthConfig:
    """Arguments of `yoloarena data synth`."""

    out: str = param("datasets/shapes", "output folder (YOLO layout with data.yaml)")
    n_train: int = param(300, "training images (classify: per class)", ge=1)
    n_val: int = param(60, "validation images (classify: per class)", ge=1)
    imgsz: int = param(320, "image size (square)", ge=32)
    classes: int = param(4, "shape classes (circle, square, triangle, ...)", ge=1, le=8)
    seed: int = param(0, "random seed (the same seed writes the same files)")
    task: Literal["detect", "segment", "classify"] = param(
        "detect",
        "detect: box labels; segment: the shapes' exact polygons (YOLO-seg rows); "
        "classify: one shape per image in class folders (ImageNet layout)",
    )


def run_synth(cfg: SynthConfig) -> Path:
    from ..data.synthetic import SynthSpec, make_synthetic

    if cfg.task == "classify":
        from ..data.synthetic_classify import ClassifySynthSpec, make_classify_synthetic

        cspec = ClassifySynthSpec(cfg.n_train, cfg.n_val, cfg.imgsz, cfg.classes, cfg.seed)
        path = make_classify_synthetic(cfg.out, cspec)
        print(f"synthetic classification dataset written: {path}")
        return path
    spec = SynthSpec(cfg.n_train, cfg.n_val, cfg.imgsz, cfg.classes, seed=cfg.seed, task=cfg.task)
    path = make_synthetic(cfg.out, spec)
    print(f"synthetic dataset written: {path}")
    return path
