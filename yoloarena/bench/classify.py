"""Benchmark and compare for classifiers: top-1/top-5 in place of AP, the same latency per backend.

    yoloarena compare data=coco128-cls models=yolov5n-cls,damoyolo-t-cls
    yoloarena benchmark models=yolov5n-cls,resnet18 imgsz=224 data=coco128-cls

compare trains each model with the `classify` recipe (or takes given weights), validates all on
the same split with the same eval transform, times them, and writes report.md / report.html.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import cv2

from ..eval.classify import plot_classify_confusion
from .benchmark import BenchmarkConfig, model_row, timing_images
from .charts import latency_backend, pareto, plot_tradeoff
from .environment import describe
from .significance import save_classify_records
from .tables import fmt, measured_table, published_table

DEFAULTS = {"epochs": 10, "imgsz": 224, "batch": 32}  # upstream classify/train.py: 10, 224, 64


def classify_metrics(model, dataset, imgsz: int, batch: int, workers: int = 2) -> dict:
    """top1/top5 (and the protocol) of a classifier on a ClassifyDataset."""
    from ..engine.classify_val import validate_classifier

    if model.task != "classify" or getattr(dataset, "task", "") != "classify":
        raise ValueError(f"{model.model_name} ({model.task}) cannot be scored on this dataset")
    result = validate_classifier(model.deploy(), dataset, imgsz, batch, workers=workers)
    return {**result.metrics.stats, "protocol": result.protocol,
            "file": getattr(model, "source", "") or "PyTorch"}  # fmt: skip


def evaluate_classifier(spec, key, weights, train_dir, cfg, settings, folder: Path) -> dict:
    """compare's result for one classifier: validation, confusion matrix, samples, latency."""
    from ..data.classify import load_classify
    from ..engine.classify_val import validate_classifier
    from ..loading import load_model
    from .compare import _sample_ids

    folder.mkdir(parents=True, exist_ok=True)
    dataset = load_classify(settings.data, "val")
    model = load_model(weights, device=cfg.device).deploy()
    val = validate_classifier(model, dataset, settings.imgsz, 32, workers=cfg.workers)
    m = val.metrics
    confusion = plot_classify_confusion(m, folder / "confusion_matrix.png")
    ids = _sample_ids(len(dataset), cfg.samples)
    samples = []
    for i in ids:
        r = model.predict(dataset.load_image(i), imgsz=settings.imgsz)[0]
        img = r.orig_img
        k = max(1.0, 320 / max(img.shape[:2]))  # small crops drawn larger: readable text
        big = cv2.resize(img, None, fx=k, fy=k) if k > 1 else img
        path = folder / "samples" / f"{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), r.plot(img=big))
        truth = dataset.names[int(dataset.labels[i])]
        samples.append({"index": i, "file": dataset.files[i], "image": str(path), "truth": truth,
                        "top1": r.probs.name_of(r.probs.top1)})  # fmt: skip
    bench = BenchmarkConfig(imgsz=settings.imgsz, backends=settings.backends, device=cfg.device,
                            runs=cfg.runs, data=settings.data, batch=32)  # fmt: skip
    images = [dataset.load_image(i) for i in _sample_ids(len(dataset), 4)] or timing_images("")
    row = model_row(spec, model, bench, images, {**m.stats, "protocol": val.protocol}, dataset)
    curves = train_dir / "results.png" if train_dir else None
    return {
        **row, "key": key, "settings": asdict(settings), "settings_key": settings.key(),
        "weights": str(weights), "trained": train_dir is not None,
        "train_dir": str(train_dir) if train_dir else None,
        "train_curves": str(curves) if curves and curves.is_file() else None,
        "per_class": m.per_class, "confusion": str(confusion), "samples": samples,
        "names": {str(k): v for k, v in dataset.names.items()},
        "records": save_classify_records(folder, m),  # for the bootstrap
    }  # fmt: skip


