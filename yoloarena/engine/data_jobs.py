"""`yoloarena check` (dataset report) and `yoloarena convert` (YOLO <-> COCO)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..data.convert import to_coco, to_yolo
from ..data.load import check_dataset, load_dataset
from ..data.spec import SPLITS, read_data_yaml
from ..errors import YoloArenaError
from ..writes import write_json, write_text
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
    data: str = ""
    to: Literal["coco", "yolo"] = "coco"
    out: str = ""


def run_convert(cfg: ConvertConfig) -> Path:
    if not cfg.data or not cfg.out:
        raise YoloArenaError("convert needs data=<.yaml or .json> to=coco|yolo out=<folder>")
    path = Path(cfg.data)
    if path.suffix.lower() == ".json":
        splits = {"val": load_dataset(path)}
    else:
        spec = read_data_yaml(path)
        splits = {s: load_dataset(path, s) for s in SPLITS if spec.splits.get(s)}
    written = (to_coco if cfg.to == "coco" else to_yolo)(splits, cfg.out)
    LOGGER.info("converted %s (%s) to %s: %s", cfg.data, ", ".join(splits), cfg.to, written)
    return written
