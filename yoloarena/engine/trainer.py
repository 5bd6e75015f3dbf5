"""The family-agnostic training loop.

It knows a Detector only through its contract: forward -> HeadOutput, configure_criterion /
criterion, eval_protocol, transform, and the optional on_train_start hook (YOLOv5 autoanchor).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .. import threads
from ..children import release_dataloader_sigchld
from ..data.dataset import DetectionDataset
from ..data.train_loader import PipelineSpec, TrainDataset, build_train_loader
from ..errors import YoloArenaError
from ..hyp import Hyp
from ..models.base import Detector
from ..weights import atomic_save
from ..writes import WriteError, append_text, write_text
from . import ddp
from .checkpoint import checkpoint_dict, set_rng_state
from .ddp import DistInfo
from .distill import CWDistiller, distill_weight, neck_channels, teacher_input
from .ema import ModelEMA
from .optim import Schedule, build_optimizer
from .seg_val import fitness as val_fitness
from .validator import validate

LOGGER = logging.getLogger("yoloarena")


class TrainingDiverged(YoloArenaError):
    """The loss became NaN or infinite."""


@dataclass
class TrainState:
    start_epoch: int = 0
    best_fitness: float = -1.0
    bad_epochs: int = 0  # epochs without improvement (early stopping)
    history: list[dict] = field(default_factory=list)


@dataclass
class Run:
    """What the trainer needs: built by engine/train_job.py from the config."""

    model: Detector
    train_data: DetectionDataset
    val_data: DetectionDataset | None
    hyp: Hyp
    config: dict
    save_dir: Path
    epochs: int
    imgsz: int
    batch: int
    workers: int
    device: torch.device
    seed: int = 0
    rect: bool = False
    amp: bool = True
    patience: int = 100
    plots: bool = True
    tensorboard: bool = False
    resume_from: dict | None = None  # a loaded checkpoint
    prepare: bool = True  # run the model's on_train_start hook (YOLOv5: AutoAnchor)
    teacher: Detector | None = None  # distil this model's neck features into the student
    distill_weight: float = 1.0
    dist: DistInfo | None = None  # set under torchrun
    sync_bn: bool = False


class Trainer:
    def __init__(self, run: Run) -> None:
        self.run = run
        # channels-last memory: about 20% faster convolutions on CPU (oneDNN) and GPU (cuDNN)
        self.model = run.model.to(run.device, memory_format=torch.channels_last)
        self.main = run.dist is None or run.dist.main
        self.world = run.dist.world if run.dist else 1
        if run.batch % self.world:
            raise YoloArenaError(
                f"batch={run.batch} must be a multiple of the {self.world} processes"
            )
        self.weights_dir = run.save_dir / "weights"
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        cuda = run.device.type == "cuda"
        self.dataset, self.loader, self.sampler = self._build_loader(run)
        self.schedule = Schedule(run.hyp, run.epochs, len(self.loader), run.batch)
        self.distiller = self._distiller(run)
        trainable = nn.ModuleList([self.model, *([self.distiller] if self.distiller else [])])
        accumulate = self.schedule.max_accumulate
        decay = run.hyp.weight_decay
        if run.hyp.nbs > 0:  # decay scaled to the nominal batch (YOLOv5)
            decay *= run.batch * accumulate / run.hyp.nbs
        self.optimizer = build_optimizer(trainable, run.hyp, decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=run.amp and cuda)
        self.state = TrainState()
        self.model.configure_criterion(run.hyp, run.imgsz)
        if run.prepare and run.resume_from is None:
            hook = getattr(self.model, "on_train_start", None)
            if hook is not None:
                hook(run.train_data, run.imgsz, run.hyp)
        self.ema = ModelEMA(self.model, run.hyp.ema_decay, run.hyp.ema_tau)
        if run.resume_from is not None:
            self._restore(run.resume_from)
        self.net = ddp.wrap(self.model, run.dist, run.sync_bn)  # what the forward pass goes through
        self.distill_net = ddp.wrap(self.distiller, run.dist) if self.distiller else None
        self.writer = _tensorboard(run.save_dir) if run.tensorboard and self.main else None
        self.watch: threads.Watch | None = None

    def _build_loader(self, run: Run):
        """(dataset, loader, sampler) of the augmented training samples (a task hook)."""
        spec = PipelineSpec(run.imgsz, run.epochs, run.seed, run.model.transform.rgb,
                            run.rect, run.batch, max(run.model.stride),
                            stretch=run.model.transform.resize == "stretch")  # fmt: skip
        dataset, build_loader = _train_data(run, spec)
        rank = run.dist.rank if run.dist else 0
        loader, sampler = build_loader(dataset, run.batch // self.world, run.workers, rank,
                                       self.world, pin=run.device.type == "cuda")  # fmt: skip
        return dataset, loader, sampler

    def fitness(self, metrics: dict[str, float]) -> float:
        """What best.pt maximises (a task hook): YOLOv5's 0.1 AP50 + 0.9 AP50-95 (for
        segmentation models the box and the mask terms added)."""
        return val_fitness(metrics)

    def plot_batch(self, images: torch.Tensor, targets, i: int) -> None:
        """Save the i-th training batch as the network sees it (a task hook)."""
        from .train_plots import plot_train_batch

        path = self.run.save_dir / f"train_batch{i}.jpg"
        plot_train_batch(images, targets, path, self.model.transform.rgb)

    def _distiller(self, run: Run) -> CWDistiller | None:
        if run.teacher is None:
            return None
        teacher = run.teacher.to(run.device, memory_format=torch.channels_last).eval()
        teacher.requires_grad_(False)
        s_ch = neck_channels(self.model, run.imgsz, run.device)
        t_ch = neck_channels(teacher, run.imgsz, run.device)
        LOGGER.info("distilling %s (neck %s) into %s (neck %s)", teacher.model_name, t_ch,
                    self.model.model_name, s_ch)  # fmt: skip
        return CWDistiller(s_ch, t_ch).to(run.device)

    def _restore(self, ckpt: dict) -> None:
        try:
            self._restore_state(ckpt)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
            where = self.weights_dir / "last.pt"
            raise YoloArenaError(
                f"cannot resume from {self.run.config.get('resume') or where}: its training "
                f"state is damaged ({str(e).splitlines()[0][:120]}); train from its weights "
                "instead (model=<that file>)"
            ) from None

    def _restore_state(self, ckpt: dict) -> None:
        train = ckpt["train"]
        self.model.load_state_dict(train["model"])
        self.ema.ema.load_state_dict(ckpt["state_dict"])
        self.ema.updates = train["ema_updates"]
        self.optimizer.load_state_dict(train["optimizer"])
        set_rng_state(train["rng"])
        self.state.start_epoch = train["epoch"] + 1
        self.state.best_fitness = train["best_fitness"]
        self.state.bad_epochs = train.get("bad_epochs", 0)
        if self.main:  # rows of epochs after the checkpoint are redone: drop them
            trim_results(self.run.save_dir / "results.csv", train["epoch"] + 1)
        if self.distiller is not None and "distiller" in train:
            self.distiller.load_state_dict(train["distiller"])
        LOGGER.info("resuming from epoch %d of %d", self.state.start_epoch + 1, self.run.epochs)

    def train(self) -> TrainState:
        run = self.run
        if self.main:
            where = (
                f"{run.device}" if self.world == 1 else f"{self.world} processes, {run.device.type}"
            )
            LOGGER.info("training %s for %d epochs on %d images (%s), batch %d, imgsz %d -> %s",
                        self.model.model_name, run.epochs, len(self.dataset), where, run.batch,
                        run.imgsz, run.save_dir)  # fmt: skip
        # one process: threads follow the other load on the machine (yoloarena.threads); DDP
        # ranks would count each other as load, so they keep PyTorch's setting
        self.watch = threads.Watch() if self.world == 1 else None
        try:
            with threads.scope() if self.world == 1 else contextlib.nullcontext():
                self._epochs()
        finally:
            self._stop_workers()
        if self.writer is not None:
            self.writer.close()
        return self.state

    def _stop_workers(self) -> None:
        """End the loader's persistent workers now, and with them the DataLoader's SIGCHLD
        handler (see yoloarena/children.py)."""
        iterator = getattr(self.loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            self.loader._iterator = None
            iterator._shutdown_workers()
        release_dataloader_sigchld()

    def _epochs(self) -> None:
        run = self.run
        for epoch in range(self.state.start_epoch, run.epochs):
            t0 = time.perf_counter()
            losses = self.train_epoch(epoch)
            metrics = self.validate_epoch(epoch)
            fitness = self.fitness(metrics)
            # without validation every epoch is the best so far (best.pt = last.pt), and there is
            # nothing to stop early on
            improved = run.val_data is None or fitness > self.state.best_fitness
            if improved:
                self.state.best_fitness, self.state.bad_epochs = fitness, 0
            else:
                self.state.bad_epochs += 1
            stop = run.val_data is not None and self.state.bad_epochs >= run.patience
            finished = epoch == run.epochs - 1 or stop
            if self.main:  # results.csv first: last.pt commits the epoch (see _save)
                self._log(epoch, losses, metrics, time.perf_counter() - t0)
                self._save(epoch, improved, finished)
            if stop:
                if self.main:
                    LOGGER.info("early stop: no improvement for %d epochs (patience)", run.patience)
                break

    def train_epoch(self, epoch: int) -> dict[str, float]:
        model, run = self.model, self.run
        model.train()
        self.sampler.set_epoch(epoch)
        nb = len(self.loader)
        totals: dict[str, float] = {}
        last_step = epoch * nb - 1
        self.optimizer.zero_grad()
        progress = _Progress(nb, f"epoch {epoch + 1}/{run.epochs}", enabled=self.main)
        for i, (images, targets) in enumerate(self.loader):
            ni = epoch * nb + i
            self.schedule.apply(self.optimizer, epoch, ni)
            x = images.to(run.device, non_blocking=True, memory_format=torch.channels_last).float()
            x = model.transform.normalize(x)
            with torch.autocast(run.device.type, enabled=self.scaler.is_enabled()):
                loss = self._loss(x, targets.to(run.device), ni, nb)
            if not torch.isfinite(loss["total"]):
                raise TrainingDiverged(
                    f"loss is {loss['total'].item()} at epoch {epoch + 1}, batch {i + 1}; training "
                    f"stopped, the last good checkpoint is {self.weights_dir / 'last.pt'}. Try a "
                    "lower lr0 or check the labels (`yoloarena check`)"
                )
            self.scaler.scale(loss["total"]).backward()
            if ni - last_step >= self.schedule.accumulate(ni) or i == nb - 1:
                self._step()
                last_step = ni
            for k, v in loss.items():
                if k != "total":
                    totals[k] = totals.get(k, 0.0) + float(v)
            if run.plots and self.main and epoch == self.state.start_epoch and i < 3:
                self.plot_batch(images, targets, i)
            progress.update(i + 1, {k: v / (i + 1) for k, v in totals.items()})
            if self.watch is not None:
                self.watch.check()
        progress.close()
        return {k: v / max(nb, 1) for k, v in totals.items()}

    def _loss(self, x: torch.Tensor, targets, ni: int, nb: int) -> dict[str, torch.Tensor]:
        model, run = self.model, self.run
        if self.distiller is None:
            loss = model.criterion(self.net(x), targets)
        else:
            out, feats = self.net(x, return_features=True)
            loss = model.criterion(out, targets)
            with torch.no_grad():
                t_feats = run.teacher.features(teacher_input(x, model, run.teacher))
            d = self.distill_net(feats, t_feats)
            w = distill_weight(ni, run.epochs * nb)
            loss["total"] = loss["total"] + run.distill_weight * w * d
            loss["distill"], loss["distill_w"] = d.detach(), torch.tensor(w)
        if self.world > 1:  # DDP averages gradients: x world sums them, as one big batch would
            loss["total"] = loss["total"] * self.world
        return loss

    def _step(self) -> None:
        self.scaler.unscale_(self.optimizer)
        clip = self.run.hyp.grad_clip or (30.0 if self.distiller is not None else 0.0)
        if clip > 0:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            nn.utils.clip_grad_norm_(params, max_norm=clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad()
        self.ema.update(self.model)

    def validate_epoch(self, epoch: int) -> dict[str, float]:
        run = self.run
        if run.val_data is None:
            return {}
        result = validate(self.ema.ema, run.val_data, run.imgsz, run.batch * 2 // self.world,
                          half=self.scaler.is_enabled(), workers=min(run.workers, 2),
                          dist=run.dist)  # fmt: skip
        m, mask = result.metrics, result.mask_metrics
        out = {"AP50": m.stats["AP50"], "AP": m.stats["AP"], "precision": m.precision,
               "recall": m.recall}  # fmt: skip
        if mask is not None:  # segmentation: the masks' too
            out.update(mask_AP50=mask.stats["AP50"], mask_AP=mask.stats["AP"],
                       mask_precision=mask.precision, mask_recall=mask.recall)  # fmt: skip
        return out

    def _save(self, epoch: int, improved: bool, finished: bool) -> None:
        """best.pt (when improved), then last.pt, each written atomically. last.pt is the
        commit: a run killed before it is renamed redoes this epoch on resume (and rewrites
        best.pt and the results.csv row, see trim_results); a failed write (a full disk) stops
        training with the last good last.pt in place."""
        run = self.run
        extra = {"bad_epochs": self.state.bad_epochs}
        if self.distiller is not None:
            extra["distiller"] = {
                k: v.detach().clone() for k, v in self.distiller.state_dict().items()
            }
        obj = checkpoint_dict(
            self.model, self.ema, self.optimizer, epoch=epoch,
            best_fitness=self.state.best_fitness, finished=finished, config=run.config,
            hyp=vars(run.hyp), extra=extra,
        )  # fmt: skip
        try:
            if improved:
                atomic_save(obj, self.weights_dir / "best.pt")
            atomic_save(obj, self.weights_dir / "last.pt")
        except WriteError as e:
            raise self._stopped(epoch, e) from None

    def _stopped(self, epoch: int, error: WriteError) -> YoloArenaError:
        last = self.weights_dir / "last.pt"
        kept = (
            f"the last good checkpoint is {last}; after freeing space continue with "
            f"`yoloarena train resume={last}`"
            if last.is_file()
            else "no checkpoint was written yet"
        )
        return YoloArenaError(f"training stopped in epoch {epoch + 1}: {error}; {kept}")

    def _log(self, epoch: int, losses: dict, metrics: dict, seconds: float) -> None:
        row = {"epoch": epoch + 1, **{f"train/{k}": v for k, v in losses.items()},
               **{f"metrics/{k}": v for k, v in metrics.items()},
               **{f"lr/pg{j}": g["lr"] for j, g in enumerate(self.optimizer.param_groups)},
               "time_s": seconds}  # fmt: skip
        path = self.run.save_dir / "results.csv"
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(row))
        if not path.exists():
            writer.writeheader()
        writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
        try:
            append_text(path, text.getvalue())
        except WriteError as e:
            raise self._stopped(epoch, e) from None
        if self.writer is not None:
            for k, v in row.items():
                if k != "epoch":
                    self.writer.add_scalar(k, v, epoch + 1)
        parts = [f"{k} {v:.4f}" for k, v in losses.items()] + [
            f"{k} {v:.4f}" for k, v in metrics.items()
        ]
        LOGGER.info(
            "epoch %d/%d  %s  (%.1fs)", epoch + 1, self.run.epochs, "  ".join(parts), seconds
        )


def _train_data(run: Run, spec: PipelineSpec):
    """(training samples, loader builder) for the model's task: segmentation models get
    samples with masks made from the moved polygons."""
    if getattr(run.model, "task", "detect") == "segment":
        from ..data.seg_loader import SegTrainDataset, build_seg_train_loader

        return SegTrainDataset(run.train_data, run.hyp, spec), build_seg_train_loader
    return TrainDataset(run.train_data, run.hyp, spec), build_train_loader


def trim_results(path: Path, epochs_done: int) -> None:
    """Keep the rows of results.csv up to epoch epochs_done (1-based), rewritten atomically:
    a run killed after writing a row but before its checkpoint repeats that epoch."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = lines[:1] + [ln for ln in lines[1:] if _epoch_of(ln) <= epochs_done]
    if len(keep) < len(lines):
        LOGGER.info("results.csv: dropping %d rows after epoch %d (redone now)",
                    len(lines) - len(keep), epochs_done)  # fmt: skip
        tmp = path.with_name(f".{path.name}.tmp")
        write_text(tmp, "".join(keep))
        os.replace(tmp, path)


def _epoch_of(line: str) -> int:
    head = line.split(",", 1)[0].strip()
    return int(head) if head.isdigit() else 0


class _Progress:
    """tqdm on a terminal; a few plain lines per epoch otherwise (logs stay readable)."""

    def __init__(self, total: int, desc: str, enabled: bool = True) -> None:
        self.total, self.desc, self.enabled = total, desc, enabled
        self.bar = None
        self.next_line = max(total // 4, 1)
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False)

    def update(self, done: int, losses: dict[str, float]) -> None:
        text = " ".join(f"{k} {v:.4f}" for k, v in losses.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif self.enabled and done >= self.next_line and done < self.total:
            LOGGER.info("%s %d/%d %s", self.desc, done, self.total, text)
            self.next_line += max(self.total // 4, 1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        LOGGER.warning(
            "tensorboard=True but tensorboard is not installed (pip install tensorboard)"
        )
        return None
    return SummaryWriter(str(folder))
