"""The TinyNAS search space of DAMO-YOLO and its mutation, as data (spec section 13.1-13.2).

A structure is valid in a space when it can be built and: the block type matches; every width is
a multiple of 8; the stem is at most `stem_max`; widths never shrink from the stem to the last
stage and stay under `max_channels`; the C3/C4/C5 outputs lie in their ranges; every bottleneck is
at least out/10 (rounded to 8; not for mobile units, which ignore btn); and the conv-layer count
is within the layer budget. Mutation changes two blocks; each change is retried up to six times
until the network is valid, else that block is left as it was.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from .structure import Stage, Structure, StructureError

FACTORS = (2.0, 1.5, 1.25, 0.8, 0.6, 0.5)  # width multipliers
DEPTH_STEPS = (-2, -1, 1, 2)
RANGED = (1, 3, 4)  # stages whose output width is ranged: the C3, C4, C5 outputs
DEFAULT_RANGES = {
    "k1kx": ((64, 128), (128, 256), (256, 512)),
    "kxkx": ((64, 128), (128, 256), (256, 512)),
    "mobile": ((32, 128), (64, 256), (128, 512)),
}
DEFAULT_LAYERS = {"k1kx": 25, "kxkx": 45, "mobile": 31}  # the largest released of each type
# The initial structures of the DAMO-YOLO search scripts (kxkx: stage 4 as wide as stage 3, which
# the CSP backbone needs; mobile: the smallest Nano with one unit per stage).
INITIAL = {
    "k1kx": (32, ((32, 48, 2, 1, 32), (48, 96, 2, 1, 48), (96, 96, 2, 1, 96),
                  (96, 192, 1, 1, 96), (192, 384, 2, 1, 192))),
    "kxkx": (32, ((32, 48, 2, 1, 32), (48, 96, 2, 1, 48), (96, 192, 2, 1, 96),
                  (192, 192, 1, 1, 96), (192, 384, 2, 1, 192))),
    "mobile": (16, ((16, 24, 2, 1, 24), (24, 40, 2, 1, 40), (40, 64, 2, 1, 64),
                    (64, 80, 1, 1, 80), (80, 160, 2, 1, 160))),
}  # fmt: skip


IN, OUT, DEPTH, BTN = 0, 1, 3, 4  # fields of a stage row while mutating


def round8(value: float) -> int:
    """Nearest multiple of 8 (halves up), at least 8."""
    return max(8, int(value / 8 + 0.5) * 8)


@dataclass(frozen=True)
class SearchSpace:
    type: str = "k1kx"
    layers: int = 0  # conv-layer budget; 0: the default of the type
    ranges: tuple[tuple[int, int], ...] = ()  # (min, max) of C3, C4, C5; (): the type's default
    stem_max: int = 32
    max_channels: int = 2048
    btn_ratio: int = 10  # btn >= out / btn_ratio

    def __post_init__(self) -> None:
        if self.type not in DEFAULT_RANGES:
            raise ValueError(f"type={self.type} is not one of {', '.join(DEFAULT_RANGES)}")
        if not self.layers:
            object.__setattr__(self, "layers", DEFAULT_LAYERS[self.type])
        if not self.ranges:
            object.__setattr__(self, "ranges", DEFAULT_RANGES[self.type])

    @property
    def convs_per_unit(self) -> int:
        return 3 if self.type == "mobile" else 2

    @property
    def max_depth(self) -> int:
        """Depth cap of a mutated stage (stage 1: 2), from the layer budget as TinyNAS does."""
        return max(1, (self.layers - 1) // self.convs_per_unit // 4)

    def initial(self) -> Structure:
        stem, rows = INITIAL[self.type]
        return Structure(self.type, stem, tuple(Stage(*r) for r in rows))

    def range_of(self, index: int) -> tuple[int, int] | None:
        """(min, max) output width of stage index (0-based), or None when unranged."""
        return self.ranges[RANGED.index(index)] if index in RANGED else None

    def smallest(self) -> Structure:
        """The cheapest valid structure: minimal widths, bottlenecks and depths."""
        stem, c, stages = 8, 8, []
        for i, stride in enumerate((2, 2, 2, 1, 2)):
            lo = (self.range_of(i) or (8, 0))[0]
            out = max(c, lo)
            if self.type == "kxkx" and i == 3:
                out = max(out, self.ranges[1][0])
            stages.append(Stage(c, out, stride, 1, self.min_btn(out)))
            c = out
        if self.type == "kxkx":  # stages 3 and 4 share a width
            s3, s4 = stages[2], stages[3]
            width = max(s3.c_out, s4.c_out)
            stages[2] = replace(s3, c_out=width, btn=self.min_btn(width))
            stages[3] = replace(s4, c_in=width, c_out=width, btn=self.min_btn(width))
        return Structure(self.type, stem, tuple(stages))

    def min_btn(self, out: int) -> int:
        return 8 if self.type == "mobile" else round8(out / self.btn_ratio)

    def problem(self, st: Structure) -> str:
        """Why st is outside the space ('' when it is inside)."""
        if st.type != self.type:
            return f"type {st.type} is not the space's {self.type}"
        if st.stem % 8 or st.stem > self.stem_max:
            return f"stem {st.stem} is not a multiple of 8 up to {self.stem_max}"
        prev = st.stem
        for i, s in enumerate(st.stages):
            if s.c_out % 8 or s.btn % 8:
                return f"stage {i + 1}: out {s.c_out} and btn {s.btn} must be multiples of 8"
            if not prev <= s.c_out <= self.max_channels:
                return f"stage {i + 1}: out {s.c_out} is below its input {prev} or too wide"
            lohi = self.range_of(i)
            if lohi and not lohi[0] <= s.c_out <= lohi[1]:
                return f"stage {i + 1}: out {s.c_out} outside {lohi[0]}-{lohi[1]}"
            if s.btn < self.min_btn(s.c_out):
                return f"stage {i + 1}: btn {s.btn} below out/{self.btn_ratio}"
            prev = s.c_out
        if st.layers > self.layers:
            return f"{st.layers} conv layers exceed the layer budget {self.layers}"
        return ""

    def mutate(self, st: Structure, rng: random.Random, blocks: int = 2) -> Structure:
        """A child of st: `blocks` random blocks (0 = stem) mutated, each kept only if valid."""
        for _ in range(blocks):
            index = rng.randrange(len(st.stages) + 1)
            for _ in range(len(st.stages) + 1):
                child = self._mutate_block(st, index, rng)
                if child is not None and not self.problem(child):
                    st = child
                    break
        return st

    def _mutate_block(self, st: Structure, index: int, rng: random.Random) -> Structure | None:
        stem = st.stem
        rows = [[s.c_in, s.c_out, s.stride, s.depth, s.btn] for s in st.stages]
        if index == 0:
            stem = min(round8(stem * rng.choice(FACTORS)), self.stem_max, rows[0][OUT])
        else:
            i = index - 1
            methods = ("out", "depth") if self.type == "mobile" else ("out", "btn", "depth")
            method = rng.choice(methods)
            if method == "out":
                self._mutate_out(rows, i, rng)
            elif method == "btn":
                rows[i][BTN] = min(round8(rows[i][BTN] * rng.choice(FACTORS)), rows[i][OUT])
            else:
                rows[i][DEPTH] = self._mutate_depth(rows[i][DEPTH], i, rng)
        prev = stem
        for row in rows:  # chain the inputs; bottlenecks at least out/10
            row[IN], prev = prev, row[OUT]
            row[BTN] = max(row[BTN], self.min_btn(row[OUT]))
        try:
            return Structure(st.type, stem, tuple(Stage(*row) for row in rows))
        except StructureError:
            return None

    def _mutate_out(self, rows: list[list[int]], i: int, rng: random.Random) -> None:
        tied = (2, 3) if self.type == "kxkx" and i in (2, 3) else (i,)  # one CSP wrapper
        out = min(round8(rows[i][OUT] * rng.choice(FACTORS)), self.max_channels)
        for j in tied:
            lohi = self.range_of(j)
            if lohi:
                out = max(lohi[0], min(lohi[1], out))
        out = max(out, rows[tied[0]][IN])
        if tied[-1] + 1 < len(rows):
            nxt = rows[tied[-1] + 1]
            out = min(out, nxt[OUT])
            nxt[BTN] = min(nxt[BTN], out)  # as TinyNAS: the next bottleneck fits the new width
        for j in tied:
            rows[j][OUT] = out

    def _mutate_depth(self, depth: int, i: int, rng: random.Random) -> int:
        new = depth
        while new == depth:
            new = max(1, depth + rng.choice(DEPTH_STEPS))
        return min(new, 2 if i == 0 else self.max_depth)
