"""The training data pipeline: augmented samples, an epoch-aware sampler, collation.

Each sample is drawn with its own generator seeded by (seed, epoch, index), so a run is
reproducible whatever the number of workers, and a resumed run sees the same images as an
uninterrupted one. The sampler hands the epoch to the workers inside the key it yields
(epoch * N + index). Labels live in flat numpy arrays and file names in one numpy string array,
so forked workers do not copy Python objects page by page (no RAM growth over epochs).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..hyp import Hyp
from ..ops.letterbox import letterbox
from ..structures import BatchTargets
from . import augment as A
from .dataset import DetectionDataset
from .images import read_image


@dataclass(frozen=True)
class PipelineSpec:
    imgsz: int
    epochs: int
    seed: int = 0
    rgb: bool = True  # the channel order the network wants
    rect: bool = False  # rectangular batches, no mosaic, no shuffle
    batch: int = 16
    stride: int = 32
    stretch: bool = False  # resize to a square ignoring the aspect ratio (DAMO-YOLO)


class TrainDataset(Dataset):
    """Augmented samples of a DetectionDataset: (uint8 CHW tensor, labels [n, 5] float32)."""

    def __init__(self, data: DetectionDataset, hyp: Hyp, spec: PipelineSpec) -> None:
        self.files = np.array(data.files)
        self.offsets = data.offsets
        keep = ~data.crowd
        self.rows = np.concatenate((data.labels[:, None].astype(np.float32), data.boxes), 1)
        self.keep = keep
        self.shapes = data.shapes
        self.hyp, self.spec = hyp, spec
        self.n = len(data)
        self.rect_shapes = rect_train_shapes(self.shapes, spec) if spec.rect else None

    def __len__(self) -> int:
        return self.n

    def labels(self, i: int) -> np.ndarray:
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.rows[a:b][self.keep[a:b]]

    def load_resized(self, i: int, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The image at size (default imgsz) and its labels: long side to size (letterbox
        families), or stretched to size x size (stretch families); bilinear."""
        size = size or self.spec.imgsz
        img = read_image(str(self.files[i]))
        h0, w0 = img.shape[:2]
        if self.spec.stretch:
            new = (size, size)
        else:
            r = size / max(h0, w0)
            new = (int(w0 * r), int(h0 * r))
        if new != (w0, h0):
            img = cv2.resize(img, new, interpolation=cv2.INTER_LINEAR)
        h, w = img.shape[:2]
        return img, A.resize_labels(self.labels(i), w / w0, h / h0)

    def augmenting(self, epoch: int) -> tuple[bool, bool]:
        """(mosaic and mixup allowed, affine allowed) in this epoch."""
        last = self.spec.epochs - epoch
        no_aug = last <= self.hyp.no_aug_epochs
        mosaic = not self.spec.rect and not no_aug and last > self.hyp.close_mosaic
        return mosaic, not no_aug

    def __getitem__(self, key: int) -> tuple[torch.Tensor, np.ndarray]:
        epoch, index = divmod(int(key), self.n)
        rng = np.random.default_rng([self.spec.seed, epoch, index])
        hyp = self.hyp
        mosaic_ok, affine_ok = self.augmenting(epoch)
        if mosaic_ok and rng.random() < hyp.mosaic:
            img, labels = self._mosaic(index, rng)
            if rng.random() < hyp.mixup:
                img, labels = self._mixup(img, labels, rng)
        else:
            img, labels = self._plain(index, rng, affine_ok)
        if hyp.min_box_area > 0 and len(labels):
            area = (labels[:, 3] - labels[:, 1]) * (labels[:, 4] - labels[:, 2])
            labels = labels[area > hyp.min_box_area]
        img = A.augment_hsv(img, rng, hyp.hsv_h, hyp.hsv_s, hyp.hsv_v)
        if rng.random() < hyp.flipud:
            img, labels = A.flip(img, labels, horizontal=False)
        if rng.random() < hyp.fliplr:
            img, labels = A.flip(img, labels, horizontal=True)
        if self.spec.rgb:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))), labels.astype(
            np.float32
        )

    def _mosaic(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Four images on a 2s canvas, warped back to s x s (s = mosaic_size or imgsz), then
        resized to imgsz when the mosaic is built larger (DAMO-YOLO Nano)."""
        s = self.hyp.mosaic_size or self.spec.imgsz
        picks = [index, *rng.integers(0, self.n, 3).tolist()]
        rng.shuffle(picks)
        canvas, labels = A.mosaic4([self.load_resized(i, s) for i in picks], s, rng)
        img, labels = self._warp(canvas, labels, rng, (s, s))
        if s != self.spec.imgsz:
            img, labels = A.stretch(img, labels, self.spec.imgsz)
        return img, labels

    def _mixup(self, img: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
        if self.hyp.mixup_style == "damo":
            if not len(labels):
                return img, labels
            with_boxes = np.flatnonzero(np.diff(self.offsets) > 0)
            other = int(with_boxes[rng.integers(len(with_boxes))]) if len(with_boxes) else 0
            raw = read_image(str(self.files[other]))
            return A.mixup_damo((img, labels), (raw, self.labels(other)), rng)
        return A.mixup((img, labels), self._mosaic(int(rng.integers(self.n)), rng), rng)

    def _plain(self, index: int, rng: np.random.Generator, affine: bool = True):
        img, labels = self.load_resized(index)
        if self.spec.stretch:
            shape = (self.spec.imgsz, self.spec.imgsz)
        else:
            shape = (
                self.rect_shapes[index] if self.rect_shapes is not None else (self.spec.imgsz,) * 2
            )
            img, info = letterbox(img, shape, scaleup=True)
            (sx, sy), (px, py) = info.scale_xy, info.pad_xy
            labels = A.resize_labels(labels, sx, sy, px, py)
        if not affine:
            return img, labels
        return self._warp(img, labels, rng, tuple(shape))

    def _warp(self, img: np.ndarray, labels: np.ndarray, rng: np.random.Generator, out_hw):
        h = self.hyp
        return A.random_perspective(
            img, labels, rng, out_hw, h.degrees, h.translate, h.scale, h.shear, h.perspective,
            scale_range=h.scale_range, aspect_max=h.box_aspect_max,
        )  # fmt: skip


def rect_train_shapes(shapes_hw: np.ndarray, spec: PipelineSpec) -> np.ndarray:
    """Per image, the letterbox shape of its batch when images are batched by aspect ratio."""
    order = rect_order(shapes_hw)
    out = np.zeros((len(shapes_hw), 2), np.int64)
    for start in range(0, len(order), spec.batch):
        idx = order[start : start + spec.batch]
        ratio = shapes_hw[idx, 0] / shapes_hw[idx, 1]
        lo, hi = ratio.min(), ratio.max()
        rel = (hi, 1.0) if hi < 1 else (1.0, 1 / lo) if lo > 1 else (1.0, 1.0)
        out[idx] = np.ceil(np.array(rel) * spec.imgsz / spec.stride).astype(int) * spec.stride
    return out


def rect_order(shapes_hw: np.ndarray) -> np.ndarray:
    return np.argsort(shapes_hw[:, 0] / shapes_hw[:, 1])


class EpochSampler(Sampler[int]):
    """Yields epoch * n + index: shuffled per (seed, epoch), or in rectangular-batch order.

    With rank/world it yields this rank's share (every world-th index, padded to equal length).
    """

    def __init__(
        self, dataset: TrainDataset, shuffle: bool, seed: int, rank: int = 0, world: int = 1
    ):
        self.n, self.shuffle, self.seed = len(dataset), shuffle, seed
        self.rank, self.world = rank, world
        self.order = None if shuffle else rect_order(dataset.shapes) if dataset.spec.rect else None
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.n / self.world)

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            order = torch.randperm(self.n, generator=g).numpy()
        else:
            order = self.order if self.order is not None else np.arange(self.n)
        total = len(self) * self.world
        order = np.concatenate([order, order[: total - self.n]])[self.rank : total : self.world]
        return iter((self.epoch * self.n + order).tolist())


def collate(batch: list[tuple[torch.Tensor, np.ndarray]]) -> tuple[torch.Tensor, BatchTargets]:
    images = torch.stack([b[0] for b in batch])
    rows = [torch.from_numpy(b[1]) for b in batch]
    index = torch.cat([torch.full((len(r),), i, dtype=torch.long) for i, r in enumerate(rows)])
    rows_t = torch.cat(rows) if rows else torch.zeros(0, 5)
    targets = BatchTargets(
        index, rows_t[:, 0].long(), rows_t[:, 1:5].float(), tuple(images.shape[2:])
    )
    return images, targets


def _worker_init(_: int) -> None:
    cv2.setNumThreads(0)
    torch.set_num_threads(1)


def build_train_loader(
    dataset: TrainDataset,
    batch: int,
    workers: int,
    rank: int = 0,
    world: int = 1,
    pin: bool = False,
    collate_fn=collate,
) -> tuple[DataLoader, EpochSampler]:
    sampler = EpochSampler(dataset, not dataset.spec.rect, dataset.spec.seed, rank, world)
    loader = DataLoader(
        dataset, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=collate_fn,
        persistent_workers=workers > 0, pin_memory=pin, worker_init_fn=_worker_init,
        prefetch_factor=4 if workers > 0 else None,
    )  # fmt: skip
    return loader, sampler
