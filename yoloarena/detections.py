"""`Detections`: what a hub-style call `model(images)` returns, with the torch.hub interface.

It is a list of per-image `Results` (so ``for r in results`` and ``results[0]`` work as with
``predict``) that also carries YOLOv5's `Detections` interface, the one tutorials and notebooks
use: ``print()``, ``show()``, ``save()``, ``crop()``, ``render()``, ``pandas()``, ``tolist()``
and the fields ``xyxy``, ``xyxyn``, ``xywh``, ``xywhn`` (rows ``x, y, x|w, y|h, conf, class``;
``xywh`` is the centre form, YOLOv5's public name), ``ims`` (RGB), ``pred``, ``names``,
``files``, ``n``, ``t`` (ms per image: pre-process, inference, NMS) and ``s`` (input shape).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from copy import copy
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .errors import YoloArenaError
from .ops.boxes import xyxy_to_cxcywh
from .structures import Results

_XYXY_COLUMNS = ("xmin", "ymin", "xmax", "ymax", "confidence", "class", "name")
_XYWH_COLUMNS = ("xcenter", "ycenter", "width", "height", "confidence", "class", "name")


class MissingDependencyError(YoloArenaError, ImportError):
    """An optional package a method needs is not installed."""


class Detections(list):
    """Detections of a batch of images: a list of `Results` with YOLOv5's hub interface."""

    def __init__(
        self,
        results: Sequence[Results],
        files: Sequence[str],
        shape: Sequence[int],
        times: Sequence[float] = (0.0, 0.0, 0.0),
        names: dict[int, str] | None = None,
    ) -> None:
        super().__init__(results)
        self.names = names if names is not None else (results[0].names if results else {})
        self.files = list(files)
        self.n = len(self)
        self.t = tuple(float(v) for v in times)  # ms per image: pre-process, inference, NMS
        self.times = self.t
        self.s = tuple(int(v) for v in shape)  # the input batch, BCHW
        self.ims = [_rgb(r) for r in results]
        self.pred = [
            torch.cat((r.boxes, r.scores[:, None], r.labels[:, None].float()), 1) for r in results
        ]
        gains = [torch.tensor([w, h, w, h, 1.0, 1.0]) for h, w in (r.orig_shape for r in results)]
        self.xyxy = self.pred
        self.xywh = [torch.cat((xyxy_to_cxcywh(p[:, :4]), p[:, 4:]), 1) for p in self.pred]
        self.xyxyn = [p / g for p, g in zip(self.xyxy, gains, strict=True)]
        self.xywhn = [p / g for p, g in zip(self.xywh, gains, strict=True)]

    # ------------------------------------------------------------------ text
    def __str__(self) -> str:
        lines = []
        for i, r in enumerate(self):
            h, w = r.orig_shape
            lines.append(f"image {i + 1}/{self.n}: {h}x{w} {r.summary()}")
        pre, inference, nms = self.t
        lines.append(
            f"Speed: {pre:.1f}ms pre-process, {inference:.1f}ms inference, {nms:.1f}ms NMS per "
            f"image at shape {self.s}"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"yoloarena {self.__class__} instance\n{self}"

    def print(self) -> None:
        """Write str(self) to stdout: one line per image, then the Speed line."""
        print(self)

    # ------------------------------------------------------------------ images
    def _annotated(self, i: int, labels: bool = True) -> np.ndarray:
        """Image i with its boxes drawn (BGR)."""
        return self[i].plot(labels=labels)

    def render(self, labels: bool = True) -> list[np.ndarray]:
        """Draw the boxes into `ims` (RGB arrays) and return them."""
        for i in range(self.n):
            self.ims[i] = np.ascontiguousarray(self._annotated(i, labels)[:, :, ::-1])
        return self.ims

    def save(
        self, labels: bool = True, save_dir: str | Path = "runs/detect/exp", exist_ok: bool = False
    ) -> Path:
        """Write the annotated images to save_dir (exp, exp2, ... unless exist_ok); returns it."""
        folder = increment_dir(save_dir, exist_ok)
        for i, name in enumerate(_unique_names(self.files)):
            _write_image(folder / name, self._annotated(i, labels))
        print(f"Saved {self.n} image{'s' * (self.n > 1)} to {folder}")
        return folder

    def show(self, labels: bool = True, save_dir: str | Path = "runs/detect/exp") -> None:
        """Display the annotated images: inline in a notebook, else in the system's image viewer;
        on a machine without a display they are saved to save_dir (incremented) instead."""
        from PIL import Image

        pictures = [Image.fromarray(self._annotated(i, labels)[:, :, ::-1]) for i in range(self.n)]
        if _in_notebook():
            from IPython.display import display

            for picture in pictures:
                display(picture)
            return
        if _has_display():
            from PIL import ImageShow

            shown = [ImageShow.show(p, title=f) for p, f in zip(pictures, self.files, strict=True)]
            if all(shown):
                return
        folder = self.save(labels, save_dir)
        print(f"show(): no display to show images on; open them in {folder}")

    def crop(
        self, save: bool = True, save_dir: str | Path = "runs/detect/exp", exist_ok: bool = False
    ) -> list[dict[str, Any]]:
        """One dict per detection {box, conf, cls, label, im}, lowest confidence first as in
        YOLOv5; `im` is the crop (the box grown by 2% + 10 px, BGR as YOLOv5 returns it). With
        save, each crop is written to save_dir/crops/<class name>/<file> (file, file2, ...)."""
        folder = increment_dir(save_dir, exist_ok) if save else None
        crops = []
        for i, (r, pred) in enumerate(zip(self, self.pred, strict=True)):
            bgr = r.orig_img if r.orig_img is not None else self.ims[i][:, :, ::-1]
            for *box, conf, cls in reversed(pred):
                name = r.name_of(int(cls))
                piece = _crop_box(torch.stack(box), bgr)
                if folder is not None and piece.size:
                    out = _free_file(folder / "crops" / name / self.files[i])
                    _write_image(out, piece, [cv2.IMWRITE_JPEG_QUALITY, 95])
                crops.append({"box": box, "conf": conf, "cls": cls,
                              "label": f"{name} {float(conf):.2f}", "im": piece})  # fmt: skip
        if folder is not None:
            print(f"Saved results to {folder}")
        return crops

    # ------------------------------------------------------------------ tables
    def pandas(self) -> Detections:
        """A copy whose xyxy, xyxyn, xywh, xywhn are pandas DataFrames (one per image), columns
        xmin ymin xmax ymax (or xcenter ycenter width height) confidence class name."""
        try:
            import pandas as pd
        except ImportError:
            raise MissingDependencyError(
                "Detections.pandas() needs pandas: pip install 'yoloarena[hub]' (or pandas)"
            ) from None
        new = copy(self)
        for key, columns in (("xyxy", _XYXY_COLUMNS), ("xyxyn", _XYXY_COLUMNS),
                             ("xywh", _XYWH_COLUMNS), ("xywhn", _XYWH_COLUMNS)):  # fmt: skip
            tables = []
            for rows in getattr(self, key):
                records = [[*row[:5], int(row[5]), self.names.get(int(row[5]), str(int(row[5])))]
                           for row in rows.tolist()]  # fmt: skip
                tables.append(pd.DataFrame(records, columns=list(columns)))
            setattr(new, key, tables)
        return new

    def tolist(self) -> list[Detections]:
        """One Detections per image."""
        return [Detections([r], [f], self.s, self.t, self.names)
                for r, f in zip(self, self.files, strict=True)]  # fmt: skip


def _rgb(r: Results) -> np.ndarray:
    if r.orig_img is None:
        return np.full((*r.orig_shape, 3), 114, dtype=np.uint8)
    return r.orig_img[:, :, ::-1]


def _crop_box(box: torch.Tensor, img: np.ndarray, gain: float = 1.02, pad: int = 10):
    """The crop of img under an xyxy box grown by gain and pad pixels, clipped to the image."""
    c = xyxy_to_cxcywh(box.float().view(1, 4))[0]
    c[2:] = c[2:] * gain + pad
    half = c[2:] / 2
    x1, y1, x2, y2 = torch.cat((c[:2] - half, c[:2] + half)).long().tolist()
    h, w = img.shape[:2]
    x1, x2 = min(max(x1, 0), w), min(max(x2, 0), w)
    y1, y2 = min(max(y1, 0), h), min(max(y2, 0), h)
    return img[y1:y2, x1:x2]


def _write_image(path: Path, img: np.ndarray, params: Sequence[int] = ()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        ok = cv2.imwrite(str(path), np.ascontiguousarray(img), list(params))
    except cv2.error:
        ok = False
    if not ok:
        raise OSError(f"could not write image '{path}' (check the folder and the file name)")


def _unique_names(files: Sequence[str]) -> list[str]:
    """File names with repeats made unique (bus.jpg, bus_2.jpg, ...), so no image overwrites."""
    seen: set[str] = set()
    out = []
    for name in files:
        stem, suffix, k, unique = Path(name).stem, Path(name).suffix, 2, name
        while unique in seen:
            unique, k = f"{stem}_{k}{suffix}", k + 1
        seen.add(unique)
        out.append(unique)
    return out


def _free_file(path: Path) -> Path:
    """path, or path with 2, 3, ... before the suffix when it exists."""
    k, out = 2, path
    while out.exists():
        out, k = path.with_name(f"{path.stem}{k}{path.suffix}"), k + 1
    return out


def increment_dir(path: str | Path, exist_ok: bool = False) -> Path:
    """Create and return path, or path2, path3, ... when it exists (unless exist_ok)."""
    path = Path(path)
    if path.exists() and not exist_ok:
        k = 2
        while path.with_name(f"{path.name}{k}").exists():
            k += 1
        path = path.with_name(f"{path.name}{k}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _in_notebook() -> bool:
    """Running inside a Jupyter/Colab kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _has_display() -> bool:
    """A graphical session the system image viewer can open a window on."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