def write_classify_report(out: Path, results: list[dict], settings, env: dict, choice=None,
                          bootstrap: dict | None = None) -> tuple[Path, Path]:  # fmt: skip
    """report.md and report.html for classifiers; returns their paths. choice: the budget's
    outcome (bench.budget.Choice); bootstrap: compare_bootstrap's summary (None when off)."""
    from .report import _html, _rel, recipe_lines
    from .significance import bootstrap_section, verdict_lines

    tradeoff = plot_tradeoff(results, out / "tradeoff.png", choice)
    s = ["# yoloarena compare (classification): " + ", ".join(r["model"] for r in results), ""]
    s += ["## Verdict", "", *_verdict(results), *verdict_lines(bootstrap),
          *([choice.message] if choice else []), ""]  # fmt: skip
    s += ["## Protocol", "",
          f"- data: `{settings.data}`; image size {settings.imgsz}; training: {settings.epochs} "
          f"epochs, batch {settings.batch}, recipe `{settings.hyp or 'classify'}` (YOLOv5 v7.0's "
          "classify/train.py recipe for every model)",
          "- validation, the same for every model: the val split (test/ when there is no val/), "
          "centred square crop resized to the image size, top-1 and top-5 accuracy",
          f"- latency: batch 1, fp32, backends {settings.backends}; median (p90) of timed runs, "
          "model only and end to end (`predict`: decode, crop, resize, network, softmax)",
          f"- measured on: {describe(env)}", *recipe_lines(results, settings.hyp), ""]  # fmt: skip
    from .seeds import seed_lines

    s += ["## Results", "", _results_table(results), "", *seed_lines(results), "",
          "Size, speed, and the top-1 of each backend's own exported file:", "",
          measured_table(results), ""]  # fmt: skip
    s += [*bootstrap_section(bootstrap)]
    s += ["## Accuracy vs latency", "", f"![top-1 vs latency]({_rel(tradeoff, out)})", ""]
    s += ["## Per-class top-1", "", _per_class_table(results), ""]
    s += ["## Confusion matrices", ""]
    s += [f"### {r['model']}\n\n![confusion]({_rel(r['confusion'], out)})\n" for r in results]
    s += ["## Sample predictions", "", "Each model's top 5 on the same validation images.", ""]
    heads = ["truth"] + [r["model"] for r in results]
    s += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for k, sample in enumerate(results[0]["samples"]):
        cells = [sample["truth"]] + [f"![{r['model']}]({_rel(r['samples'][k]['image'], out)})"
                                     for r in results]  # fmt: skip
        s.append("| " + " | ".join(cells) + " |")
    s += ["", "## Training", ""]
    s += [f"### {r['model']}\n\n![curves]({_rel(r['train_curves'], out)})\n"
          for r in results if r.get("train_curves")]  # fmt: skip
    pub = published_table(results)
    if pub:
        s += ["## Published figures", "", "(ImageNet-1k, not measured here, other hardware)", "",
              pub, ""]  # fmt: skip
    md = "\n".join(s) + "\n"
    (out / "report.md").write_text(md)
    (out / "report.html").write_text(_html(md, out))
    return out / "report.md", out / "report.html"


def _verdict(results: list[dict]) -> list[str]:
    best = max(results, key=lambda r: r["metrics"]["top1"])
    lines = [f"Most accurate: **{best['model']}** (top-1 {best['metrics']['top1']:.4f}, top-5 "
             f"{best['metrics']['top5']:.4f})."]  # fmt: skip
    backend = latency_backend(results)
    if backend:
        fast = min(results, key=lambda r: r["latency"][backend]["median_ms"])
        lines.append(f"Fastest ({backend}, model only): **{fast['model']}** "
                     f"({fast['latency'][backend]['median_ms']:.1f} ms per image).")  # fmt: skip
        pts = [(r["latency"][backend]["median_ms"], r["metrics"]["top1"]) for r in results]
        lines.append("Pareto-optimal: " + ", ".join(f"**{results[i]['model']}**"
                                                    for i in pareto(pts)) + ".")  # fmt: skip
    return lines


def _results_table(results: list[dict]) -> str:
    from .report import obtained

    lines = ["| model | obtained | top-1 | top-5 |", "|---|---|---:|---:|"]
    for r in results:
        m = r["metrics"]
        lines.append(f"| {r['model']} | {obtained(r)} | "
                     f"{fmt(m['top1'], 4)} | {fmt(m['top5'], 4)} |")  # fmt: skip
    return "\n".join(lines)


def _per_class_table(results: list[dict]) -> str:
    names = list(dict.fromkeys(c["name"] for r in results for c in r["per_class"]))
    head = "| class | images | " + " | ".join(f"{r['model']} top-1" for r in results) + " |"
    lines = [head, "|---|" + "---:|" * (len(results) + 1)]
    for name in names:
        cells = [c for r in results for c in r["per_class"] if c["name"] == name]
        row = [name, str(cells[0]["images"]) if cells else "-"]
        row += [fmt(c["top1"], 3) for c in cells]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
