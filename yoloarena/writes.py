"""Checked writes of results: images, text, json, figures and videos.

A write that fails (full disk, read-only folder, a codec OpenCV lacks) raises WriteError, one
line naming the file and what to do; a partly written file is removed, so nothing half-written
is ever reported as saved.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import YoloArenaError


class WriteError(YoloArenaError, OSError):
    """A result file could not be written (an OSError too, for callers that catch those)."""


def write_failed(path: str | Path, error: OSError | str) -> WriteError:
    """The error for a failed write of path (an OSError or a reason)."""
    reason = error if isinstance(error, str) else (error.strerror or str(error))
    return WriteError(
        f"cannot write '{path}': {reason}; free some disk space or write elsewhere "
        "(project=<folder>)"
    )


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write data to path (making the folder); WriteError if any part fails."""
    path = Path(path)
    opened = False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            opened = True
            f.write(data)  # a full disk may only show when the file is flushed and closed
    except OSError as e:
        if opened:
            path.unlink(missing_ok=True)
        raise write_failed(path, e) from None
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any, **kwargs: Any) -> Path:
    return write_text(path, json.dumps(obj, **kwargs))


def append_text(path: str | Path, text: str) -> Path:
    """Append text to path; WriteError if it fails (the file keeps its earlier content)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size if path.exists() else 0
        with path.open("a", encoding="utf-8") as f:
            try:
                f.write(text)
                f.flush()
            except OSError:
                f.truncate(size)  # drop the partial append
                raise
    except OSError as e:
        raise write_failed(path, e) from None
    return path


def write_image(path: str | Path, img: np.ndarray, params: list[int] | None = None) -> Path:
    """cv2.imwrite with every failure an error: encoding (unknown suffix) or writing."""
    path = Path(path)
    suffix = path.suffix or ".jpg"
    try:
        ok, buf = cv2.imencode(suffix, img, params or [])
    except cv2.error:
        ok = False
    if not ok:
        raise write_failed(path, f"OpenCV cannot encode '{suffix}' images (use .jpg or .png)")
    return write_bytes(path, buf.tobytes())


def write_figure(fig, path: str | Path) -> Path:
    """Render a matplotlib Figure (Agg, whatever pyplot's backend is) and write it."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format=(path.suffix[1:] or "png").lower())
    return write_bytes(path, buf.getvalue())


class VideoWriter:
    """cv2.VideoWriter that reports failures: not opened (codec, folder), or a file that does
    not hold the frames written (checked when closed)."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frames = 0
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            self.writer.release()
            self._remove()
            raise write_failed(self.path, "OpenCV cannot open a video writer (mp4v) there")

    def write(self, img: np.ndarray) -> None:
        self.writer.write(img)
        self.frames += 1

    def close(self) -> None:
        """Release and check the file: a regular file that OpenCV reads back with every frame."""
        self.writer.release()
        if not self.path.is_file() or self.path.stat().st_size == 0:
            self._remove()
            raise write_failed(self.path, "the video file is missing or empty after writing")
        cap = cv2.VideoCapture(str(self.path))
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
        cap.release()
        if frames != self.frames:
            self._remove()
            got = "cannot be read back" if frames < 0 else f"holds {frames}"
            raise write_failed(self.path, f"{self.frames} frames written but the file {got}")

    def _remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
