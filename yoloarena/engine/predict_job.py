"""`yoloarena predict`: run a model on a source and write runs/predict/<name>/.

Writes annotated images (annotated .mp4 for videos), labels/<stem>.txt with save_txt,
crops/<class>/ with save_crop, and predictions.json with every detection.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2

from ..config import save_yaml
from ..export.runtime import precision_of
from ..loading import load
from ..structures import Results
from .predictor import predict
from .runs import run_dir

LOGGER = logging.getLogger("yoloarena")


@dataclass
class PredictConfig:
    """Arguments of `yoloarena predict` (Ultralytics names)."""

    model: str = "yolov5s"
    source: str = ""
    imgsz: int | None = None  # None: the model's own size (640; 416 for DAMO-YOLO Nano)
    conf: float | None = None  # None: the family's default (YOLOv5 0.25, DAMO-YOLO 0.25)
    iou: float | None = None  # None: the family's default (YOLOv5 0.45, DAMO-YOLO 0.7)
    max_det: int | None = None
    agnostic: bool = False
    classes: list[int] | None = None
    batch: int = 1
    device: str = "cpu"
    half: bool = False
    precision: str = ""  # OpenVINO files: f32, bf16 or f16 (default: the file's own)
    vid_stride: int = 1
    save: bool = True
    save_txt: bool = False
    save_conf: bool = False
    save_crop: bool = False
    line_width: int | None = None
    project: str = "runs"
    name: str = "exp"
    exist_ok: bool = False
    verbose: bool = True


class _VideoWriters:
    """One annotated .mp4 per source video, opened on its first frame."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writers: dict[str, cv2.VideoWriter] = {}

    def write(self, r: Results, img) -> None:
        key = str(r.path)
        if key not in self.writers:
            cap = cv2.VideoCapture(key)
            fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
            cap.release()
            out = self.folder / f"{Path(key).stem}.mp4"
            h, w = img.shape[:2]
            self.writers[key] = cv2.VideoWriter(
                str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h)
            )
        self.writers[key].write(img)

    def close(self) -> None:
        for w in self.writers.values():
            w.release()


def run_predict(cfg: PredictConfig) -> Path:
    """Predict on cfg.source and save everything under runs/predict/<name>/; returns that folder."""
    if not cfg.source:
        from ..errors import YoloArenaError

        raise YoloArenaError("predict needs source=<image, folder, glob, list.txt or video>")
    model = load(cfg.model, device=cfg.device, precision=cfg.precision or None, half=cfg.half)
    model = model.deploy()
    out = run_dir(cfg.project, "predict", cfg.name, cfg.exist_ok)
    save_yaml(cfg, out / "args.yaml")
    videos = _VideoWriters(out)
    records, count, totals = [], 0, {}
    stream = predict(
        model, cfg.source, conf=cfg.conf, iou=cfg.iou, imgsz=cfg.imgsz, max_det=cfg.max_det,
        agnostic=cfg.agnostic, classes=cfg.classes, batch=cfg.batch, half=cfg.half,
        vid_stride=cfg.vid_stride, stream=True,
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
    finally:
        videos.close()
        (out / "predictions.json").write_text(json.dumps(records, indent=1))
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
            cv2.imwrite(str(out / f"{_stem(r)}{suffix or '.jpg'}"), img)
    if cfg.save_txt:
        label = out / "labels" / f"{_stem(r)}.txt"
        label.parent.mkdir(exist_ok=True)
        label.write_text("")
        r.save_txt(label, conf=cfg.save_conf)
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
