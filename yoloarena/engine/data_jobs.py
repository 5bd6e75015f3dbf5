"""`yoloarena check` (dataset report, detection or classification) and `yoloarena convert`
(YOLO <-> COCO, and detection -> classification crops)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..data.classify import check_classify, is_classify_data
from ..data.classify_convert import to_classify
from ..data.convert import to_coco, to_yolo
from ..data.load import check_dataset, load_dataset
from ..data.spec import SPLITS, read_data_yaml
from ..errors import YoloArenaError
from .runs import run_dir

LOGGER = logging.getLogger("yoloarena")


@dataclass
class CheckConfig:
    data: str = ""
    workers: int | None = None
    show: int = 50  # problem lines printed per split (all are in report.json / report.txt)
    project: str = "runs"
    name: str = "exp"
    exist_ok: bool = False


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
    (out / "report.txt").write_text("\n".join(lines) + "\n")
    (out / "report.json").write_text(json.dumps([r.to_dict() for r in reports], indent=1))
    LOGGER.info("full report saved to %s", out)
    return 1 if any(r.errors for r in reports) else 0


@dataclass
class ConvertConfig:
    data: str = ""
    to: Literal["coco", "yolo", "classify"] = "coco"
    out: str = ""
    pad: float = 0.0  # to=classify: fraction of the box size added on each side of a crop
    min_size: int = 0  # to=classify: crops with a shorter side (pixels) are skipped


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
