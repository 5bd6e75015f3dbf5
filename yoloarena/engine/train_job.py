"""`yoloarena train`: build everything from the config, resume or fine-tune, run the trainer.

    yoloarena train model=yolov5n data=coco128.yaml epochs=100 imgsz=640 batch=16 device=cpu
    yoloarena train model=yolov5n.pt data=custom.yaml epochs=30     # fine-tune (any class count)
    yoloarena train model=yolov5n-seg pretrained=yolov5n.pt data=seg.yaml  # a detector's layers
    yoloarena train resume=True                                     # the newest unfinished run
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
from typing import Any, Literal

import numpy as np
import torch

from ..config import build_config, load_config, param, save_yaml, to_dict
from ..data.classify import is_classify_data
from ..data.load import load_dataset
from ..devices import FORMS, check_device, select_device
from ..errors import WeightsError, YoloArenaError
from ..hyp import Hyp, family_hyp, foreign_keys, hyp_file, hyp_keys
from ..loading import STRUCTURE_SUFFIXES, load_model, not_found_error, structure_model
from ..models.base import Detector
from ..registry import build_model, get_entry, is_registered
from ..weights import read_weights
from . import ddp
from .checkpoint import load_checkpoint
from .predictor import check_imgsz
from .runs import project_dir, run_dir
from .trainer import Run, Trainer

LOGGER = logging.getLogger("yoloarena")
RESUME_OVERRIDES = {"epochs", "device", "workers", "patience", "resume", "plots", "tensorboard"}


@dataclass
class TrainConfig:
    """Arguments of `yoloarena train` (Ultralytics names); hyperparameters at the same level."""

    model: str = param("yolov5n", "registered name (random init) or weights file to fine-tune; "
                       "the task (detect, segment) is the model's")  # fmt: skip
    pretrained: str = param("", "weights file whose tensors of the same name and shape start a "
                            "registered model (e.g. model=yolov5n-seg pretrained=yolov5n.pt: a "
                            "detector's layers start a segmenter)")  # fmt: skip
    data: str = param("", "dataset .yaml (YOLO layout) or COCO .json")
    epochs: int = param(100, "epochs to train", ge=1)
    imgsz: int | None = param(None, "training image size (None: the model's size)", gt=0)
    batch: int = param(16, "total batch size (over every GPU)", ge=1)
    device: str = param("cpu", f"device: {FORMS} (0,1: one process per GPU)", check=check_device)
    workers: int = param(2, "data-loading worker processes (0: in the main process)", ge=0)
    hyp: str = param("", "family preset name (e.g. scratch-low, short) or a hyp .yaml file ('': "
                     "the model's default preset)")  # fmt: skip
    cos_lr: bool = param(False, "cosine learning-rate schedule")
    rect: bool = param(False, "rectangular batches (no mosaic)")
    amp: bool = param(True, "mixed precision on CUDA")
    patience: int = param(100, "stop after this many epochs without improvement (0: never)", ge=0)
    seed: int = param(0, "random seed")
    fraction: float = param(1.0, "train on this fraction of the training images", gt=0, le=1)
    resume: str = param("", "True (the newest interrupted run) or a last.pt path")
    teacher: str = param("", "weights or registered name of a model to distil into this one")
    distill: Literal["cwd"] = param("cwd", "distillation: cwd (channel-wise, on the neck outputs)")
    distill_weight: float = param(1.0, "distillation loss weight (times cosine 1.0 -> 0.1)", ge=0)
    sync_bn: bool = param(False, "SyncBatchNorm across GPUs under DDP")
    autoanchor: bool = param(True, "YOLOv5: evolve anchors that fit the labels badly (not when "
                             "fine-tuning a pretrained head)")  # fmt: skip
    val: bool = param(True, "validate after every epoch")
    plots: bool = param(True, "save label, batch and result plots")
    tensorboard: bool = param(False, "log to TensorBoard (the [log] extra)")
    project: str = param("", "run folder parent ('': runs/train); the run goes to project/name")
    name: str = param("exp", "run folder name (exp, exp2, ... unless exist_ok)")
    exist_ok: bool = param(False, "reuse project/name instead of incrementing")
    hyp_overrides: dict[str, Any] = param(
        factory=dict,
        help="hyperparameters (default: the model family's preset, see hyp=; shown: the "
        "yolov5 | damoyolo presets, - where the family does not use the key, which is an error)",
        inline=hyp_keys,
    )


def parse_train_args(args: dict[str, str], cfg_file: str | None = None) -> TrainConfig:
    """The TrainConfig of key=value arguments and a cfg file (hyperparameters included); a
    hyperparameter the model's family does not use is refused here when the model is a name."""
    cfg = load_config(TrainConfig, args, cfg_file)
    _check_hyp(cfg)
    return cfg


