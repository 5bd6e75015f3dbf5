"""Issue 18, must-show 1: the MadNAS score of the released structures equals the reference values
of the spec (our run of the upstream scorer, stem input 12, stage weights 0, 0, 1, 1, 16)."""

from __future__ import annotations

import math

import pytest

from yoloarena.models.damoyolo.madnas import score, stage_entropies
from yoloarena.models.damoyolo.structure import STRUCTURES

# damo-yolo.md section 13.4
REFERENCE = {"T": 1015.1441, "S": 1380.5875, "M": 2293.5631, "L": 3004.1578}
T_STAGES = (26.6669, 51.5111, 936.9661)  # weighted terms of the stride 8, 16, 32 stages


@pytest.mark.parametrize("name", list(REFERENCE))
def test_released_scores_equal_the_reference(name: str) -> None:
    assert score(STRUCTURES[name]).total == pytest.approx(REFERENCE[name], abs=1e-4)


def test_t_stage_values() -> None:
    terms = score(STRUCTURES["T"]).stages
    assert terms[:2] == (0.0, 0.0)
    for got, want in zip(terms[2:], T_STAGES, strict=True):
        assert got == pytest.approx(want, abs=1e-4)


def test_hand_check_of_t_stage_2() -> None:
    """Spec: 1/2 ln108 + (1/2 ln24 + 1/2 ln216) + (1/2 ln64 + 1/2 ln216) + (1/2 ln64 + 1/2 ln576)
    + (1/2 ln96 + 1/2 ln576) + ln96 = 26.667 (stem on 12 channels, k1kx units with 3x3 kernels)."""
    ln = math.log
    hand = (0.5 * ln(108) + (0.5 * ln(24) + 0.5 * ln(216)) + (0.5 * ln(64) + 0.5 * ln(216))
            + (0.5 * ln(64) + 0.5 * ln(576)) + (0.5 * ln(96) + 0.5 * ln(576)) + ln(96))  # fmt: skip
    assert hand == pytest.approx(26.667, abs=1e-3)
    assert stage_entropies(STRUCTURES["T"])[2] == pytest.approx(hand, abs=1e-12)


def test_mobile_score_counts_what_the_nano_block_builds() -> None:
    """A Nano unit is 1x1 to E = make_divisible(ceil(out x (3.5 + 0.5 i))), depthwise 5x5, 1x1:
    its gain is 1/2 ln(in) + 1/2 ln(25) + 1/2 ln(E); the stem is a 3x3 conv on the 3-channel
    image. Ns stage 1 (one unit 16 -> 24, E = 88): stem + unit + ln(24)."""
    ln = math.log
    want = 0.5 * ln(3 * 9) + 0.5 * (ln(16) + ln(25) + ln(88)) + ln(24)
    assert stage_entropies(STRUCTURES["Ns"])[1] == pytest.approx(want, abs=1e-12)


def test_wider_and_deeper_scores_higher() -> None:
    from dataclasses import replace

    t = STRUCTURES["T"]
    wider = replace(t, stages=(*t.stages[:4], replace(t.stages[4], btn=256)))
    assert score(wider).total > score(t).total
