"""The evolutionary loop of MAE-NAS (spec 13.5): mutate a random member, check the budgets,
score, insert; the population stays sorted by score, deduplicated and truncated.

Seeded and reproducible: every random draw comes from one `random.Random(seed)`, whose state is
saved with the population, so an interrupted search resumes where it stopped. While no member
meets the budgets yet (a start above them), members are ranked by how far they exceed the
budgets, so the walk heads into the feasible region; the first feasible member drops the rest.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import YoloArenaError
from ..models.damoyolo.madnas import score
from ..models.damoyolo.parts import detector_costs
from ..models.damoyolo.space import SearchSpace
from ..models.damoyolo.structure import Structure

LOGGER = logging.getLogger("yoloarena")
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class Budgets:
    """Upper bounds (None: no bound); the layer budget lives in the search space."""

    params: float | None = None  # millions, deployed detector
    gflops: float | None = None  # at the search's imgsz, deployed detector
    latency: float | None = None  # ms, predicted on the search's backend


@dataclass
class Member:
    structure: Structure
    score: float
    params: float  # millions
    gflops: float
    latency: float | None  # predicted ms (None: not predicted)
    excess: float  # sum of relative budget excesses (0: feasible)

    @property
    def feasible(self) -> bool:
        return self.excess == 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "structure": self.structure.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Member:
        return cls(**{**d, "structure": Structure.from_dict(d["structure"])})


class Evaluator:
    """Scores a structure and checks it against the budgets (latency only when the cheap budgets
    hold: predicting may time new parts)."""

    def __init__(
        self, budgets: Budgets, neck: str, num_classes: int, imgsz: int, predictor=None
    ) -> None:
        if budgets.latency is not None and predictor is None:
            raise ValueError("a latency budget needs a latency predictor")
        self.budgets, self.neck, self.num_classes, self.imgsz = budgets, neck, num_classes, imgsz
        self.predictor = predictor
        self._cache: dict[Structure, Member] = {}

    def __call__(self, st: Structure) -> Member:
        if st in self._cache:
            return self._cache[st]
        params, flops = detector_costs(st, self.neck, self.num_classes, self.imgsz)
        params_m, gflops = params / 1e6, flops / 1e9
        excess = _over(params_m, self.budgets.params) + _over(gflops, self.budgets.gflops)
        latency = None
        if self.budgets.latency is not None and excess == 0:
            latency = self.predictor.predict(st, self.neck)
            excess += _over(latency, self.budgets.latency)
        member = Member(st, score(st).total, params_m, gflops, latency, excess)
        if len(self._cache) > 200_000:
            self._cache.clear()
        self._cache[st] = member
        return member


def _over(value: float, budget: float | None) -> float:
    return 0.0 if budget is None or value <= budget else value / budget - 1.0


class Population:
    """Members sorted best first: by score when feasible, else by budget excess."""

    def __init__(self, size: int, members: list[Member] | None = None) -> None:
        self.size = size
        self.members: list[Member] = []
        self._keys: list[tuple[float, float]] = []
        self._seen: set[Structure] = set()
        for m in members or []:
            self.add(m)

    def __contains__(self, st: Structure) -> bool:
        return st in self._seen

    @property
    def feasible(self) -> bool:
        return bool(self.members) and self.members[0].feasible

    def add(self, m: Member) -> bool:
        """Insert m unless it is a duplicate or no better than what a full population keeps."""
        if m.structure in self._seen or (self.feasible and not m.feasible):
            return False
        if m.feasible and not self.feasible:  # the first feasible member: drop the approach
            self.members, self._keys, self._seen = [], [], set()
        key = (-m.score, 0.0) if m.feasible else (m.excess, -m.score)
        i = bisect.bisect_right(self._keys, key)
        if i >= self.size:
            return False
        self.members.insert(i, m)
        self._keys.insert(i, key)
        self._seen.add(m.structure)
        if len(self.members) > self.size:
            self._seen.discard(self.members.pop().structure)
            self._keys.pop()
        return True


@dataclass
class SearchState:
    population: Population
    rng: random.Random
    iteration: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"inserted": 0, "duplicates": 0})
    seconds: float = 0.0

    def to_dict(self, signature: dict) -> dict[str, Any]:
        version, state, gauss = self.rng.getstate()
        return {"version": CHECKPOINT_VERSION, "signature": signature,
                "iteration": self.iteration, "counts": self.counts, "seconds": self.seconds,
                "rng": [version, list(state), gauss],
                "members": [m.to_dict() for m in self.population.members]}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any], size: int) -> SearchState:
        rng = random.Random()
        version, state, gauss = d["rng"]
        rng.setstate((version, tuple(state), gauss))
        members = [Member.from_dict(m) for m in d["members"]]
        return cls(Population(size, members), rng, d["iteration"], d["counts"], d["seconds"])


def save_state(state: SearchState, path: Path, signature: dict) -> None:
    """Write the population checkpoint atomically."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(state.to_dict(signature), f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(path: Path, signature: dict, size: int) -> SearchState:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise YoloArenaError(f"cannot resume: '{path}' is unreadable ({e})") from None
    if data.get("signature") != signature:
        theirs = data.get("signature", {})
        diff = sorted(k for k in signature.keys() | theirs.keys()
                      if signature.get(k) != theirs.get(k))  # fmt: skip
        raise YoloArenaError(f"cannot resume '{path}': it was searched with other settings "
                             f"({', '.join(diff)}); start a new search")  # fmt: skip
    return SearchState.from_dict(data, size)


def new_state(init: Structure, evaluate: Evaluator, size: int, seed: int) -> SearchState:
    return SearchState(Population(size, [evaluate(init)]), random.Random(seed))


def evolve(
    state: SearchState,
    space: SearchSpace,
    evaluate: Evaluator,
    iterations: int,
    seconds: float = 0.0,
    checkpoint: Callable[[SearchState], None] | None = None,
    every: int = 1000,
) -> SearchState:
    """Run until `iterations` candidates were generated (or `seconds` passed, when > 0)."""
    start, t0 = state.iteration, time.monotonic()
    bar = _Progress(iterations - start, "search")
    try:
        while state.iteration < iterations:
            if seconds and state.seconds + time.monotonic() - t0 >= seconds:
                LOGGER.info("time limit reached after %d iterations", state.iteration)
                break
            parent = state.rng.choice(state.population.members)
            child = space.mutate(parent.structure, state.rng)
            state.iteration += 1
            if child in state.population:
                state.counts["duplicates"] += 1
            elif state.population.add(evaluate(child)):
                state.counts["inserted"] += 1
            best = state.population.members[0]
            bar.update(state.iteration - start, best)
            if checkpoint and state.iteration % every == 0:
                state.seconds += time.monotonic() - t0
                t0 = time.monotonic()
                checkpoint(state)
    finally:
        state.seconds += time.monotonic() - t0
        bar.close()
        if checkpoint:
            checkpoint(state)
    return state


class _Progress:
    """tqdm on a terminal; otherwise a log line at every quarter."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.bar = max(total, 1), desc, None
        self.next_line = max(self.total // 4, 1)
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False)

    def update(self, done: int, best: Member) -> None:
        text = f"best {best.score:.1f}" if best.feasible else f"over budget {best.excess:.2%}"
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif done >= self.next_line:
            LOGGER.info("%s %d/%d %s", self.desc, done, self.total, text)
            self.next_line += max(self.total // 4, 1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
