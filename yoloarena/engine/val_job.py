"""`yoloarena val`: validate a model on a dataset split and write runs/val/<name>/."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import save_yaml, to_dict
from ..data.load import load_dataset
from ..errors import YoloArenaError
from ..eval.plots import plot_conf_curve, plot_confusion_matrix, plot_pr_curve
from ..loading import load_model
from ..models.base import Detector
from .predictor import check_imgsz
from .runs import run_dir
from .validator import ValResult, validate

LOGGER = logging.getLogger("yoloarena")


@dataclass
class ValConfig:
    """Arguments of `yoloarena val`. Unset NMS values take the model family's protocol."""

    model: str = "yolov5s"
    data: str = ""
    split: str = "val"
    imgsz: int | None = None  # None: the model's own size (640; 416 for DAMO-YOLO Nano)
    batch: int = 32
    conf: float | None = None
    iou: float | None = None
    max_det: int | None = None
    rect: bool | None = None
    half: bool = False
    device: str = "cpu"
    workers: int = 2
    plots: bool = True
    save_json: bool = True
    verbose: bool = True
    project: str = "runs"
    name: str = "exp"
    exist_ok: bool = False


def run_val(cfg: ValConfig, model: Detector | None = None) -> tuple[Path, ValResult]:
    """Validate cfg.model (or the given network) on cfg.data and write the run folder (a
    classifier: top-1/top-5 on a classification dataset, see engine/classify_val.py)."""
    if not cfg.data:
        raise YoloArenaError("val needs data=<dataset .yaml or COCO .json>")
    if model is None:
        model = load_model(cfg.model, device=cfg.device).deploy()
    if model.task == "classify":  # top-1/top-5 on a classification dataset
        from .classify_val import run_val_classify

        return run_val_classify(cfg, model)
    dataset = load_dataset(cfg.data, cfg.split, workers=None)
    LOGGER.info(dataset.report.summary().splitlines()[0])
    if dataset.report.problems and cfg.verbose:
        LOGGER.info("  %d problems in the data; run `yoloarena check data=%s` for the list",
                    len(dataset.report.problems), cfg.data)  # fmt: skip
    overrides = {
        k: v for k in ("conf", "iou", "max_det", "rect") if (v := getattr(cfg, k)) is not None
    }
    protocol = replace(model.eval_protocol, **overrides)
    if protocol.conf > 0.01:
        LOGGER.warning("conf=%g: mAP is only comparable at a low threshold (0.001)", protocol.conf)
    imgsz = check_imgsz(cfg.imgsz or model.imgsz, max(model.stride))
    result = validate(model, dataset, imgsz, cfg.batch, protocol, cfg.half, cfg.workers)
    out = run_dir(cfg.project, "val", cfg.name, cfg.exist_ok)
    _write(out, cfg, result, dataset.names)
    _log(result, cfg.verbose)
    LOGGER.info("results saved to %s", out)
    return out, result


def _write(out: Path, cfg: ValConfig, result: ValResult, names: dict[int, str]) -> None:
    save_yaml(cfg, out / "args.yaml")
    summary = {"model": cfg.model, "data": cfg.data, "split": cfg.split, **result.to_dict()}
    summary["args"] = to_dict(cfg)
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    if cfg.save_json:
        (out / "predictions.json").write_text(json.dumps(result.predictions))
    if cfg.plots:
        plot_pr_curve(result.metrics, out / "PR_curve.png")
        for kind in ("F1", "P", "R"):
            plot_conf_curve(result.metrics, kind, out / f"{kind}_curve.png")
        plot_confusion_matrix(result.confusion, list(names.values()), out / "confusion_matrix.png")


def _log(result: ValResult, verbose: bool) -> None:
    m = result.metrics
    if verbose:
        LOGGER.info("%s", m.table())
    keys = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")
    LOGGER.info("  ".join(f"{k} {m.stats[k]:.4f}" for k in keys))
    t, n = result.timings, max(result.images, 1)
    LOGGER.info(
        "Speed per image: %.1fms data (waiting), %.1fms forward, %.1fms NMS; scoring %.2fs",
        t["data"] * 1e3 / n, t["forward"] * 1e3 / n, t["nms"] * 1e3 / n, t["scoring"],
    )  # fmt: skip
