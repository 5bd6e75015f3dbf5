"""Issue 18, must-show 3 (first half): mutation never leaves the search space."""

from __future__ import annotations

import random

import pytest

from yoloarena.models.damoyolo.space import SearchSpace, round8
from yoloarena.models.damoyolo.structure import STRUCTURES, Structure


def _check(space: SearchSpace, st: Structure) -> None:
    """The space's rules, written out independently of SearchSpace.problem."""
    assert st.type == space.type
    widths = [st.stem] + [s.c_out for s in st.stages]
    assert all(w % 8 == 0 for w in widths) and st.stem <= space.stem_max
    assert widths == sorted(widths) and widths[-1] <= space.max_channels
    for i, (lo, hi) in zip((1, 3, 4), space.ranges, strict=True):
        assert lo <= st.stages[i].c_out <= hi
    ins = [st.stem, *widths[1:-1]]
    assert [s.c_in for s in st.stages] == ins
    assert [s.stride for s in st.stages] == [2, 2, 2, 1, 2]
    assert all(s.depth >= 1 for s in st.stages)
    assert 1 + space.convs_per_unit * sum(s.depth for s in st.stages) <= space.layers
    if st.type != "mobile":
        assert all(s.btn % 8 == 0 and s.btn >= round8(s.c_out / 10) for s in st.stages)
    if st.type == "kxkx":
        assert st.stages[3].c_out == st.stages[2].c_out


@pytest.mark.parametrize("kind", ["k1kx", "kxkx", "mobile"])
def test_thousands_of_mutations_stay_valid(kind: str) -> None:
    space, rng = SearchSpace(kind), random.Random(11)
    pool = [space.initial()]
    distinct = set()
    for _ in range(4000):
        child = space.mutate(rng.choice(pool), rng)
        _check(space, child)
        assert not space.problem(child)
        distinct.add(child)
        pool.append(child)
        if len(pool) > 64:
            pool.pop(rng.randrange(len(pool)))
    assert len(distinct) > 1000  # the walk explores


@pytest.mark.parametrize("name", ["T", "S", "M", "L", "Ns", "Nm", "Nl"])
def test_released_structures_are_in_their_space(name: str) -> None:
    st = STRUCTURES[name]
    space = SearchSpace(st.type)
    assert space.problem(st) == ""
    rng = random.Random(0)
    for _ in range(300):
        _check(space, space.mutate(st, rng))


def test_mutation_is_deterministic_for_a_seed() -> None:
    space = SearchSpace("k1kx")

    def walk(seed: int) -> list[Structure]:
        rng, st, out = random.Random(seed), space.initial(), []
        for _ in range(500):
            st = space.mutate(st, rng)
            out.append(st)
        return out

    assert walk(3) == walk(3) and walk(3) != walk(4)


def test_smallest_is_valid_and_below_the_initial() -> None:
    for kind in ("k1kx", "kxkx", "mobile"):
        space = SearchSpace(kind)
        small, init = space.smallest(), space.initial()
        _check(space, small)
        assert all(a.c_out <= b.c_out and a.depth <= b.depth
                   for a, b in zip(small.stages, init.stages, strict=True))  # fmt: skip


def test_depth_caps_follow_the_layer_budget() -> None:
    space, rng = SearchSpace("k1kx", layers=20), random.Random(2)
    st = space.initial()
    for _ in range(3000):
        st = space.mutate(st, rng)
        assert st.stages[0].depth <= 2 and max(s.depth for s in st.stages) <= 2
        assert st.layers <= 20
