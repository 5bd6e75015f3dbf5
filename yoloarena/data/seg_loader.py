"""The training pipeline of segmentation datasets: TrainDataset whose samples carry polygons
through mosaic, perspective, mixup and flips, and end with ground-truth masks.

Masks are made at the end, from the moved polygons, at the prototype resolution (input size /
mask_ratio, 4 as upstream): with overlap=True (the official default) one map per image, the
instances painted largest first with values 1, 2, ... (their label rows are put in that order),
so a smaller instance wins where instances overlap; with overlap=False one 0/1 mask per instance.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..hyp import Hyp
from ..ops.letterbox import letterbox
from . import augment as A
from . import augment_seg as S
from .dataset import DatasetError, DetectionDataset
from .polygons import overlap_mask, polygon_masks
from .train_loader import PipelineSpec, TrainDataset, build_train_loader, collate


class SegTrainDataset(TrainDataset):
    """Augmented samples with masks: (uint8 CHW tensor, labels [n, 5], masks uint8 tensor
    [h, w] (overlap) or [n, h, w])."""

    def __init__(
        self,
        data: DetectionDataset,
        hyp: Hyp,
        spec: PipelineSpec,
        mask_ratio: int = 4,
        overlap: bool = True,
    ) -> None:
        if not data.has_segments:
            raise DatasetError(
                f"{data.source or 'the dataset'} has no polygons: a segmentation model needs "
                "YOLO-seg labels (class x1 y1 x2 y2 ...) or COCO json with 'segmentation'"
            )
        if spec.stretch:
            raise DatasetError("segmentation training needs a letterbox model (no stretch resize)")
        super().__init__(data, hyp, spec)
        self.seg_points, self.seg_offsets = data.seg_points, data.seg_offsets
        self.mask_ratio, self.overlap = mask_ratio, overlap

    def polygons(self, i: int) -> list[np.ndarray]:
        """The polygons of image i's kept (non-crowd) rows, in its pixels."""
        a, b = self.offsets[i], self.offsets[i + 1]
        rows = np.flatnonzero(self.keep[a:b]) + a
        return [self.seg_points[self.seg_offsets[j] : self.seg_offsets[j + 1]] for j in rows]

    def load_resized_seg(self, i: int, size: int | None = None):
        img, labels = self.load_resized(i, size)
        h0, w0 = self.shapes[i]
        sx, sy = img.shape[1] / w0, img.shape[0] / h0
        return img, labels, S.move_polygons(self.polygons(i), sx, sy)

    def __getitem__(self, key: int):  # type: ignore[override]
        epoch, index = divmod(int(key), self.n)
        rng = np.random.default_rng([self.spec.seed, epoch, index])
        hyp = self.hyp
        mosaic_ok, affine_ok = self.augmenting(epoch)
        if mosaic_ok and rng.random() < hyp.mosaic:
            img, labels, polys = self._mosaic_seg(index, rng)
            if rng.random() < hyp.mixup:
                other = self._mosaic_seg(int(rng.integers(self.n)), rng)
                img, labels, polys = S.mixup_seg((img, labels, polys), other, rng)
        else:
            img, labels, polys = self._plain_seg(index, rng, affine_ok)
        if hyp.min_box_area > 0 and len(labels):
            area = (labels[:, 3] - labels[:, 1]) * (labels[:, 4] - labels[:, 2])
            keep = np.flatnonzero(area > hyp.min_box_area)
            labels, polys = labels[keep], [polys[k] for k in keep]
        img = A.augment_hsv(img, rng, hyp.hsv_h, hyp.hsv_s, hyp.hsv_v)
        if rng.random() < hyp.flipud:
            img, labels, polys = S.flip_seg(img, labels, polys, horizontal=False)
        if rng.random() < hyp.fliplr:
            img, labels, polys = S.flip_seg(img, labels, polys, horizontal=True)
        labels, masks = self.make_masks(img.shape[:2], labels, polys)
        if self.spec.rgb:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        chw = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        return chw, labels.astype(np.float32), torch.from_numpy(masks)

    def make_masks(self, shape_hw, labels: np.ndarray, polys: list[np.ndarray]):
        """(labels, masks) at the mask resolution; overlap mode reorders labels largest first."""
        if self.overlap:
            mask, order = overlap_mask(polys, shape_hw, self.mask_ratio)
            return labels[order] if len(order) else labels, mask
        return labels, polygon_masks(polys, shape_hw, self.mask_ratio)

    def _mosaic_seg(self, index: int, rng: np.random.Generator):
        s = self.hyp.mosaic_size or self.spec.imgsz
        if s != self.spec.imgsz:
            raise DatasetError("segmentation training does not support mosaic_size != imgsz")
        picks = [index, *rng.integers(0, self.n, 3).tolist()]
        rng.shuffle(picks)
        canvas, labels, polys = S.mosaic4_seg([self.load_resized_seg(i, s) for i in picks], s, rng)
        return self._warp_seg(canvas, labels, polys, rng, (s, s))

    def _plain_seg(self, index: int, rng: np.random.Generator, affine: bool = True):
        img, labels, polys = self.load_resized_seg(index)
        shape = self.rect_shapes[index] if self.rect_shapes is not None else (self.spec.imgsz,) * 2
        img, info = letterbox(img, shape, scaleup=True)
        (sx, sy), (px, py) = info.scale_xy, info.pad_xy
        labels = A.resize_labels(labels, sx, sy, px, py)
        polys = S.move_polygons(polys, sx, sy, px, py)
        h, w = img.shape[:2]
        labels, polys = S.clip_to_image(labels, polys, w, h)
        if not affine:
            return img, labels, polys
        return self._warp_seg(img, labels, polys, rng, tuple(shape))

    def _warp_seg(self, img, labels, polys, rng, out_hw):
        h = self.hyp
        return S.random_perspective_seg(
            img, labels, polys, rng, out_hw, h.degrees, h.translate, h.scale, h.shear,
            h.perspective, scale_range=h.scale_range, aspect_max=h.box_aspect_max,
        )  # fmt: skip


def collate_seg(batch: list[tuple[torch.Tensor, np.ndarray, torch.Tensor]]):
    """(images, BatchTargets with masks): [B, h, w] maps (overlap) or [M, h, w] masks."""
    images, targets = collate([(img, labels) for img, labels, _ in batch])
    masks = [m for _, _, m in batch]
    overlap = masks[0].dim() == 2
    targets.masks = torch.stack(masks) if overlap else torch.cat(masks)
    targets.overlap = overlap
    return images, targets


def build_seg_train_loader(
    dataset: SegTrainDataset, batch: int, workers: int, rank: int = 0, world: int = 1,
    pin: bool = False,
):  # fmt: skip
    """build_train_loader for segmentation samples (the same sampler, collate_seg)."""
    return build_train_loader(dataset, batch, workers, rank, world, pin, collate_fn=collate_seg)