def _check_hyp(cfg: TrainConfig) -> None:
    """Refuse hyperparameters the family does not use, and a bad hyp file, before any data is
    read (when the model is a registered name; weights files are checked once loaded)."""
    if _resuming(cfg) or not is_registered(cfg.model):
        return
    family = get_entry(cfg.model).family
    foreign_keys(family, cfg.hyp_overrides)
    if Path(cfg.hyp).suffix in (".yaml", ".yml"):
        hyp_file(family, cfg.hyp)


def _resuming(cfg: TrainConfig) -> bool:
    return bool(cfg.resume) and cfg.resume.lower() not in ("false", "0")


def run_train(
    cfg: TrainConfig, hyp_overrides: dict | None = None, given: set | None = None
) -> Path:
    """Train and return the run folder (weights/best.pt, weights/last.pt, results.csv, plots).

    given: the config keys set explicitly (on resume only epochs, device, workers, patience,
    plots and tensorboard may change; the run's other settings are kept). hyp_overrides: more
    hyperparameters on top of cfg.hyp_overrides. Under torchrun every process calls this; rank 0
    logs and writes.
    """
    info = ddp.from_environment(cfg.device)
    level = LOGGER.level
    if info is not None and not info.main:
        LOGGER.setLevel(logging.WARNING)
    try:
        if hyp_overrides:  # coerced and checked like the command line's
            extra = build_config(TrainConfig, {"hyp_overrides": hyp_overrides}).hyp_overrides
            cfg = dataclasses.replace(cfg, hyp_overrides={**cfg.hyp_overrides, **extra})
        run = _prepare(cfg, given, info)
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


def _prepare(cfg: TrainConfig, given: set | None, info) -> Run:
    """Resolve resume, load the data and the model, and describe the run."""
    main = info is None or info.main
    ckpt = None
    if _resuming(cfg):
        cfg, ckpt, save_dir = _resume(cfg, given)
    else:
        if not cfg.data:
            raise YoloArenaError("train needs data=<dataset .yaml or COCO .json>")
        _check_hyp(cfg)
        save_dir = run_dir(cfg.project, "train", cfg.name, cfg.exist_ok) if main else None
        save_dir = Path(ddp.broadcast(str(save_dir), info))
    if is_classify_data(cfg.data):  # an ImageNet-layout folder (or a yaml naming one)
        from .classify_train import prepare_classify

        return prepare_classify(cfg, ckpt, save_dir, info)
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
    if cfg.pretrained and ckpt is None:
        pretrained_head = _init_from(model, cfg.pretrained)
    hyp = _hyp(model, cfg)
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
        model, train_data, val_data, hyp, to_dict(cfg),
        save_dir, cfg.epochs, imgsz, cfg.batch, cfg.workers, device, cfg.seed, cfg.rect, cfg.amp,
        cfg.patience, cfg.plots, cfg.tensorboard, ckpt,
        prepare=cfg.autoanchor and not pretrained_head and ckpt is None,
        teacher=load_model(cfg.teacher) if cfg.teacher else None, distill_weight=cfg.distill_weight,
        dist=info, sync_bn=cfg.sync_bn,
    )  # fmt: skip


def _hyp(model: Detector, cfg: TrainConfig) -> Hyp:
    """The model's preset (or hyp=), cfg's hyperparameters on top; a key the family does not
    use is an error naming it."""
    overrides = dict(cfg.hyp_overrides)
    hyp = family_hyp(model.family, cfg.hyp, model.default_hyp, overrides)
    if cfg.cos_lr:
        hyp = hyp.replace(schedule="cosine")
    if hyp.lr_per_image > 0 and "lr0" not in overrides:  # lr scaled with the total batch
        hyp = hyp.replace(lr0=hyp.lr_per_image * cfg.batch)
    return hyp


