"""How `yoloarena compare` obtains each model: trained from scratch (a registered name or a
searched structure), fine-tuned from a weights file with its family's recipe, or evaluated as
given. Trainings are kept in <compare>/train/<model> and continue where they stopped; with
device=0,1 each one runs under torchrun (the DDP path of `yoloarena train`), the rest of compare
stays in this process.

Fine-tuning recipes (said in the report):
- YOLOv5: the official practice (train.py --weights yolov5s.pt): hyp.scratch-low from the
  pretrained weights; every tensor of the same name and shape is loaded, so the Detect head is
  re-initialised when the class count differs.
- DAMO-YOLO: `train.finetune_path` of the official trainer (assets/CustomDatasetTutorial.md):
  every tensor except those of the head is loaded, the head keeps its fresh initialisation
  (whatever the class count), and the variant's own training recipe is used unchanged.
- classifiers: the classify recipe of YOLOv5 v7.0, from the weights (the head re-initialised
  when the class count differs).
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import YoloArenaError
from ..registry import get_entry, is_registered

LOGGER = logging.getLogger("yoloarena")
WEIGHT_SUFFIXES = (".pt", ".pth")

RECIPES = {
    "yolov5": ("scratch-low", "YOLOv5 fine-tuning practice: hyp.scratch-low from the weights; "
               "tensors of the same name and shape loaded, the head re-initialised when the "
               "class count differs"),
    "damoyolo": ("", "DAMO-YOLO finetune_path: every tensor but the head's loaded, the head "
                 "freshly initialised; the variant's own training recipe"),
    "classify": ("", "YOLOv5 v7.0 classify recipe from the weights; the head re-initialised "
                 "when the class count differs"),
}  # fmt: skip
SCRATCH = {"yolov5": "the family's recipe from random weights",
           "damoyolo": "the variant's recipe from random weights",
           "classify": "YOLOv5 v7.0 classify recipe from random weights"}  # fmt: skip


@dataclass
class Origin:
    """How one model of a compare is obtained."""

    spec: str
    how: str  # "scratch", "finetune" or "given"
    family: str
    task: str  # detect, segment or classify
    hyp: str = ""  # the preset its training uses ('' : the model's own)
    recipe: str = ""  # the recipe, in words

    def text(self) -> str:
        if self.how == "finetune":
            return f"fine-tuned from {self.spec}"
        return "trained from scratch" if self.how == "scratch" else "evaluated as given"


def describe(spec: str) -> tuple[str, str, dict[int, str] | None]:
    """(family, task, class names or None) of a registered name, structure file, weights file
    or exported file; a missing one is a clear error."""
    from ..loading import STRUCTURE_SUFFIXES

    if is_registered(spec):
        entry = get_entry(spec)
        return entry.family, entry.task, None
    path = Path(spec)
    if not path.exists():
        raise YoloArenaError(f"models: '{spec}' is neither a registered model nor a file")
    if path.suffix.lower() in STRUCTURE_SUFFIXES:
        return "damoyolo", "detect", None  # a searched DAMO-YOLO backbone
    if path.suffix.lower() in WEIGHT_SUFFIXES:
        from ..weights import read_weights

        loaded = read_weights(path)
        entry = get_entry(loaded.model_name)
        names = loaded.names or {i: str(i) for i in range(loaded.num_classes)}
        return entry.family, entry.task, names
    from ..loading import load_model

    model = load_model(spec)  # an exported file: evaluated as it is
    return getattr(model, "family", "") or "exported", model.task, dict(model.names)


def plan(spec: str, data_names: dict[int, str], finetune: bool | None,
         described: tuple | None = None) -> Origin:  # fmt: skip
    """The Origin of one model: registered names and structures train from scratch; a weights
    file is fine-tuned when finetune=True, or (None) when its classes differ from the data's.
    described: describe(spec) when already known."""
    family, task, names = described or describe(spec)
    kind = "classify" if task == "classify" else family
    if names is None:
        return Origin(spec, "scratch", family, task, recipe=SCRATCH.get(kind, "its own recipe"))
    differ = {int(k): v for k, v in names.items()} != {int(k): v for k, v in data_names.items()}
    tune = differ if finetune is None else finetune
    if tune and Path(spec).suffix.lower() not in WEIGHT_SUFFIXES:
        raise YoloArenaError(f"models: '{spec}' is an exported file; only .pt/.pth weights "
                             "can be fine-tuned (finetune=False evaluates it as is)")  # fmt: skip
    if not tune:
        return Origin(spec, "given", family, task)
    hyp, recipe = RECIPES.get(kind, ("", "its family's recipe from the weights"))
    return Origin(spec, "finetune", family, task, hyp, recipe)


def check_tasks(tasks: dict[str, str]) -> str:
    """The one task of all models ({spec: task}); a mix is an error naming each model's task."""
    if len(set(tasks.values())) > 1:
        listed = ", ".join(f"{spec} ({task})" for spec, task in tasks.items())
        raise YoloArenaError(f"models= mixes tasks: {listed}; compare models of one task at a time")
    return next(iter(tasks.values()))


