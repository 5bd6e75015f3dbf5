"""seeds=N in `yoloarena compare`: every trained or fine-tuned model is trained N times (seeds
seed, seed+1, ...) and validated under the same protocol; the report gives the spread of its
accuracy over the seeds next to the first seed's full evaluation (models evaluated as given
have one result)."""

from __future__ import annotations

import logging
import statistics
from dataclasses import replace
from pathlib import Path

LOGGER = logging.getLogger("yoloarena")


def seed_runs(origin, key: str, cfg, settings, out: Path, first: dict) -> list[dict]:
    """The accuracy of each seed: the first from its full result, the others trained in
    out/train/<key>-seed<s> (resumable like any compare training) and validated."""
    from .benchmark import PINNED
    from .budget import metric_of
    from .obtain import obtain

    metric = metric_of([first])
    runs = [{"seed": settings.seed, metric: first["metrics"][metric]}]
    if origin.how == "given":
        return runs
    for s in range(settings.seed + 1, settings.seed + cfg.seeds):
        LOGGER.info("compare: %s, seed %d of %d", origin.spec, s - settings.seed + 1, cfg.seeds)
        weights, _ = obtain(origin, f"{key}-seed{s}", cfg, replace(settings, seed=s), out)
        runs.append({"seed": s, metric: _score(weights, cfg, settings, PINNED)[metric]})
    return runs


def _score(weights: str, cfg, settings, protocol) -> dict:
    from ..loading import load_model

    model = load_model(weights, device=cfg.device).deploy()
    if model.task == "classify":
        from ..data.classify import load_classify
        from .classify import classify_metrics

        return classify_metrics(model, load_classify(settings.data, "val"), settings.imgsz, 32,
                                cfg.workers)  # fmt: skip
    from ..data.load import load_dataset
    from ..engine.validator import validate

    val = validate(model, load_dataset(settings.data, "val"), settings.imgsz, 16, protocol,
                   workers=cfg.workers)  # fmt: skip
    return val.metrics.stats


def spread(values: list[float]) -> dict:
    """mean, sample standard deviation (0 for one value), min and max."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"n": len(values), "mean": statistics.fmean(values), "sd": sd, "min": min(values),
            "max": max(values)}  # fmt: skip


def seed_lines(results: list[dict]) -> list[str]:
    """One line per model trained with several seeds: its accuracy's spread."""
    lines = []
    for r in results:
        runs = r.get("seed_runs") or []
        if len(runs) < 2:
            continue
        metric = "top1" if "top1" in runs[0] else "AP"
        s = spread([run[metric] for run in runs])
        label = "top-1" if metric == "top1" else "AP50-95"
        lines.append(f"- {r['model']}: {label} over {s['n']} seeds {s['mean']:.4f} ± "
                     f"{s['sd']:.4f} (min {s['min']:.4f}, max {s['max']:.4f}; seeds "
                     + ", ".join(str(run["seed"]) for run in runs) + ")")  # fmt: skip
    return lines
