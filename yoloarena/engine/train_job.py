"""`yoloarena train`: build everything from the config, resume or fine-tune, run the trainer.

    yoloarena train model=yolov5n data=coco128.yaml epochs=100 imgsz=640 batch=16 device=cpu
    yoloarena train model=yolov5n.pt data=custom.yaml epochs=30     # fine-tune (any class count)
    yoloarena train resume=True                                     # the newest interrupted run
    yoloarena train resume=runs/train/exp/weights/last.pt epochs=150   # continue / extend

Single hyperparameters go on the command line too (lr0=0.005 mosaic=0.5); hyp= names a family
preset (scratch-low, scratch-med, scratch-high for YOLOv5) or a yaml file.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..config import build_config, load_config, save_yaml, to_dict
from ..data.classify import is_classify_data
from ..data.load import load_dataset
from ..errors import YoloArenaError, unknown
from ..hyp import HYP_FIELDS, Hyp, model_hyp
from ..loading import load_model, not_found_error, select_device
from ..models.base import Detector
from ..registry import build_model, get_entry, is_registered
from ..weights import read_weights
from . import ddp
from .checkpoint import load_checkpoint
from .predictor import check_imgsz
from .runs import run_dir
from .trainer import Run, Trainer

LOGGER = logging.getLogger("yoloarena")
RESUME_OVERRIDES = {"epochs", "device", "workers", "patience", "resume", "plots", "tensorboard"}


@dataclass
class TrainConfig:
    model: str = "yolov5n"
    data: str = ""
    epochs: int = 100
    imgsz: int | None = None  # None: the model's size
    batch: int = 16
    device: str = "cpu"
    workers: int = 2
    hyp: str = ""  # preset name or yaml; "" = the family's default
    cos_lr: bool = False
    rect: bool = False
    amp: bool = True
    patience: int = 100
    seed: int = 0
    fraction: float = 1.0  # use this fraction of the training images
    resume: str = ""  # "True" (newest run) or a last.pt path
    teacher: str = ""  # weights (or a registered name) of a model to distil into this one
    distill: Literal["cwd"] = "cwd"  # channel-wise distillation of the neck outputs
    distill_weight: float = 1.0  # times the cosine schedule 1.0 -> 0.1
    sync_bn: bool = False  # SyncBatchNorm across GPUs under DDP
    autoanchor: bool = True  # YOLOv5: evolve anchors if they fit the labels badly (not when
    # fine-tuning a pretrained head, whose predictions are tied to its anchors)
    val: bool = True
    plots: bool = True
    tensorboard: bool = False
    project: str = "runs"
    name: str = "exp"
    exist_ok: bool = False


def parse_train_args(args: dict[str, str], cfg_file: str | None = None) -> tuple[TrainConfig, dict]:
    """Split key=value arguments into TrainConfig fields and Hyp overrides."""
    hyp_over = {k: v for k, v in args.items() if k in HYP_FIELDS}
    rest = {k: v for k, v in args.items() if k not in HYP_FIELDS}
    for key in rest:
        if key not in {f.name for f in dataclasses.fields(TrainConfig)}:
            raise unknown(
                "train argument",
                key,
                [*HYP_FIELDS, *(f.name for f in dataclasses.fields(TrainConfig))],
            )
    return load_config(TrainConfig, rest, cfg_file), hyp_over


def run_train(
    cfg: TrainConfig, hyp_overrides: dict | None = None, given: set | None = None
) -> Path:
    """Train and return the run folder (weights/best.pt, weights/last.pt, results.csv, plots).

    given: the config keys set explicitly (on resume only epochs, device, workers, patience,
    plots and tensorboard may change; the run's other settings are kept). Under torchrun every
    process calls this; rank 0 logs and writes.
    """
    info = ddp.from_environment(cfg.device)
    level = LOGGER.level
    if info is not None and not info.main:
        LOGGER.setLevel(logging.WARNING)
    try:
        run = _prepare(cfg, dict(hyp_overrides or {}), given, info)
        if run.model.task == "classify":
            from .classify_train import ClassifyTrainer

            ClassifyTrainer(run).train()
        else:
            Trainer(run).train()
        if (info is None or info.main) and run.plots and (run.save_dir / "results.csv").exists():
            from .train_plots import plot_results

            plot_results(run.save_dir / "results.csv", run.save_dir / "results.png")
        LOGGER.info("results saved to %s", run.save_dir)
        return run.save_dir
    finally:
        LOGGER.setLevel(level)
        ddp.cleanup()


def _prepare(cfg: TrainConfig, hyp_overrides: dict, given: set | None, info) -> Run:
    """Resolve resume, load the data and the model, and describe the run."""
    main = info is None or info.main
    ckpt = None
    if cfg.resume and cfg.resume.lower() not in ("false", "0"):
        cfg, hyp_overrides, ckpt, save_dir = _resume(cfg, hyp_overrides, given)
    else:
        if not cfg.data:
            raise YoloArenaError("train needs data=<dataset .yaml or COCO .json>")
        save_dir = run_dir(cfg.project, "train", cfg.name, cfg.exist_ok) if main else None
        save_dir = Path(ddp.broadcast(str(save_dir), info))
    if is_classify_data(cfg.data):  # an ImageNet-layout folder (or a yaml naming one)
        from .classify_train import prepare_classify

        return prepare_classify(cfg, hyp_overrides, ckpt, save_dir, info)
    _seed(cfg.seed)
    train_data = load_dataset(cfg.data, "train")
    LOGGER.info("%s", train_data.report.summary().splitlines()[0])
    if train_data.report.instances == 0:
        raise YoloArenaError(
            f"no labels in the training split of {cfg.data}; run `yoloarena check`"
        )
    val_data = load_dataset(cfg.data, "val") if cfg.val else None
    model, pretrained_head = _build_model(cfg.model, train_data.num_classes, train_data.names, ckpt)
    if model.task == "classify":
        raise YoloArenaError(
            f"{cfg.model} is a classifier but {cfg.data} is a detection dataset; give a "
            "classification dataset (a folder with train/ and val/ holding one folder per class)"
        )
    hyp = _hyp(model, cfg, hyp_overrides)
    imgsz = check_imgsz(cfg.imgsz or model.imgsz, max(model.stride))
    if cfg.fraction < 1:
        train_data = _subset(train_data, cfg.fraction, cfg.seed)
    if ckpt is None and main:
        save_yaml(cfg, save_dir / "args.yaml")
        save_yaml(hyp, save_dir / "hyp.yaml")
        if cfg.plots:
            from .train_plots import plot_labels

            plot_labels(train_data, save_dir / "labels.jpg")
    if cfg.autoanchor and pretrained_head:
        LOGGER.info("AutoAnchor skipped: the anchors belong to the pretrained head")
    device = info.device if info is not None else select_device(cfg.device)
    return Run(
        model, train_data, val_data, hyp, to_dict(cfg) | {"hyp_overrides": hyp_overrides},
        save_dir, cfg.epochs, imgsz, cfg.batch, cfg.workers, device, cfg.seed, cfg.rect, cfg.amp,
        cfg.patience, cfg.plots, cfg.tensorboard, ckpt,
        prepare=cfg.autoanchor and not pretrained_head and ckpt is None,
        teacher=load_model(cfg.teacher) if cfg.teacher else None, distill_weight=cfg.distill_weight,
        dist=info, sync_bn=cfg.sync_bn,
    )  # fmt: skip


def _hyp(model: Detector, cfg: TrainConfig, overrides: dict) -> Hyp:
    hyp = model_hyp(model.family, cfg.hyp, model.default_hyp)
    merged = {**to_dict(hyp), **overrides}
    if cfg.cos_lr:
        merged["schedule"] = "cosine"
    hyp = build_config(Hyp, merged)
    if hyp.lr_per_image > 0 and "lr0" not in overrides:  # lr scaled with the total batch
        hyp = hyp.replace(lr0=hyp.lr_per_image * cfg.batch)
    return hyp


def _build_model(name: str, nc: int, names: dict, ckpt: dict | None) -> tuple[Detector, bool]:
    """(model, whether its head came from pretrained weights). A registered name builds a random
    model; a weights file is fine-tuned (layers whose shape differs, the head when the class
    count changes, keep their fresh initialisation)."""
    if ckpt is not None:
        model = build_model(
            ckpt["model_name"], num_classes=ckpt["num_classes"], names=ckpt["names"]
        )
        return model, False
    if is_registered(name):
        return build_model(name, num_classes=nc, names=names), False
    if not Path(name).is_file():
        raise not_found_error(name, Path(name))
    loaded = read_weights(name)
    get_entry(loaded.model_name)
    model = build_model(loaded.model_name, num_classes=nc, names=names)
    own = model.state_dict()
    fits = {k: v for k, v in loaded.state_dict.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(loaded.state_dict) - set(fits))
    model.load_state_dict(fits, strict=False)
    LOGGER.info("fine-tuning %s from %s: %d of %d tensors loaded", loaded.model_name, name,
                len(fits), len(own))  # fmt: skip
    if skipped:
        LOGGER.info("  skipped (shape differs, e.g. %d classes instead of %d): %s",
                    nc, loaded.num_classes, ", ".join(skipped))  # fmt: skip
    return model, not skipped


def _resume(cfg: TrainConfig, hyp_overrides: dict, given: set | None):
    path = _latest_last(cfg.project) if cfg.resume.lower() in ("true", "1") else Path(cfg.resume)
    ckpt = load_checkpoint(path)
    train = ckpt["train"]
    saved = {k: v for k, v in train["config"].items() if k != "hyp_overrides"}
    default = TrainConfig()
    if given is None:
        given = {
            f.name
            for f in dataclasses.fields(cfg)
            if getattr(cfg, f.name) != getattr(default, f.name)
        }
    ignored = sorted(given - RESUME_OVERRIDES)
    if ignored:
        LOGGER.warning("resume keeps the run's settings; ignoring %s", ", ".join(ignored))
    changes = {k: getattr(cfg, k) for k in given & RESUME_OVERRIDES}
    new_cfg = build_config(TrainConfig, saved | changes | {"resume": str(path)})
    done = train["epoch"] + 1
    if train["finished"] and new_cfg.epochs <= done:
        raise YoloArenaError(
            f"{path}: training to {done} epochs is finished; pass epochs=N with N > {done} to "
            "train further"
        )
    if hyp_overrides:
        LOGGER.warning(
            "resume keeps the run's hyperparameters; ignoring %s", ", ".join(hyp_overrides)
        )
    return new_cfg, train["config"].get("hyp_overrides", {}), ckpt, path.parent.parent


def _latest_last(project: str) -> Path:
    candidates = sorted(
        Path(project).glob("train/*/weights/last.pt"), key=lambda p: p.stat().st_mtime
    )
    if not candidates:
        raise YoloArenaError(f"resume=True found no {project}/train/*/weights/last.pt to resume")
    return candidates[-1]


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _subset(data, fraction: float, seed: int):
    n = max(1, int(len(data) * fraction))
    keep = np.sort(np.random.default_rng(seed).permutation(len(data))[:n])
    records_idx = keep.tolist()
    counts = np.diff(data.offsets)[keep]
    rows = np.concatenate(
        [np.arange(data.offsets[i], data.offsets[i + 1]) for i in records_idx]
    ).astype(int)
    return dataclasses.replace(
        data, files=[data.files[i] for i in records_idx], shapes=data.shapes[keep],
        boxes=data.boxes[rows], labels=data.labels[rows], crowd=data.crowd[rows],
        areas=data.areas[rows], offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        image_ids=data.image_ids[keep],
    )  # fmt: skip
