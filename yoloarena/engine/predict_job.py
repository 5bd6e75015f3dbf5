"""`yoloarena predict`: run a model on a source and write runs/predict/<name>/ (project=X
name=Y: X/Y).

Writes annotated images (annotated .mp4 for videos), labels/<stem>.txt with save_txt,
crops/<class>/ with save_crop, and predictions.json with every detection. Segmentation models
add masks: drawn as overlays, YOLO-seg polygon rows in labels/, COCO RLE in predictions.json.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2

from ..config import param, save_yaml
from ..devices import FORMS, check_device
from ..errors import YoloArenaError
from ..export.runtime import precision_of
from ..loading import load_model
from ..structures import Results
from ..writes import VideoWriter, WriteError, write_image, write_json, write_text
from .backends import check_backend
from .predictor import predict
from .runs import run_dir

LOGGER = logging.getLogger("yoloarena")


@dataclass
class PredictConfig:
    """Arguments of `yoloarena predict` (Ultralytics names)."""

    model: str = param("", "weights file, exported file or registered name (required)")
    source: str = param("", "image, folder, glob, .txt list, video or http(s) URL")
    imgsz: int | None = param(None, "inference size (None: the model's own, 640 or 416)", gt=0)
    conf: float | None = param(
        None, "confidence threshold (None: the family's default)", ge=0, le=1
    )
    iou: float | None = param(None, "NMS IoU threshold (None: the family's default)", ge=0, le=1)
    max_det: int | None = param(None, "detections per image at most (None: 300)", ge=1)
    agnostic: bool = param(False, "class-agnostic NMS")
    classes: list[int] | None = param(None, "keep only these class indices, e.g. 0,2", ge=0)
    batch: int = param(1, "images per forward pass", ge=1)
    device: str = param("cpu", f"device: {FORMS}", check=check_device)
    half: bool = param(False, "FP16 inference (CUDA; OpenVINO files: the CPU's 16-bit float)")
    precision: str = param("", "OpenVINO files: f32, bf16 or f16 ('': the file's own)")
    backend: str = param(
        "",
        "what runs the network: torch, onnx, openvino, or auto (the fastest measured here, "
        "exported once to a cache); '': the model as loaded",
        check=check_backend,
    )
    augment: bool = param(False, "test-time augmentation (flips and scales, merged before NMS)")
    retina_masks: bool = param(False, "segmentation: upsample masks to the input size before "
                               "cropping to the box (sharper edges)")  # fmt: skip
    vid_stride: int = param(1, "use every n-th video frame", ge=1)
    save: bool = param(True, "save annotated images and videos")
    save_txt: bool = param(False, "save labels/<stem>.txt (YOLO format; segmentation: polygons)")
    save_conf: bool = param(False, "add the confidence to save_txt rows")
    save_crop: bool = param(False, "save crops/<class>/ of every detection")
    line_width: int | None = param(
        None, "box line width in pixels (None: from the image size)", ge=1
    )
    project: str = param("", "run folder parent ('': runs/predict); results go to project/name")
    name: str = param("exp", "run folder name (exp, exp2, ... unless exist_ok)")
    exist_ok: bool = param(False, "reuse project/name instead of incrementing")
    verbose: bool = param(True, "log every image")


class _VideoWriters:
    """One annotated .mp4 per source video, opened on its first frame, at the rate of the frames
    it gets (the video's fps divided by vid_stride)."""

    def __init__(self, folder: Path, vid_stride: int = 1) -> None:
        self.folder, self.vid_stride = folder, max(vid_stride, 1)
        self.writers: dict[str, VideoWriter] = {}

    def write(self, r: Results, img) -> None:
        key = str(r.path)
        if key not in self.writers:
            cap = cv2.VideoCapture(key)
            fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
            cap.release()
            h, w = img.shape[:2]
            out = self.folder / f"{Path(key).stem}.mp4"
            self.writers[key] = VideoWriter(out, fps / self.vid_stride, (w, h))
        self.writers[key].write(img)

    def close(self) -> None:
        """Finish every video; WriteError if one is not fully written."""
        writers, self.writers = list(self.writers.values()), {}
        for w in writers:
            w.close()

    def abort(self) -> None:
        for w in self.writers.values():
            w.writer.release()
        self.writers = {}


def run_predict(cfg: PredictConfig, errors: list[str] | None = None) -> Path:
    """Predict on cfg.source and save everything in the run folder; returns that folder.

    Inputs that cannot be used are skipped with a warning and appended to errors (the CLI then
    exits with 1); a failed write stops with WriteError."""
    if not cfg.model:
        raise YoloArenaError(
            "predict needs model=<weights .pt/.pth, an exported file, or a registered name for "
            "random weights>"
        )
    if not cfg.source:
        raise YoloArenaError(
            "predict needs source=<image, folder, glob, list.txt, video or http(s) URL>"
        )
    model = load_model(
        cfg.model, device=cfg.device, precision=cfg.precision or None, half=cfg.half
    ).deploy()
    out = run_dir(cfg.project, "predict", cfg.name, cfg.exist_ok)
    save_yaml(cfg, out / "args.yaml")
    videos = _VideoWriters(out, cfg.vid_stride)
    records, count, totals = [], 0, {}
    stream = predict(
        model, cfg.source, conf=cfg.conf, iou=cfg.iou, imgsz=cfg.imgsz, max_det=cfg.max_det,
        agnostic=cfg.agnostic, classes=cfg.classes, batch=cfg.batch, half=cfg.half,
        vid_stride=cfg.vid_stride, stream=True, augment=cfg.augment, errors=errors,
        retina_masks=cfg.retina_masks,
        backend=cfg.backend,
    )  # fmt: skip
    try:
        for r in stream:
            count += 1
            _save_one(r, cfg, out, videos)
            records.append(_record(r))
            for k, v in r.speed.items():
                totals[k] = totals.get(k, 0.0) + v
            if cfg.verbose:
                LOGGER.info("%d %s", count, r.verbose())
        videos.close()
    except KeyboardInterrupt:
        videos.abort()
        with contextlib.suppress(WriteError):  # keep what was done before the interrupt
            write_json(out / "predictions.json", records, indent=1)
        raise
    except BaseException:
        videos.abort()
        raise
    write_json(out / "predictions.json", records, indent=1)
    if count:
        per = ", ".join(f"{v / count:.1f}ms {k}" for k, v in totals.items())
        LOGGER.info("Speed: %s per image at imgsz=%d, %s", per, cfg.imgsz or model.imgsz,
                    precision_of(model, cfg.half))  # fmt: skip
    LOGGER.info("%d images, results saved to %s", count, out)
    return out


def _stem(r: Results) -> str:
    stem = Path(r.path).stem if r.path else "image"
    return f"{stem}_{r.frame}" if r.frame is not None else stem


def _save_one(r: Results, cfg: PredictConfig, out: Path, videos: _VideoWriters) -> None:
    if cfg.save:
        img = r.plot(line_width=cfg.line_width)
        if r.frame is not None:
            videos.write(r, img)
        else:
            suffix = Path(r.path).suffix if r.path else ".jpg"
            write_image(out / f"{_stem(r)}{suffix or '.jpg'}", img)
    if cfg.save_txt:
        write_text(out / "labels" / f"{_stem(r)}.txt", r.txt_rows(conf=cfg.save_conf))
    if cfg.save_crop:
        r.save_crop(out / "crops", _stem(r))


def _record(r: Results) -> dict:
    return {
        "path": r.path,
        "frame": r.frame,
        "shape": list(r.orig_shape),
        "speed_ms": {k: round(v, 2) for k, v in r.speed.items()},
        "detections": r.to_list(),
    }
