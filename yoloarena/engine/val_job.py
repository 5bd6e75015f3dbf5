"""`yoloarena val`: validate a model on a dataset split and write runs/val/<name>/ (project=X
name=Y: X/Y). A segmentation model on a dataset with polygons is scored on boxes and masks: both
in results.json ("stats" and "mask") and in the printed table, with the mask curves and
val_batch0_{labels,pred}.jpg mosaics among the plots."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import param, save_yaml, to_dict
from ..data.load import load_dataset
from ..devices import FORMS, check_device
from ..errors import YoloArenaError
from ..eval.plots import plot_conf_curve, plot_confusion_matrix, plot_pr_curve
from ..export.runtime import precision_of
from ..loading import load_model
from ..models.base import Detector
from ..writes import write_json
from .backends import check_backend, resolve_backend
from .predictor import check_imgsz
from .runs import run_dir
from .seg_val import box_mask_table
from .validator import ValResult, validate

LOGGER = logging.getLogger("yoloarena")


@dataclass
class ValConfig:
    """Arguments of `yoloarena val`. Unset NMS values take the model family's protocol."""

    model: str = param("", "weights file, exported file or registered name (required)")
    data: str = param("", "dataset .yaml (YOLO layout) or COCO .json")
    split: str = param("val", "dataset split: train, val or test")
    imgsz: int | None = param(None, "inference size (None: the model's own, 640 or 416)", gt=0)
    batch: int = param(32, "images per forward pass", ge=1)
    conf: float | None = param(None, "confidence threshold (None: the family's protocol, 0.001)",
                               ge=0, le=1)  # fmt: skip
    iou: float | None = param(None, "NMS IoU threshold (None: the family's protocol)", ge=0, le=1)
    max_det: int | None = param(None, "detections per image at most (None: the protocol's)", ge=1)
    rect: bool | None = param(None, "rectangular batches (None: the family's protocol)")
    half: bool = param(False, "FP16 inference (CUDA; OpenVINO files: the CPU's 16-bit float)")
    precision: str = param("", "OpenVINO files: f32, bf16 or f16 ('': the file's own)")
    backend: str = param(
        "",
        "what runs the network: torch, onnx, openvino, or auto (the fastest measured here, "
        "exported once to a cache); '': the model as loaded",
        check=check_backend,
    )
    augment: bool = param(False, "test-time augmentation (flips and scales, merged before NMS)")
    device: str = param("cpu", f"device: {FORMS}", check=check_device)
    workers: int = param(2, "data-loading worker processes", ge=0)
    plots: bool = param(True, "save PR, F1, P, R curves and the confusion matrix")
    save_json: bool = param(True, "save predictions.json (COCO format)")
    verbose: bool = param(True, "print the per-class table")
    project: str = param("", "run folder parent ('': runs/val); results go to project/name")
    name: str = param("exp", "run folder name (exp, exp2, ... unless exist_ok)")
    exist_ok: bool = param(False, "reuse project/name instead of incrementing")


def run_val(cfg: ValConfig, model: Detector | None = None) -> tuple[Path, ValResult]:
    """Validate cfg.model (or the given network) on cfg.data and write the run folder (a
    classifier: top-1/top-5 on a classification dataset, see engine/classify_val.py)."""
    if not cfg.model and model is None:
        raise YoloArenaError(
            "val needs model=<weights .pt/.pth or an exported file> (a registered name has random "
            "weights: its mAP is meaningless)"
        )
    if not cfg.data:
        raise YoloArenaError("val needs data=<dataset .yaml or COCO .json>")
    if model is None:
        model = load_model(
            cfg.model, device=cfg.device, precision=cfg.precision or None, half=cfg.half
        ).deploy()
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
    model = resolve_backend(model, cfg.backend, imgsz, half=cfg.half, augment=cfg.augment)
    result = validate(model, dataset, imgsz, cfg.batch, protocol, cfg.half, cfg.workers,
                      augment=cfg.augment)  # fmt: skip
    out = run_dir(cfg.project, "val", cfg.name, cfg.exist_ok)
    precision = precision_of(model, cfg.half)
    LOGGER.info("precision: %s", precision)
    _write(out, cfg, result, dataset, precision)
    _log(result, cfg.verbose)
    LOGGER.info("results saved to %s", out)
    return out, result


def _write(out: Path, cfg: ValConfig, result: ValResult, dataset, precision: str) -> None:
    names = dataset.names
    save_yaml(cfg, out / "args.yaml")
    summary = {"model": cfg.model, "data": cfg.data, "split": cfg.split, "compute": precision,
               **result.to_dict()}  # fmt: skip
    summary["args"] = to_dict(cfg)
    write_json(out / "results.json", summary, indent=1)
    if cfg.save_json:
        write_json(out / "predictions.json", result.predictions)
    if cfg.plots:
        plot_pr_curve(result.metrics, out / "PR_curve.png")
        for kind in ("F1", "P", "R"):
            plot_conf_curve(result.metrics, kind, out / f"{kind}_curve.png")
        plot_confusion_matrix(result.confusion, list(names.values()), out / "confusion_matrix.png")
        if result.mask_metrics is not None:
            _mask_plots(out, result, dataset)


def _mask_plots(out: Path, result: ValResult, dataset) -> None:
    from ..eval.seg_plots import plot_mask_mosaics

    plot_pr_curve(result.mask_metrics, out / "MaskPR_curve.png", "Mask")
    for kind in ("F1", "P", "R"):
        plot_conf_curve(result.mask_metrics, kind, out / f"Mask{kind}_curve.png", "Mask")
    plot_mask_mosaics(dataset, result.predictions, out)


def _log(result: ValResult, verbose: bool) -> None:
    m, mask = result.metrics, result.mask_metrics
    if verbose:
        LOGGER.info("%s", m.table() if mask is None else box_mask_table(m, mask))
    keys = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")
    for what, r in (("box ", m), ("mask ", mask)) if mask is not None else (("", m),):
        LOGGER.info(what + "  ".join(f"{k} {r.stats[k]:.4f}" for k in keys))
    t, n = result.timings, max(result.images, 1)
    LOGGER.info(
        "Speed per image: %.1fms data (waiting), %.1fms forward, %.1fms NMS; scoring %.2fs",
        t["data"] * 1e3 / n, t["forward"] * 1e3 / n, t["nms"] * 1e3 / n, t["scoring"],
    )  # fmt: skip
