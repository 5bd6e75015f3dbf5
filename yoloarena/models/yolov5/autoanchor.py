"""AutoAnchor: check that the anchors fit the labels (best possible recall), else evolve new ones.

BPR = share of labels whose best anchor has a width/height ratio within anchor_t. Below 0.98,
anchors are recomputed with k-means on the (whitened) label sizes and refined by a genetic search;
the new set replaces the old one only if its BPR is higher.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

LOGGER = logging.getLogger("yoloarena")


def label_wh(data, imgsz: int, rng: np.random.Generator) -> np.ndarray:
    """Label sizes (w, h px) with each image's long side resized to imgsz, times U(0.9, 1.1)."""
    image_of_box = np.repeat(np.arange(len(data.shapes)), np.diff(data.offsets))
    scale = imgsz / data.shapes.max(1) * rng.uniform(0.9, 1.1, size=len(data.shapes))
    keep = ~data.crowd
    boxes = data.boxes[keep]
    wh = np.stack((boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), 1)
    return (wh * scale[image_of_box[keep]][:, None]).astype(np.float64)


def anchor_metrics(anchors: np.ndarray, wh: np.ndarray, thr: float) -> tuple[float, float]:
    """(best possible recall, mean anchors above threshold per label)."""
    r = wh[:, None] / anchors[None]
    x = np.minimum(r, 1 / r).min(2)
    best = x.max(1)
    return float((best > 1 / thr).mean()), float((x > 1 / thr).sum(1).mean())


def _fitness(anchors: np.ndarray, wh: np.ndarray, thr: float) -> float:
    r = wh[:, None] / anchors[None]
    best = np.minimum(r, 1 / r).min(2).max(1)
    return float((best * (best > 1 / thr)).mean())


def _kmeans(points: np.ndarray, n: int, rng, iters: int = 30) -> np.ndarray:
    centres = points[rng.choice(len(points), n, replace=len(points) < n)]
    for _ in range(iters):
        nearest = ((points[:, None] - centres[None]) ** 2).sum(2).argmin(1)
        for k in range(n):
            members = points[nearest == k]
            if len(members):
                centres[k] = members.mean(0)
    return centres


def evolve_anchors(wh: np.ndarray, n: int, thr: float, rng, generations: int = 1000) -> np.ndarray:
    """n anchors (w, h pixels), sorted by area: k-means, then mutation while fitness improves."""
    wh = wh[(wh >= 2.0).all(1)]
    std = wh.std(0)
    k = _kmeans(wh / std, n, rng) * std
    best = _fitness(k, wh, thr)
    for _ in range(generations):
        v = np.ones(k.shape)
        while (v == 1).all():
            v = (
                (rng.random(k.shape) < 0.9) * rng.random() * rng.standard_normal(k.shape) * 0.1 + 1
            ).clip(0.3, 3.0)
        kg = (k * v).clip(min=2.0)
        fg = _fitness(kg, wh, thr)
        if fg > best:
            best, k = fg, kg
    return k[np.argsort(k.prod(1))]


def check_anchors(model, data, imgsz: int, thr: float, seed: int = 0) -> bool:
    """Replace the model's anchors when BPR < 0.98 and evolution finds better; True if changed."""
    rng = np.random.default_rng(seed)
    wh = label_wh(data, imgsz, rng)
    if not len(wh):
        return False
    detect = model.detect
    stride = torch.tensor(detect.strides, dtype=torch.float32).view(-1, 1, 1)
    current = (detect.anchors.detach().cpu() * stride).view(-1, 2).numpy()
    bpr, aat = anchor_metrics(current, wh, thr)
    LOGGER.info("AutoAnchor: %.2f anchors/target, best possible recall %.4f", aat, bpr)
    if bpr > 0.98:
        return False
    new = evolve_anchors(wh, len(current), thr, rng)
    new_bpr, _ = anchor_metrics(new, wh, thr)
    if new_bpr <= bpr:
        LOGGER.info(
            "AutoAnchor: evolved anchors are not better (BPR %.4f); keeping the originals", new_bpr
        )
        return False
    grid = torch.tensor(new, dtype=torch.float32).view_as(detect.anchors) / stride
    with torch.no_grad():
        detect.anchors.copy_(
            grid.to(detect.anchors.device).half().float()
        )  # fp16 precision, as saved
    LOGGER.info("AutoAnchor: new anchors (BPR %.4f) stored in the model", new_bpr)
    return True
