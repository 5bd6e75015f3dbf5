"""Feature distillation (channel-wise, "CWD") from any teacher Detector to any student.

Both models expose their neck outputs at matching strides (`features()`), so any pair works, across
families too. Per level the student map goes through a trainable 1x1 conv to the teacher's channel
count, then both are normalised (BatchNorm without affine, batch statistics); each channel's H x W
map becomes a distribution (softmax at temperature tau) and the loss is KL(teacher || student) x
tau^2, averaged over images and channels and summed over levels. Its weight decays over the run
as a cosine from 1.0 to 0.1 (DAMO-YOLO's schedule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..models.base import Detector


class CWDistiller(nn.Module):
    """Align-and-compare modules for each level; their parameters train with the student."""

    def __init__(
        self, student_channels: Sequence[int], teacher_channels: Sequence[int], tau: float = 1.0
    ):
        super().__init__()
        if len(student_channels) != len(teacher_channels):
            raise ValueError(
                f"the student has {len(student_channels)} neck levels, the teacher "
                f"{len(teacher_channels)}; distillation needs the same levels"
            )
        self.align = nn.ModuleList(
            nn.Conv2d(s, t, 1) for s, t in zip(student_channels, teacher_channels, strict=True)
        )
        self.tau = tau

    @staticmethod
    def _norm(x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, None, None, training=True, eps=1e-5)

    def forward(
        self, student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        total = student[0].new_zeros(())
        for conv, s, t in zip(self.align, student, teacher, strict=True):
            if s.shape[-2:] != t.shape[-2:]:
                raise ValueError(
                    f"feature sizes differ: student {tuple(s.shape)}, teacher {tuple(t.shape)}"
                )
            s = self._norm(conv(s.float()))
            t = self._norm(t.float())
            n, c = s.shape[:2]
            log_p_s = F.log_softmax(s.flatten(2) / self.tau, dim=2)
            p_t = F.softmax(t.flatten(2) / self.tau, dim=2)
            kl = (p_t * (torch.log(p_t.clamp_min(1e-12)) - log_p_s)).sum()
            total = total + kl * self.tau**2 / (n * c)
        return total


def distill_weight(iteration: int, total_iterations: int) -> float:
    """Cosine decay from 1.0 (first iteration) to 0.1 (last)."""
    x = min(iteration / max(total_iterations, 1), 1.0)
    return 1.0 - 0.9 * (1 - math.cos(math.pi * x)) / 2


def neck_channels(model: Detector, imgsz: int, device: torch.device) -> list[int]:
    """Channel counts of the neck outputs (one dry run on a small zero image)."""
    was = model.training
    model.eval()
    with torch.no_grad():
        size = max(model.stride) * 2
        feats = model.features(torch.zeros(1, 3, size, size, device=device))
    model.train(was)
    return [f.shape[1] for f in feats]


def teacher_input(x: torch.Tensor, student: Detector, teacher: Detector) -> torch.Tensor:
    """The student's batch as the teacher expects its pixels (scale; channel order)."""
    out = x * (student.transform.divisor / teacher.transform.divisor)
    if student.transform.rgb != teacher.transform.rgb:
        out = out.flip(1)
    return out
