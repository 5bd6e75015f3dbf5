"""`Probs`: the class probabilities of one image (what a classifier's Results carries)."""

from __future__ import annotations

import cv2
import numpy as np
import torch


class Probs:
    """Softmax probabilities [C] of one image, with its top-1 / top-5 classes.

    ``top1`` / ``top5`` are class indices (most likely first), ``top1conf`` / ``top5conf`` their
    probabilities, ``data`` the whole vector; ``names`` maps an index to its class name.
    """

    def __init__(self, data: torch.Tensor, names: dict[int, str]) -> None:
        self.data = data.detach().float().cpu().reshape(-1)
        self.names = names
        k = min(5, int(self.data.numel()))
        conf, idx = self.data.topk(k)
        self._top5, self._top5conf = idx.tolist(), conf.tolist()

    def __len__(self) -> int:
        return int(self.data.numel())

    @property
    def top1(self) -> int:
        return self._top5[0]

    @property
    def top5(self) -> list[int]:
        return list(self._top5)

    @property
    def top1conf(self) -> float:
        return self._top5conf[0]

    @property
    def top5conf(self) -> list[float]:
        return list(self._top5conf)

    def name_of(self, i: int) -> str:
        return self.names.get(int(i), str(int(i)))

    def summary(self) -> str:
        """'school bus 0.82, trolleybus 0.05, ...' (the top 5)."""
        return ", ".join(f"{self.name_of(i)} {p:.2f}" for i, p in zip(self._top5, self._top5conf,
                                                                      strict=True))  # fmt: skip

    def to_list(self) -> list[dict]:
        """One dict per top-5 class: class index, name, confidence."""
        return [
            {"class": i, "name": self.name_of(i), "confidence": round(p, 5)}
            for i, p in zip(self._top5, self._top5conf, strict=True)
        ]

    def lines(self) -> list[str]:
        """'0.82 school bus' per top-5 class (upstream classify/predict.py's txt rows)."""
        return [f"{p:.2f} {self.name_of(i)}" for i, p in zip(self._top5, self._top5conf,
                                                             strict=True)]  # fmt: skip


def draw_probs(img: np.ndarray, probs: Probs, scale: float | None = None) -> np.ndarray:
    """A copy of img with the top-5 classes and probabilities written at its top left."""
    out = img.copy()
    h, w = out.shape[:2]
    scale = scale or max(min(h, w) / 640, 0.4)
    thick = max(round(scale * 2), 1)
    y = int(32 * scale)
    for line in probs.lines():
        (tw, th), base = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        x0, y0 = int(16 * scale), y
        cv2.rectangle(out, (x0 - 2, y0 - th - 4), (x0 + tw + 2, y0 + base), (0, 0, 0), -1)
        cv2.putText(out, line, (x0, y0), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                    cv2.LINE_AA)  # fmt: skip
        y += th + base + int(10 * scale)
    return out
