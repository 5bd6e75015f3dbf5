"""Reading images from disk with OpenCV, with messages that name the file and the problem."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import YoloArenaError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dng", ".mpo", ".pfm", ".jp2"}
)
VIDEO_SUFFIXES = frozenset(
    {
        ".mp4",
        ".avi",
        ".mov",
        ".mkv",
        ".m4v",
        ".wmv",
        ".mpg",
        ".mpeg",
        ".webm",
        ".ts",
        ".asf",
        ".gif",
    }
)


class ImageReadError(YoloArenaError):
    """An image file that cannot be used (missing, empty, corrupt, unsupported)."""


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file as HWC BGR uint8 (EXIF orientation applied, gray/alpha -> BGR)."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except OSError as e:
        raise ImageReadError(f"{path}: cannot be read ({e.strerror or e})") from None
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        img = _decode_truncated(path)
    if img is None:
        raise ImageReadError(f"{path}: cannot be decoded (corrupt or not an image)")
    return img


def _decode_truncated(path: Path) -> np.ndarray | None:
    """A truncated JPEG/PNG that OpenCV refuses, decoded as far as it goes (the rest is grey)."""
    from PIL import Image, ImageFile, ImageOps

    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with Image.open(path) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (OSError, ValueError, SyntaxError):
        return None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return np.ascontiguousarray(rgb[:, :, ::-1])


def to_bgr(img: np.ndarray, rgb: bool = False) -> np.ndarray:
    """An HWC uint8 BGR array from a gray, BGR(A) or RGB(A) array (rgb=True: channels are RGB)."""
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise YoloArenaError(f"image array of shape {img.shape} is not HxW, HxWx3 or HxWx4")
    if img.dtype != np.uint8:
        if img.dtype == np.uint16:
            img = (img >> 8).astype(np.uint8)
        elif np.issubdtype(img.dtype, np.floating) and img.max() <= 1.0:
            img = (img * 255).round().clip(0, 255).astype(np.uint8)
        else:
            img = img.clip(0, 255).astype(np.uint8)
    c = img.shape[2]
    if c == 1:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if c == 4:
        return cv2.cvtColor(img, cv2.COLOR_RGBA2BGR if rgb else cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(img[:, :, ::-1]) if rgb else img
