"""Reading images from disk with OpenCV, with messages that name the file and the problem.

Every file is checked against a pixel limit before it is decoded (its size is read from the
header), as PIL and OpenCV do: a decompression bomb or a header claiming absurd dimensions is
refused with a message instead of exhausting memory. The limit is PIL's own refusal threshold
(2 x PIL.Image.MAX_IMAGE_PIXELS = 178,956,970 pixels, e.g. 16000x11000); set the environment
variable YOLOARENA_MAX_IMAGE_PIXELS to change it (0: no limit).
"""

from __future__ import annotations

import os
import struct
import warnings
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


PIXEL_LIMIT_ENV = "YOLOARENA_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 178_956_970  # 2 x PIL's MAX_IMAGE_PIXELS: where PIL refuses a file


class ImageReadError(YoloArenaError):
    """An image file that cannot be used (missing, empty, corrupt, unsupported, too large)."""


def max_image_pixels() -> int | None:
    """The pixel limit (None: no limit), from YOLOARENA_MAX_IMAGE_PIXELS or the default."""
    text = os.environ.get(PIXEL_LIMIT_ENV, "").strip().replace("_", "")
    if not text:
        return DEFAULT_MAX_PIXELS
    if text.isdigit():
        return int(text) or None
    raise YoloArenaError(
        f"{PIXEL_LIMIT_ENV}={text!r} is not a pixel count; give e.g. 300000000, or 0 for no limit"
    )


def header_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) read from the file header (nothing decoded); None when PIL cannot
    identify the file. Raises OSError/ValueError/SyntaxError on a damaged header."""
    from PIL import Image

    limit = max_image_pixels()
    pil_limit = Image.MAX_IMAGE_PIXELS
    if pil_limit is not None and (limit is None or limit > 2 * pil_limit):
        Image.MAX_IMAGE_PIXELS = None if limit is None else limit // 2 + 1  # asked for more
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                return im.size
        except Image.UnidentifiedImageError:
            return None
        except Image.DecompressionBombError as e:  # over PIL's limit: ask its plugin the size
            size = _plugin_size(Path(path))
            if size is None:
                raise ImageReadError(f"{path}: {e}; {_raise_hint(None)}") from None
            return size


def _plugin_size(path: Path) -> tuple[int, int] | None:
    """The size from the header as PIL's format plugins read it, without PIL's pixel check (the
    caller applies its own limit); nothing is decoded."""
    from PIL import Image

    Image.init()
    with path.open("rb") as f:
        prefix = f.read(16)
        for fmt in Image.ID:
            factory, accept = Image.OPEN[fmt]
            if accept is not None and not accept(prefix):
                continue
            f.seek(0)
            try:
                return factory(f, str(path)).size
            except (SyntaxError, IndexError, TypeError, ValueError, OSError, struct.error):
                continue
    return None


def pixel_limit_error(path: str | Path, width: int, height: int) -> str | None:
    """Why an image of this size is refused (None when it is within the limit)."""
    limit = max_image_pixels()
    if limit is None or width * height <= limit:
        return None
    pixels = width * height
    return (
        f"{path}: {width}x{height} is {pixels / 1e6:.1f} megapixels, over the limit of "
        f"{limit / 1e6:.1f} (a decompression bomb or a damaged header?); {_raise_hint(pixels)}"
    )


def _raise_hint(pixels: int | None) -> str:
    value = f"{pixels}" if pixels else "<pixels>"
    return f"if the image is genuine, set {PIXEL_LIMIT_ENV}={value} (0: no limit)"


def check_pixel_limit(path: str | Path) -> None:
    """Raise ImageReadError when the header says the image is over the pixel limit."""
    try:
        size = header_size(path)
    except (OSError, ValueError, SyntaxError):
        return  # a damaged header: the decoder decides
    if size is not None and (why := pixel_limit_error(path, *size)):
        raise ImageReadError(why)


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file as HWC BGR uint8 (EXIF orientation applied, gray/alpha -> BGR).

    Files over the pixel limit (max_image_pixels) are refused before anything is decoded."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except OSError as e:
        raise ImageReadError(f"{path}: cannot be read ({e.strerror or e})") from None
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    check_pixel_limit(path)
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:  # e.g. over OpenCV's own pixel limit
        img = None
    if img is None:
        img = _decode_truncated(path)
    if img is None:
        raise ImageReadError(f"{path}: cannot be decoded (corrupt or not an image)")
    if why := pixel_limit_error(path, img.shape[1], img.shape[0]):  # a format PIL cannot read
        raise ImageReadError(why)
    return img


def _decode_truncated(path: Path) -> np.ndarray | None:
    """A truncated JPEG/PNG that OpenCV refuses, decoded as far as it goes (the rest is grey)."""
    from PIL import Image, ImageFile, ImageOps

    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with Image.open(path) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
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