def obtain(origin: Origin, key: str, cfg, settings, out: Path) -> tuple[str, Path | None]:
    """(weights to evaluate, training run folder or None) of one model."""
    if origin.how == "given":
        return origin.spec, None
    from ..engine.train_job import TrainConfig

    run = out / "train" / key
    best, last = run / "weights" / "best.pt", run / "weights" / "last.pt"
    marker = run / "compare_settings.txt"  # a training is reused only for the same settings
    stamp = f"{settings.train_key()} {origin.how} {origin.spec}"
    if run.exists() and (not marker.is_file() or marker.read_text() != stamp):
        shutil.rmtree(run)
    if best.is_file() and finished(run, settings.epochs):
        LOGGER.info("compare: %s already trained (%s)", origin.spec, run)
        return str(best), run
    model = origin.spec
    if origin.how == "finetune" and not last.is_file():
        LOGGER.info("compare: fine-tuning %s (%s)", origin.spec, origin.recipe)
        if origin.family == "damoyolo" and origin.task != "classify":
            model = str(damo_start(origin.spec, settings.data, run / "start.pt", settings.seed))
    train = TrainConfig(model=model, data=settings.data, epochs=settings.epochs,
                        imgsz=settings.imgsz, batch=settings.batch, device=cfg.device,
                        workers=cfg.workers, hyp=settings.hyp or origin.hyp, seed=settings.seed,
                        project=str(run.parent), name=key, exist_ok=True, plots=True)  # fmt: skip
    if last.is_file():
        LOGGER.info("compare: continuing the interrupted training of %s", origin.spec)
        train.resume = str(last)
    else:
        run.mkdir(parents=True, exist_ok=True)
        marker.write_text(stamp)
    _run_train(train, origin.spec)
    return str(best), run


def _run_train(train, spec: str) -> None:
    """run_train here, or `yoloarena train` under torchrun when device= names several GPUs."""
    from ..devices import cuda_indices
    from ..engine.train_job import run_train

    devices = cuda_indices(train.device)
    if len(devices) < 2 or "WORLD_SIZE" in os.environ:
        run_train(train)
        return
    from ..engine.ddp import torchrun_command

    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(map(str, devices))}
    rc = subprocess.run(torchrun_command(train_argv(train), devices), env=env).returncode
    if rc != 0:
        raise YoloArenaError(f"training {spec} under torchrun failed (exit code {rc}); rerun the "
                             "same compare to continue from its last epoch")  # fmt: skip


def train_argv(train) -> list[str]:
    """`yoloarena train` key=value arguments of a TrainConfig (a resume names only last.pt)."""
    if train.resume:
        return [f"resume={train.resume}", f"device={train.device}", f"workers={train.workers}"]
    keys = ("model", "data", "epochs", "imgsz", "batch", "device", "workers", "hyp", "seed",
            "project", "name", "exist_ok", "plots")  # fmt: skip
    return [f"{k}={getattr(train, k)}" for k in keys if getattr(train, k) not in ("", None)]


def damo_start(weights: str, data: str, path: Path, seed: int) -> Path:
    """DAMO-YOLO's finetune_path as a starting file: the variant built for the data's classes,
    every tensor of the weights loaded except the head's (any key naming `head`), the head as
    freshly initialised (seeded)."""
    import torch

    from ..data.load import load_dataset
    from ..registry import build_model
    from ..weights import init_from_state_dict, read_weights, save_weights

    names = load_dataset(data, "val").names
    loaded = read_weights(weights)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(loaded.model_name, num_classes=len(names), names=names,
                            **loaded.build_kwargs)  # fmt: skip
    body = {k: v for k, v in loaded.state_dict.items() if "head" not in k}
    report = init_from_state_dict(model, body)
    LOGGER.info("  %s: %d tensors from %s, %d (the head) freshly initialised", loaded.model_name,
                len(report.loaded), weights, len(report.missing))  # fmt: skip
    return save_weights(model, path)


def finished(run: Path, epochs: int) -> bool:
    """Whether the training in run is complete: its last.pt says so (an early stop included),
    or (older runs) results.csv has every epoch."""
    from ..engine.checkpoint import load_checkpoint
    from ..errors import WeightsError

    last = run / "weights" / "last.pt"
    if last.is_file():
        try:
            return bool(load_checkpoint(last, mmap=True)["train"]["finished"])
        except (WeightsError, KeyError, TypeError):
            return False
    results = run / "results.csv"
    if not results.is_file():
        return False
    with results.open() as f:
        return len(list(csv.DictReader(f))) >= epochs
