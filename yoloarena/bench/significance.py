"""compare's "is the difference real?": every model's per-image records are kept next to its
result (records_<kind>.npz), and a paired bootstrap over the validation images gives each metric
a 95% interval and the interval of the difference between the top two models (bootstrap.json and
the report's section)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..eval.bootstrap import (
    NO_DIFFERENCE,
    ClassifyRecords,
    CocoRecords,
    bootstrap,
    coco_records,
)
from ..writes import write_json

LOGGER = logging.getLogger("yoloarena")
TITLE = "Is the difference real?"
NAMES = {"AP": "AP50-95", "AP50": "AP50", "mask_AP": "mask AP50-95", "mask_AP50": "mask AP50",
         "top1": "top-1", "top5": "top-5"}  # fmt: skip


def save_detection_records(folder: Path, dataset, val) -> dict[str, str]:
    """Box (and, for masks, segm) records of a validation (validate(records=True) keeps them;
    else they are made from its predictions); returns {kind: file name in folder}."""
    kinds = {"bbox": val.metrics}
    if val.mask_metrics is not None:
        kinds["segm"] = val.mask_metrics
    out = {}
    for kind, metrics in kinds.items():
        recs = metrics.records
        if recs is None:
            gt, ids = dataset.to_coco(), dataset.image_ids.tolist()
            recs = coco_records(gt, val.predictions, ids, iou_type=kind)
        path = folder / f"records_{kind}.npz"
        recs.save(path)
        out[kind] = path.name
    return out


def save_classify_records(folder: Path, metrics) -> dict[str, str]:
    """A classifier's per-image top-1 / top-5 hits; returns {"classify": file name in folder}."""
    path = folder / "records_classify.npz"
    ClassifyRecords(metrics.hits[:, 0], metrics.hits[:, 1]).save(path)
    return {"classify": path.name}


def _load(paths: dict[str, Path]) -> list:
    return [ClassifyRecords.load(p) if kind == "classify" else CocoRecords.load(p)
            for kind, p in paths.items()]  # fmt: skip


def compare_bootstrap(results: list[dict], resamples: int, seed: int, out: Path) -> dict | None:
    """The paired bootstrap of compare's models (written to out/bootstrap.json); None when off.

    Each result's `records` names its files in out/models/<key>/ (absolute paths also work)."""
    if resamples <= 0 or len(results) < 1:
        return None
    recs, missing = {}, []
    for r in results:
        folder = out / "models" / r.get("key", "")
        paths = {k: folder / p for k, p in (r.get("records") or {}).items()}
        if paths and all(Path(p).is_file() for p in paths.values()):
            recs[r["model"]] = _load(paths)
        else:
            missing.append(r["model"])
    summary = {"resamples": resamples, "seed": seed, "missing": missing}
    if not recs:
        return summary | {"models": {}, "verdicts": []}
    t0 = time.perf_counter()
    try:
        boot = bootstrap(recs, resamples, seed)
    except ValueError as e:  # e.g. a single validation image, or models on different images
        LOGGER.warning("compare: no bootstrap: %s", e)
        return summary | {"models": {}, "verdicts": [], "error": str(e)}
    seconds = time.perf_counter() - t0
    metrics = [k for k in NAMES if k in next(iter(boot.point.values()))]
    primary = [k for k in ("AP", "mask_AP", "top1") if k in metrics]
    models = {}
    for m in boot.point:
        models[m] = {k: {"value": boot.point[m][k], "interval": list(boot.interval(m, k))}
                     for k in metrics}  # fmt: skip
    summary |= {
        "level": boot.level,
        "images": boot.images,
        "seconds": seconds,
        "metrics": metrics,
        "models": models,
        "verdicts": [boot.verdict(k) for k in primary] if len(recs) > 1 else [],
        "differences": {},
    }
    if len(recs) > 1:
        for k in primary:
            a, b = boot.top_two(k)
            diff, lo, hi = boot.difference(a, b, k)
            summary["differences"][k] = {"a": a, "b": b, "difference": diff, "interval": [lo, hi],
                                         "better": lo > 0 or hi < 0}  # fmt: skip
    LOGGER.info("compare: bootstrap of %d models, %d resamples over %d images in %.2f s",
                len(recs), resamples, boot.images, seconds)  # fmt: skip
    write_json(out / "bootstrap.json", summary, indent=1, default=float)
    return summary


def verdict_lines(summary: dict | None) -> list[str]:
    """The verdict lines for the report's Verdict section (empty when the bootstrap is off)."""
    if not summary or not summary.get("verdicts"):
        return []
    return [f"Top two, paired bootstrap: {v}." for v in summary["verdicts"]]


def bootstrap_section(summary: dict | None) -> list[str]:
    """The report section: each model's metrics with their intervals, then the verdicts."""
    s = [f"## {TITLE}", ""]
    if not summary:
        return [*s, "Bootstrap off (`bootstrap=0`).", ""]
    if not summary.get("models"):
        why = summary.get("error") or (
            "no per-image records (results of an older compare: rerun with `fresh=True`)"
        )
        return [*s, f"Nothing to resample: {why}.", ""]
    level = f"{summary['level']:.0%}"
    s += [
        f"Paired bootstrap over the {summary['images']} validation images: "
        f"{summary['resamples']} resamples (seed {summary['seed']}), every model scored on the "
        f"same resamples; value on the validation set [{level} percentile interval].",
        "",
    ]
    metrics = summary["metrics"]
    s += ["| model | " + " | ".join(NAMES[k] for k in metrics) + " |",
          "|---|" + "---:|" * len(metrics)]  # fmt: skip
    for model, values in summary["models"].items():
        cells = [f"{v['value']:.4f} [{v['interval'][0]:.4f}, {v['interval'][1]:.4f}]"
                 for v in (values[k] for k in metrics)]  # fmt: skip
        s.append(f"| {model} | " + " | ".join(cells) + " |")
    s.append("")
    for v in summary.get("verdicts", []):
        s += [f"- {v}"]
    if summary.get("verdicts"):
        s += [
            "",
            f"A model is called better only when the {level} interval of the difference excludes "
            f"0; otherwise: {NO_DIFFERENCE}. The interval covers which images happen to be in the "
            "validation set, not training noise (seeds) or other data.",
            "",
        ]
    if summary.get("missing"):
        s += [f"Not resampled (no per-image records): {', '.join(summary['missing'])}.", ""]
    return s
