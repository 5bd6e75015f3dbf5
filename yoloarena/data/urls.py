"""Images named by an http(s) URL, downloaded into memory with the standard library.

Only a URL the user gives as a source is ever read (nothing else is fetched). A download has a
time limit (per read and in total), a size limit (checked against Content-Length and while
reading), and must be an image: a declared Content-Type other than image/* or a generic binary
type is refused, and the body must decode. Every failure is one `DownloadError` line that names
the URL and what went wrong.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np

from ..errors import YoloArenaError

TIMEOUT_S = 20.0  # seconds without an answer, and for the whole download
MAX_BYTES = 64 * 2**20  # largest body accepted
_CHUNK = 1 << 16
_BINARY_TYPES = ("application/octet-stream", "binary/octet-stream", "application/binary")


class DownloadError(YoloArenaError):
    """A URL source that could not be downloaded or is not an image."""


def is_url(source: object) -> bool:
    """True for a str starting with http:// or https://."""
    return isinstance(source, str) and source.strip().lower().startswith(("http://", "https://"))


def url_file_name(url: str, default: str = "image") -> str:
    """The last path segment of url ('zidane.jpg'), without query or fragment."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return name or default


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n} bytes"


def fetch_bytes(url: str, timeout: float | None = None, max_bytes: int | None = None) -> bytes:
    """The body of url (an image type), within the time and size limits."""
    timeout = TIMEOUT_S if timeout is None else float(timeout)
    limit = MAX_BYTES if max_bytes is None else int(max_bytes)
    request = urllib.request.Request(url.strip(), headers={"User-Agent": "yoloarena"})
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            ctype = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype and not (ctype.startswith("image/") or ctype in _BINARY_TYPES):
                raise DownloadError(f"{url}: not an image (Content-Type {ctype})")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise DownloadError(
                    f"{url}: {_size(int(declared))} is over the {_size(limit)} download limit"
                )
            parts, total = [], 0
            while chunk := response.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise DownloadError(f"{url}: more than the {_size(limit)} download limit")
                if time.monotonic() > deadline:
                    raise DownloadError(f"{url}: download not finished within {timeout:g} s")
                parts.append(chunk)
    except DownloadError:
        raise
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: HTTP error {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            raise DownloadError(f"{url}: no answer within {timeout:g} s (timeout)") from None
        raise DownloadError(f"{url}: cannot be reached ({e.reason})") from None
    except TimeoutError:
        raise DownloadError(f"{url}: no answer within {timeout:g} s (timeout)") from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise DownloadError(f"{url}: download failed ({type(e).__name__}: {e})") from None
    data = b"".join(parts)
    if not data:
        raise DownloadError(f"{url}: empty body (0 bytes)")
    return data


def decode_image_bytes(data: bytes, name: str) -> np.ndarray:
    """An encoded image (jpg, png, ...) -> HWC BGR uint8, EXIF orientation applied."""
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as e:  # e.g. OpenCV's pixel limit (a decompression bomb)
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else "decoder error"
        raise DownloadError(f"{name}: the image cannot be decoded ({msg})") from None
    if img is None:
        raise DownloadError(f"{name}: the {_size(len(data))} body is not a decodable image")
    return img


def read_url_image(url: str, timeout: float | None = None, max_bytes: int | None = None):
    """Download and decode the image at url (HWC BGR uint8)."""
    return decode_image_bytes(fetch_bytes(url, timeout, max_bytes), url)
