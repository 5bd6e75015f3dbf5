"""MadNAS: the closed-form maximum-entropy score of a TinyNAS structure (MAE-DET, ICML 2022).

With every conv weight ~ N(0, 1), no BatchNorm and a N(0, 1) input, each conv multiplies the
feature std by sqrt(fan_in); the entropy of a Gaussian feature map grows with log(std) and with
log(channels). So, with no forward pass:

- each unit j adds a log-std gain g_j: the stem 1/2 ln(c_in k^2) (c_in = 12 after Focus, 3 for the
  plain Nano stem); a k1kx unit 1/2 ln(in) + 1/2 ln(btn k^2); a kxkx unit 1/2 ln(in k^2) +
  1/2 ln(btn k^2); a mobile unit 1/2 ln(in) + 1/2 ln(5^2) + 1/2 ln(E) (1x1 expand to E, depthwise
  5x5, 1x1 project: E and the 5x5 kernel are what the Nano block builds, its btn is unused);
  `in` is the stage's input width for its first unit and its output width for the others;
- the network splits into 5 stages at the stride-2 blocks: {stem}, {1}, {2}, {3, 4}, {5};
  stage s has entropy E_s = sum of g_j over every unit up to the end of s + ln(width of s);
- score = sum_s r_s E_s with r = (0, 0, 1, 1, 16): only the stride 8/16/32 outputs (the neck's
  inputs) count, the deepest sixteen-fold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .blocks import nano_divisible
from .structure import Structure

STAGE_WEIGHTS = (0.0, 0.0, 1.0, 1.0, 16.0)
KERNEL = 3  # searched units: 3x3 (kernel size is not searched)
MOBILE_KERNEL = 5  # the Nano depthwise conv
STAGE_OF_BLOCK = (1, 2, 3, 3, 4)  # block i (0-based) -> stage index (0 = stem)


@dataclass(frozen=True)
class Score:
    total: float
    stages: tuple[float, ...]  # weighted stage terms r_s E_s (five values)


def mobile_expansion(out: int, stage_index: int) -> int:
    """Hidden width of a Nano unit: out x (3.5 + 0.5 i) made divisible by 8 (stage i = 0..4)."""
    return nano_divisible(math.ceil(out * (3.5 + 0.5 * stage_index)))


def unit_gains(structure: Structure) -> list[float]:
    """log-std gain of the stem and of every unit, in network order."""
    k2 = KERNEL * KERNEL
    gains = [0.5 * math.log(structure.stem_in * k2)]
    for i, st in enumerate(structure.stages):
        for j in range(st.depth):
            c_in = st.c_in if j == 0 else st.c_out
            if structure.type == "k1kx":
                g = 0.5 * math.log(c_in) + 0.5 * math.log(st.btn * k2)
            elif structure.type == "kxkx":
                g = 0.5 * math.log(c_in * k2) + 0.5 * math.log(st.btn * k2)
            else:
                hidden = mobile_expansion(st.c_out, i)
                g = 0.5 * (math.log(c_in) + math.log(MOBILE_KERNEL**2) + math.log(hidden))
            gains.append(g)
    return gains


def stage_entropies(structure: Structure) -> tuple[float, ...]:
    """Unweighted E_s of the five stages."""
    gains = unit_gains(structure)
    ends = [1] * 5  # units from the start through the end of each stage (stem counts as 1)
    widths = [structure.stem] * 5
    n = 1
    for i, st in enumerate(structure.stages):
        n += st.depth
        ends[STAGE_OF_BLOCK[i]] = n
        widths[STAGE_OF_BLOCK[i]] = st.c_out
    return tuple(sum(gains[:end]) + math.log(w) for end, w in zip(ends, widths, strict=True))


def score(structure: Structure) -> Score:
    """The MadNAS score (higher is better) and its weighted stage terms."""
    terms = tuple(r * e for r, e in zip(STAGE_WEIGHTS, stage_entropies(structure), strict=True))
    return Score(sum(terms), terms)