def _build_model(name: str, nc: int, names: dict, ckpt: dict | None) -> tuple[Detector, bool]:
    """(model, whether its head came from pretrained weights). A registered name builds a random
    model; a weights file is fine-tuned (layers whose shape differs, the head when the class
    count changes, keep their fresh initialisation)."""
    if ckpt is not None:
        model = build_model(ckpt["model_name"], num_classes=ckpt["num_classes"],
                            names=ckpt["names"], **ckpt.get("build_kwargs", {}))  # fmt: skip
        return model, False
    if is_registered(name):
        return build_model(name, num_classes=nc, names=names), False
    if not Path(name).is_file():
        raise not_found_error(name, Path(name))
    if Path(name).suffix.lower() in STRUCTURE_SUFFIXES:  # a searched backbone: from scratch
        return structure_model(name, nc, names), False
    loaded = read_weights(name)
    get_entry(loaded.model_name)
    model = build_model(loaded.model_name, num_classes=nc, names=names, **loaded.build_kwargs)
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


def _init_from(model: Detector, path: str) -> bool:
    """Copy the tensors of the weights file that fit the model (name and shape); logs what was
    skipped; returns whether the head came from the file."""
    from ..weights import init_from

    if not Path(path).is_file():
        raise not_found_error(path, Path(path))
    report = init_from(model, path)
    if not report.loaded:
        raise YoloArenaError(
            f"pretrained={path}: no tensor fits {model.model_name} (another family or scale?); "
            "give weights of the same architecture"
        )
    LOGGER.info("initialising %s from %s: %s", model.model_name, path, report.summary())
    return not report.skipped and not report.missing


def _resume(cfg: TrainConfig, given: set | None):
    newest = cfg.resume.lower() in ("true", "1")
    path = latest_unfinished(cfg.project) if newest else Path(cfg.resume)
    ckpt = load_checkpoint(path)
    train = ckpt["train"]
    saved = dict(train["config"])  # older checkpoints keep the hyperparameters in hyp_overrides
    default = TrainConfig()
    if given is None:
        given = {
            f.name
            for f in dataclasses.fields(cfg)
            if f.name != "hyp_overrides" and getattr(cfg, f.name) != getattr(default, f.name)
        }
    given = set(given) - set(cfg.hyp_overrides)
    ignored = sorted(given - RESUME_OVERRIDES - {"project"})  # project= only finds the run
    if ignored:
        LOGGER.warning("resume keeps the run's settings; ignoring %s", ", ".join(ignored))
    if cfg.hyp_overrides:
        LOGGER.warning(
            "resume keeps the run's hyperparameters; ignoring %s", ", ".join(cfg.hyp_overrides)
        )
    changes = {k: getattr(cfg, k) for k in given & RESUME_OVERRIDES}
    new_cfg = build_config(TrainConfig, saved | changes | {"resume": str(path)})
    done = train["epoch"] + 1
    if train["finished"] and new_cfg.epochs <= done:
        raise YoloArenaError(
            f"{path}: training to {done} epochs is finished; pass epochs=N with N > {done} to "
            "train further"
        )
    return new_cfg, ckpt, path.parent.parent


def latest_unfinished(project: str | Path) -> Path:
    """last.pt of the newest run under the train project folder whose training is not finished."""
    folder = project_dir(str(project), "train")
    candidates = sorted(folder.glob("*/weights/last.pt"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise YoloArenaError(f"resume=True found no {folder}/*/weights/last.pt to resume")
    for path in reversed(candidates):
        try:
            if not load_checkpoint(path, mmap=True)["train"]["finished"]:
                return path
        except WeightsError as e:
            LOGGER.warning("resume=True: skipping %s", e)
    raise YoloArenaError(
        f"resume=True found no unfinished run under {folder} (the newest, {candidates[-1]}, is "
        f"finished); to train it further give resume={candidates[-1]} epochs=N"
    )


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _subset(data, fraction: float, seed: int):
    """A seeded random fraction of the images (their polygons stay with their boxes)."""
    n = max(1, int(len(data) * fraction))
    keep = np.sort(np.random.default_rng(seed).permutation(len(data))[:n])
    return data.subset(keep)
