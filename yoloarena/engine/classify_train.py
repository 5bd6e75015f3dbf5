"""Training classifiers with the detection engine: the same Trainer (optimiser groups, schedule,
EMA, AMP, gradient clipping, checkpoints, resume, DDP, progress lines), with the classification
data pipeline, cross-entropy, top-1 fitness and top-1/top-5 validation plugged in.

    yoloarena train model=yolov5s-cls data=datasets/imagenette epochs=10 imgsz=224
    yoloarena train model=yolov5n.pt data=coco128-cls    # backbone from a detection checkpoint
    yoloarena train model=damoyolo-t-cls data=my.yaml    # a yaml naming the split folders

The recipe is upstream's classify/train.py (see models/classify_recipe.py): the `classify`
preset of each family.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..config import save_yaml, to_dict
from ..data.classify import ClassifyDataset, load_classify
from ..data.images import read_image
from ..data.train_loader import EpochSampler, _worker_init
from ..devices import select_device
from ..errors import YoloArenaError
from ..hyp import Hyp
from ..loading import not_found_error
from ..models.base import Classifier
from ..models.classify_transform import ClassifyAugment
from ..registry import build_model, get_entry, is_registered
from ..weights import read_weights
from .predictor import check_imgsz
from .trainer import Run, Trainer

LOGGER = logging.getLogger("yoloarena")


def augment_of(hyp: Hyp) -> ClassifyAugment:
    """The classification augmentation a Hyp describes (see models/classify_recipe.py)."""
    scale = tuple(hyp.scale_range) if hyp.scale_range else (0.08, 1.0)
    return ClassifyAugment(scale=scale, hflip=hyp.fliplr, vflip=hyp.flipud,  # type: ignore[arg-type]
                           brightness=hyp.hsv_v, contrast=hyp.hsv_v, saturation=hyp.hsv_s,
                           hue=hyp.hsv_h)  # fmt: skip


class ClassifyTrainSet(Dataset):
    """Augmented (uint8 CHW image, class index) samples. Keys are epoch * N + index (the
    EpochSampler's), and each sample's augmentation is seeded by (seed, epoch, index): a run is
    reproducible whatever the number of workers, and a resumed run sees the same samples."""

    def __init__(self, data: ClassifyDataset, model: Classifier, imgsz: int, hyp: Hyp, seed: int):
        self.files = np.array(data.files)
        self.labels = data.labels
        self.n = len(data)
        self.rgb = model.transform.rgb
        self.tf = model.transform.train_transform(imgsz, augment_of(hyp))
        self.seed = seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: int) -> tuple[torch.Tensor, int]:
        epoch, i = divmod(int(key), self.n)
        img = read_image(str(self.files[i]))
        if self.rgb:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed((self.seed * 1_000_003 + epoch) * 1_000_033 + i)
            x = self.tf(x)
        return x.contiguous(), int(self.labels[i])


class ClassifyTrainer(Trainer):
    """The Trainer with the classification pipeline, top-1 as fitness, top-1/top-5 per epoch."""

    def _build_loader(self, run: Run):
        dataset = ClassifyTrainSet(run.train_data, run.model, run.imgsz, run.hyp, run.seed)
        rank = run.dist.rank if run.dist else 0
        sampler = EpochSampler(dataset, True, run.seed, rank, self.world)
        workers = run.workers
        loader = DataLoader(
            dataset, batch_size=run.batch // self.world, sampler=sampler, num_workers=workers,
            persistent_workers=workers > 0, pin_memory=run.device.type == "cuda",
            worker_init_fn=_worker_init, prefetch_factor=4 if workers > 0 else None,
        )  # fmt: skip
        return dataset, loader, sampler

    def fitness(self, metrics: dict[str, float]) -> float:
        return metrics.get("top1", 0.0)

    def plot_batch(self, images: torch.Tensor, targets, i: int) -> None:
        names = [self.model.names[int(c)] for c in targets]
        plot_classify_batch(images, names, self.run.save_dir / f"train_batch{i}.jpg",
                            self.model.transform.rgb)  # fmt: skip

    def validate_epoch(self, epoch: int) -> dict[str, float]:
        from .classify_val import validate_classifier

        run = self.run
        if run.val_data is None:
            return {}
        result = validate_classifier(self.ema.ema, run.val_data, run.imgsz,
                                     run.batch * 2 // self.world, half=self.scaler.is_enabled(),
                                     workers=min(run.workers, 2), dist=run.dist)  # fmt: skip
        out = {"top1": result.metrics.top1, "top5": result.metrics.top5}
        return {"val_loss": result.loss, **out} if result.loss is not None else out


def plot_classify_batch(images: torch.Tensor, names: list[str], path: Path, rgb: bool) -> None:
    """A grid of (up to) 16 training images with their class names."""
    n = min(len(images), 16)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    h, w = images.shape[2:]
    grid = np.full((rows * h, cols * w, 3), 255, np.uint8)
    scale = max(h / 320, 0.3)
    for i in range(n):
        img = images[i].permute(1, 2, 0).cpu().numpy()
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if rgb else np.ascontiguousarray(img)
        cv2.putText(img, names[i], (3, int(14 * scale) + 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)  # fmt: skip
        r, c = divmod(i, cols)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
    cv2.imwrite(str(path), grid)


def _detection_to_classifier(name: str) -> str:
    cls_name = f"{name}-cls"
    if not is_registered(cls_name):
        raise YoloArenaError(f"{name} is a detector and has no classification counterpart; "
                             "give a classifier (yoloarena info lists them)")  # fmt: skip
    return cls_name


def build_classifier(spec: str, nc: int, names: dict[int, str], ckpt: dict | None) -> Classifier:
    """A classifier for nc classes: from a checkpoint being resumed, a registered name (a
    detector's name gives its `-cls` counterpart, as upstream's classify/train.py converts a
    DetectionModel), or a weights file (a classifier is fine-tuned; a detection checkpoint gives
    its backbone: the tensors whose key and shape match load, the head starts new)."""
    if ckpt is not None:
        return build_model(ckpt["model_name"], num_classes=ckpt["num_classes"],
                           names=ckpt["names"])  # fmt: skip
    if is_registered(spec):
        name = spec
        if get_entry(spec).task != "classify":
            name = _detection_to_classifier(spec)
            LOGGER.warning("%s is a detector; training its classifier %s instead", spec, name)
        return build_model(name, num_classes=nc, names=names)
    if not Path(spec).is_file():
        raise not_found_error(spec, Path(spec))
    loaded = read_weights(spec)
    name = loaded.model_name
    if get_entry(name).task != "classify":
        name = _detection_to_classifier(name)
    model = build_model(name, num_classes=nc, names=names)
    own = model.state_dict()
    fits = {k: v for k, v in loaded.state_dict.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fits, strict=False)
    what = "backbone of the detector" if name != loaded.model_name else "classifier"
    LOGGER.info("starting %s from the %s in %s: %d of %d tensors loaded, %d new", name, what,
                spec, len(fits), len(own), len(own) - len(fits))  # fmt: skip
    return model


def prepare_classify(cfg, ckpt: dict | None, save_dir: Path, info) -> Run:
    """The Run of a classification training (train_job._prepare hands over to this)."""
    from .train_job import _hyp, _seed

    main = info is None or info.main
    if cfg.teacher:
        raise YoloArenaError("teacher= (distillation) is for detectors; drop it for classifiers")
    _seed(cfg.seed)
    train_data = load_classify(cfg.data, "train")
    val_data = load_classify(cfg.data, "val") if cfg.val else None
    for ds in (train_data, val_data):
        if ds is not None and main:
            LOGGER.info("%s", ds.report.summary().splitlines()[0])
            for p in ds.report.problems[:20]:
                LOGGER.warning("%s", p)
    if not len(train_data):
        raise YoloArenaError(
            f"no images in the training split of {cfg.data}; run `yoloarena check`"
        )
    model = build_classifier(cfg.model, train_data.num_classes, train_data.names, ckpt)
    hyp = _hyp(model, cfg)
    imgsz = check_imgsz(cfg.imgsz or model.imgsz, max(model.stride))
    if cfg.fraction < 1:
        n = max(1, int(len(train_data) * cfg.fraction))
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(len(train_data))[:n])
        d = train_data
        train_data = ClassifyDataset([d.files[i] for i in keep], d.labels[keep], d.names,
                                     d.report, d.source)  # fmt: skip
    if ckpt is None and main:
        save_yaml(cfg, save_dir / "args.yaml")
        save_yaml(hyp, save_dir / "hyp.yaml")
    device = info.device if info is not None else select_device(cfg.device)
    return Run(
        model, train_data, val_data, hyp, to_dict(cfg),
        save_dir, cfg.epochs, imgsz, cfg.batch, cfg.workers, device, cfg.seed, False, cfg.amp,
        cfg.patience, cfg.plots, cfg.tensorboard, ckpt, prepare=False, dist=info,
        sync_bn=cfg.sync_bn,
    )  # fmt: skip
