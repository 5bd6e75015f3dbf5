"""Prediction sources: files, folders, globs, list files, http(s) URLs, arrays, PIL images, videos.

`iter_frames` yields one Frame per image or video frame, lazily: a video is decoded frame by
frame, never buffered whole. A file that cannot be read yields a Frame with `error` set, so the
caller can warn and go on with the good ones.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import YoloArenaError
from .images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, ImageReadError, read_image, to_bgr
from .urls import DownloadError, is_url, read_url_image


@dataclass
class Frame:
    """One image to run on: BGR pixels, or the reason it could not be read."""

    image: np.ndarray | None
    path: str | None = None
    frame: int | None = None  # index in its video; None for still images
    frames: int | None = None  # frame count of the video, when known
    fps: float | None = None
    error: str | None = None


def iter_frames(source: Any, rgb: bool = False, vid_stride: int = 1) -> Iterator[Frame]:
    """Frames of source. rgb=True: numpy arrays are RGB (as from PIL); the default is BGR."""
    if isinstance(source, np.ndarray):
        yield Frame(to_bgr(source, rgb=rgb), path=None)
    elif is_pil(source):
        from PIL import ImageOps

        upright = ImageOps.exif_transpose(source) or source
        yield Frame(to_bgr(np.asarray(upright.convert("RGB")), rgb=True), path=_pil_path(source))
    elif isinstance(source, list | tuple):
        for item in source:
            yield from iter_frames(item, rgb, vid_stride)
    elif is_url(source):
        yield _url_frame(source)
    elif isinstance(source, str | Path):
        for path in expand_paths(source):
            yield from _frames_of_file(path, vid_stride)
    else:
        raise YoloArenaError(
            f"source of type {type(source).__name__} is not supported; give a path, folder, glob, "
            "list, numpy array (HWC) or PIL image"
        )


def expand_paths(source: str | Path) -> list[Path]:
    """Image and video files named by a file, folder, glob pattern or .txt list of paths."""
    text = str(source)
    path = Path(text).expanduser()
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True))
        files = [p for p in files if p.is_file()]
        if not files:
            raise YoloArenaError(f"source '{text}' matches no files")
        return files
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
        )
        if not files:
            raise YoloArenaError(f"source folder '{path}' has no images or videos")
        return files
    if path.is_file() and path.suffix.lower() == ".txt":
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
        return [p if p.is_absolute() else path.parent / p for p in map(Path, lines)]
    if path.is_file():
        return [path]
    raise YoloArenaError(f"source '{text}' not found (give an image, video, folder or glob)")


def _frames_of_file(path: Path, vid_stride: int) -> Iterator[Frame]:
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        yield from _video_frames(path, vid_stride)
        return
    if suffix not in IMAGE_SUFFIXES:
        yield Frame(None, str(path), error=f"{path}: unsupported file type '{suffix}'")
        return
    try:
        yield Frame(read_image(path), str(path))
    except ImageReadError as e:
        yield Frame(None, str(path), error=str(e))


def _url_frame(url: str) -> Frame:
    try:
        return Frame(read_url_image(url), url)
    except DownloadError as e:
        return Frame(None, url, error=str(e))


def _video_frames(path: Path, vid_stride: int) -> Iterator[Frame]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        yield Frame(None, str(path), error=f"{path}: cannot be opened as a video")
        return
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    index = 0
    try:
        while True:
            ok = cap.grab()
            if not ok:
                break
            if index % vid_stride == 0:
                ok, img = cap.retrieve()
                if not ok:
                    break
                yield Frame(img, str(path), frame=index, frames=total, fps=fps / vid_stride)
            index += 1
    finally:
        cap.release()


def is_pil(obj: Any) -> bool:
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "convert")


def _pil_path(img: Any) -> str | None:
    name = getattr(img, "filename", None)
    return str(name) if name else None
