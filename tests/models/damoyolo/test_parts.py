"""Issue 18: the parts a latency table times and the params/GFLOPs a budget checks, computed
from the structure without building a model, equal what torch counts on the built model."""

from __future__ import annotations

import random

import pytest
import torch
from conftest import shared_json
from torch.utils.flop_counter import FlopCounterMode

from yoloarena.bench.stats import count_flops, count_params
from yoloarena.models.damoyolo.parts import backbone_parts, build_part, detector_costs
from yoloarena.models.damoyolo.space import SearchSpace
from yoloarena.models.damoyolo.structure import STRUCTURES
from yoloarena.models.damoyolo.variants import closest_variant
from yoloarena.registry import build_model

SIZES = ["t", "s", "m", "l", "ns", "nm", "nl"]


def _deployed(name: str, **kwargs):
    with torch.device("meta"):
        model = build_model(name, **kwargs)
    return model.deploy()


@pytest.mark.parametrize("size", SIZES)
def test_released_costs_equal_torch_counts_and_the_reference(size: str) -> None:
    model = _deployed(f"damoyolo-{size}")
    ref = shared_json("reference", "damoyolo_measurements.json")["models"][size]
    for imgsz in (640, 416, 96):
        params, flops = detector_costs(model.structure, f"damoyolo-{size}", 80, imgsz)
        assert params == count_params(model)
        assert flops == count_flops(model, imgsz)
    imgsz = 416 if size.startswith("n") else 640
    _, flops = detector_costs(model.structure, f"damoyolo-{size}", 80, imgsz)
    assert flops / 1e9 == pytest.approx(ref[f"fc_gflops_deploy_{imgsz}"], rel=1e-5)


def _walk(kind: str, n: int, seed: int) -> list:
    space, rng = SearchSpace(kind), random.Random(seed)
    st, out = space.initial(), []
    for _ in range(n * 20):
        st = space.mutate(st, rng)
        out.append(st)
    return out[19::20]


@pytest.mark.parametrize("kind", ["k1kx", "kxkx", "mobile"])
def test_searched_costs_equal_torch_counts(kind: str) -> None:
    for st in _walk(kind, 4, seed=3):
        neck = closest_variant(st)
        model = _deployed("damoyolo-nas", num_classes=7, structure=st, neck=neck)
        params, flops = detector_costs(st, neck, 7, 224)
        assert (params, flops) == (count_params(model), count_flops(model, 224)), st


def _part_modules(backbone) -> list:
    """The modules a part stands for, in execution order."""
    if hasattr(backbone, "csp_stage"):
        out = [backbone.csp_stage[0]]
        for w in list(backbone.csp_stage)[1:]:
            spp = [w.spp] if hasattr(w, "spp") else []
            out += [w.downsampler, *spp, w.conv_start, *w.convstem, w.conv_shortcut, w.conv_fuse]
        return out
    return [backbone.block_list[0], *(b for stage in list(backbone.block_list)[1:]
                                       for b in stage.block_list)]  # fmt: skip


@pytest.mark.parametrize("name", ["T", "M", "Nm"])
def test_parts_are_the_modules_the_model_runs(name: str) -> None:
    """Each part's input shape and params match the model's module at that place, and the module
    a part builds for timing has the part's params and FLOPs."""
    st = STRUCTURES[name]
    model = build_model(f"damoyolo-{name.lower()}").deploy()
    seen: list[tuple] = []
    modules = _part_modules(model.backbone)
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, tuple(i[0].shape[1:]))))
             for m in modules]  # fmt: skip
    with torch.no_grad():
        model(torch.zeros(1, 3, 128, 128))
    for h in hooks:
        h.remove()
    parts = backbone_parts(st, model.variant.act, 128)
    assert [m for m, _ in seen] == modules and len(parts) == len(modules)
    for part, (module, shape) in zip(parts, seen, strict=True):
        assert part.inputs == (shape,)
        assert part.params == count_params(module), part.key
        built = build_part(part)
        xs = [torch.zeros(1, *s) for s in part.inputs]
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            built(*xs)
        assert (count_params(built), counter.get_total_flops()) == (part.params, part.flops)


def test_equal_keys_are_equal_parts() -> None:
    keys: dict[str, tuple] = {}
    for kind in ("k1kx", "kxkx", "mobile"):
        for st in _walk(kind, 30, seed=5):
            for p in backbone_parts(st, "relu", 160):
                what = (p.kind, p.args, p.inputs)
                assert keys.setdefault(p.key, what) == what
