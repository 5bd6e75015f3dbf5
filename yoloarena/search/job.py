"""`yoloarena search`: find a DAMO-YOLO backbone for a budget measured on this machine.

    yoloarena search budget_latency=15 backend=openvino imgsz=416 type=k1kx iterations=20000
    yoloarena search budget_gflops=18.1 type=k1kx name=t-flops      # FLOPs only: no timing
    yoloarena search resume=True name=t-flops iterations=40000       # continue a search
    yoloarena train model=runs/search/exp/structure.yaml data=my.yaml   # then train it

Writes runs/search/<name>/: structure.yaml (the best structure, with the released model lending
its neck, head and recipe), best.csv (score and budget figures of the best structures),
search.png (score against latency or GFLOPs of the final population, released models marked),
population.json (the resumable checkpoint), results.json and search.log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..config import param, save_yaml
from ..devices import FORMS, check_device
from ..errors import YoloArenaError
from ..models.damoyolo.space import SearchSpace
from ..models.damoyolo.structure import STRUCTURES, Structure, read_structure
from ..models.damoyolo.variants import VARIANTS, check_neck, closest_variant
from .evolution import (
    Budgets,
    Evaluator,
    Member,
    SearchState,
    evolve,
    load_state,
    new_state,
    save_state,
)
from .finish import finish

LOGGER = logging.getLogger("yoloarena")
BACKENDS = ("torch", "onnx", "openvino")


@dataclass
class SearchConfig:
    """Arguments of `yoloarena search`."""

    type: str = param("k1kx", "block type: k1kx (as T/S), kxkx (as M/L, CSP), mobile (as Nano)")
    init: str = param("", "start: '' (the space's initial), T/S/M/L/Ns/Nm/Nl, or a structure file")
    neck: str = param("", "released model lending neck, head and recipe ('': closest to init)")
    imgsz: int = param(640, "input size the budgets are for (a multiple of 32)", gt=0)
    num_classes: int = param(80, "classes of the head counted in params, GFLOPs, latency", ge=1)
    budget_layers: int | None = param(None, "conv layers of the backbone (None: the type's)", gt=0)
    budget_params: float | None = param(None, "millions of params, whole detector", gt=0)
    budget_gflops: float | None = param(None, "GFLOPs of the whole detector at imgsz", gt=0)
    budget_latency: float | None = param(None, "ms on backend, whole detector, batch 1", gt=0)
    backend: str = param("onnx", "where latency is measured: torch, onnx, openvino")
    device: str = param("cpu", f"device: {FORMS}", check=check_device)
    half: bool = param(False, "FP16 (backend=openvino)")
    population: int = param(512, "population size", ge=1)
    iterations: int = param(20000, "candidates to generate", ge=0)
    time: float | None = param(None, "hours; stops earlier when reached", gt=0)
    seed: int = param(0, "random seed (the search is reproducible)")
    top: int = param(5, "best structures re-measured as whole networks", ge=1)
    runs: int = param(20, "timed runs per whole network (per part: half)", ge=1)
    warmup: int = param(3, "untimed runs first", ge=0)
    released: list[str] | None = param(None, "released models on the plot (None: all seven)")
    table: str = param("", "latency table file ('': the cache of this machine and backend)")
    resume: bool = param(False, "continue the search in project/name from population.json")
    plots: bool = param(True, "write search.png")
    project: str = param("", "run folder parent ('': runs/search); results go to project/name")
    name: str = param("exp", "run folder name (exp, exp2, ... unless exist_ok or resume)")
    exist_ok: bool = param(False, "reuse project/name instead of incrementing")


def _space(cfg: SearchConfig) -> SearchSpace:
    if cfg.type not in ("k1kx", "kxkx", "mobile"):
        raise YoloArenaError(f"type={cfg.type} is not one of k1kx, kxkx, mobile")
    return SearchSpace(cfg.type, layers=cfg.budget_layers or 0)


def _init(cfg: SearchConfig, space: SearchSpace) -> tuple[Structure, str | None]:
    if not cfg.init:
        return space.initial(), None
    key = cfg.init.lower().removeprefix("damoyolo-")
    names = {k.lower(): k for k in STRUCTURES}
    if key in names:
        name = names[key]
        return STRUCTURES[name], f"damoyolo-{name.lower()}"
    return read_structure(cfg.init)


def check_config(cfg: SearchConfig) -> tuple[SearchSpace, Structure, str, Budgets]:
    """Everything that can be wrong with the arguments, before any work."""
    space = _space(cfg)
    if cfg.backend not in BACKENDS:
        raise YoloArenaError(f"backend={cfg.backend} is not one of {', '.join(BACKENDS)}")
    if cfg.imgsz <= 0 or cfg.imgsz % 32:
        raise YoloArenaError(f"imgsz={cfg.imgsz} must be a positive multiple of 32")
    if cfg.half and cfg.backend != "openvino":
        raise YoloArenaError("half=True is supported with backend=openvino (an FP16 IR) only")
    for key in ("budget_params", "budget_gflops", "budget_latency", "budget_layers"):
        value = getattr(cfg, key)
        if value is not None and value <= 0:
            raise YoloArenaError(f"{key}={value} must be positive")
    if cfg.population < 1 or cfg.iterations < 0 or cfg.top < 1:
        raise YoloArenaError("population and top must be at least 1, iterations at least 0")
    smallest = space.smallest()
    if smallest.layers > space.layers:
        raise YoloArenaError(
            f"impossible budget: budget_layers={space.layers} is below the smallest {space.type} "
            f"network of the search space ({smallest.layers} conv layers: the stem and one "
            f"{space.convs_per_unit}-conv unit per stage)"
        )
    init, init_neck = _init(cfg, space)
    if init.type != space.type:
        raise YoloArenaError(f"init={cfg.init} is a {init.type} structure, not type={cfg.type}")
    problem = space.problem(init)
    if problem:
        raise YoloArenaError(f"init={cfg.init or 'default'} is outside the search space: {problem}")
    neck = check_neck(cfg.neck, init) if cfg.neck else init_neck or closest_variant(init)
    budgets = Budgets(cfg.budget_params, cfg.budget_gflops, cfg.budget_latency)
    return space, init, neck, budgets


def signature(cfg: SearchConfig, space: SearchSpace, neck: str) -> dict:
    """The settings a resumed search must share with the checkpoint."""
    keys = ("type", "imgsz", "num_classes", "budget_params", "budget_gflops", "budget_latency",
            "backend", "device", "half", "population", "seed")  # fmt: skip
    out = {k: getattr(cfg, k) for k in keys}
    return out | {"layers": space.layers, "ranges": [list(r) for r in space.ranges], "neck": neck}


def _check_possible(evaluate: Evaluator, space: SearchSpace, cfg: SearchConfig) -> None:
    """An impossible budget (below the smallest network of the space) is an error."""
    smallest = space.smallest()
    m = evaluate(smallest)
    if m.feasible:
        return
    checks = [
        ("budget_params", m.params, "M params"),
        ("budget_gflops", m.gflops, "GFLOPs"),
        ("budget_latency", m.latency, f"ms ({cfg.backend}, predicted)"),
    ]
    over = []
    for key, value, unit in checks:
        budget = getattr(cfg, key)
        if value is not None and budget is not None and value > budget:
            over.append(f"{key}={budget} (it needs {value:.3g} {unit})")
    raise YoloArenaError(
        f"impossible budget: {'; '.join(over)} is below the smallest {space.type} network of "
        f"the search space ({smallest.describe()}, with {evaluate.neck}'s neck and head at "
        f"{cfg.imgsz}); raise the budget or lower imgsz"
    )


def _predictor(cfg: SearchConfig, init: Structure, neck: str):
    from .latency_table import LatencyPredictor, LatencyTable

    table = LatencyTable(cfg.backend, cfg.device, cfg.half, max(cfg.runs // 2, 3), cfg.warmup,
                         cfg.table or None)  # fmt: skip
    LOGGER.info("latency table: %s (%d parts measured before)", table.path, len(table.parts))
    predictor = LatencyPredictor(table, cfg.num_classes, cfg.imgsz, cfg.runs, cfg.warmup)
    released = STRUCTURES[VARIANTS[neck].structure]
    LOGGER.info("calibrating on whole networks: the initial structure and %s", neck)
    predictor.calibrate(neck, [init, released])
    return predictor


def run_search(cfg: SearchConfig) -> tuple[Path, dict]:
    """Search, re-measure the best, write the run folder; returns (folder, summary)."""
    from ..engine.runs import run_dir

    space, init, neck, budgets = check_config(cfg)
    predictor = _predictor(cfg, init, neck) if budgets.latency is not None else None
    evaluate = Evaluator(budgets, neck, cfg.num_classes, cfg.imgsz, predictor)
    _check_possible(evaluate, space, cfg)  # before a run folder exists
    out = run_dir(cfg.project, "search", cfg.name, cfg.exist_ok or cfg.resume)
    handler = logging.FileHandler(out / "search.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    LOGGER.addHandler(handler)
    level = LOGGER.level
    if LOGGER.getEffectiveLevel() > logging.INFO:  # search.log gets INFO, also through the API
        LOGGER.setLevel(logging.INFO)
    try:
        save_yaml(cfg, out / "args.yaml")
        LOGGER.info("search %s: %s space, layers <= %d, C3/C4/C5 in %s; neck and head of %s; "
                    "%s", out, space.type, space.layers, [list(r) for r in space.ranges], neck,
                    budgets)  # fmt: skip
        if predictor is not None:
            LOGGER.info("latency predictor: %s, %s; constant of %s %+.2f ms (whole networks "
                        "measured minus their summed parts)", cfg.backend,
                        predictor.table.path, neck, predictor.constant(neck))  # fmt: skip
        state = _evolve(cfg, space, init, neck, evaluate, out)
        if predictor is not None:
            LOGGER.info("parts timed during this search: %d (table: %d)",
                        predictor.table.measured, len(predictor.table.parts))  # fmt: skip
        return out, finish(cfg, state, evaluate, predictor, neck, out)
    finally:
        LOGGER.setLevel(level)
        LOGGER.removeHandler(handler)
        handler.close()


def _evolve(cfg, space, init, neck, evaluate, out: Path) -> SearchState:
    sig = signature(cfg, space, neck)
    ckpt = out / "population.json"
    if cfg.resume and ckpt.is_file():
        state = load_state(ckpt, sig, cfg.population)
        LOGGER.info("resuming %s at iteration %d", ckpt, state.iteration)
    else:
        if cfg.resume:
            LOGGER.warning("resume=True but %s has no population.json; starting anew", out)
        state = new_state(init, evaluate, cfg.population, cfg.seed)
    seconds = (cfg.time or 0) * 3600
    state = evolve(state, space, evaluate, cfg.iterations, seconds,
                   lambda s: save_state(s, ckpt, sig))  # fmt: skip
    _require_feasible(state, cfg)
    return state


def _require_feasible(state: SearchState, cfg: SearchConfig) -> None:
    best: Member = state.population.members[0]
    if not best.feasible:
        raise YoloArenaError(
            f"no structure within the budgets after {state.iteration} iterations (the closest "
            f"exceeds them by {best.excess:.1%}: {best.structure.describe()}); give more "
            f"iterations= (resume=True continues this search) or a larger budget"
        )
