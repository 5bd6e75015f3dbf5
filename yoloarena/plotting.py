"""Drawing detections on images with OpenCV (built-in Hershey font, nothing to download)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# 20 distinct colours (BGR), cycled by class index.
_PALETTE_HEX = (
    "E6194B", "3CB44B", "FFE119", "4363D8", "F58231", "911EB4", "46F0F0", "F032E6", "BCF60C",
    "FABEBE", "008080", "E6BEFF", "9A6324", "800000", "AAFFC3", "808000", "FFD8B1", "000075",
    "808080", "FF7F50",
)  # fmt: skip
PALETTE = [(int(h[4:6], 16), int(h[2:4], 16), int(h[0:2], 16)) for h in _PALETTE_HEX]


def class_color(label: int) -> tuple[int, int, int]:
    return PALETTE[int(label) % len(PALETTE)]


def _text_color(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    b, g, r = bg
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


def draw_detections(
    img: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    texts: Sequence[str] | None = None,
    line_width: int | None = None,
) -> np.ndarray:
    """A BGR copy of img with xyxy boxes, coloured by label, and optional text tags."""
    out = np.ascontiguousarray(img.copy())
    if out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
    lw = line_width or max(round(sum(out.shape[:2]) / 2 * 0.003), 2)
    font_scale = lw / 3
    thickness = max(lw - 1, 1)
    for i, (box, label) in enumerate(zip(boxes, labels, strict=True)):
        color = class_color(int(label))
        p1 = (round(box[0]), round(box[1]))
        p2 = (round(box[2]), round(box[3]))
        cv2.rectangle(out, p1, p2, color, lw, cv2.LINE_AA)
        if not texts:
            continue
        (tw, th), base = cv2.getTextSize(texts[i], cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        above = p1[1] - th - base - 3 >= 0
        y_top = p1[1] - th - base - 3 if above else p1[1]
        x_left = max(min(p1[0], out.shape[1] - tw - 2), 0)  # keep the tag inside the image
        cv2.rectangle(out, (x_left, y_top), (x_left + tw + 2, y_top + th + base + 3), color, -1)
        cv2.putText(out, texts[i], (x_left + 1, y_top + th + 1), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, _text_color(color), thickness, cv2.LINE_AA)  # fmt: skip
    return out
