"""`yoloarena compare`: train each model with its family's recipe (or take given weights),
validate all under one pinned protocol, benchmark them, and write report.md and report.html.

    yoloarena compare                                  # the demo: built-in synthetic data
    yoloarena compare data=my.yaml models=yolov5n,damoyolo-t epochs=100 imgsz=640
    yoloarena compare data=my.yaml models=yolov5s.pt,damoyolo_tinynasL25_S.pth   # fine-tuned
    yoloarena compare data=my.yaml models=a/best.pt,b/best.pt finetune=False  # evaluated as given
    yoloarena compare data=my.yaml models=... backends=onnx,openvino-int8 budget_ms=20 \
        budget_backend=openvino-int8            # the most accurate model within 20 ms

How each model is obtained (trained from scratch, fine-tuned with its family's recipe, or
evaluated as given) is in bench/obtain.py; the budget choice in bench/budget.py. All models of a
compare share one task (detect, segment or classify), inferred from the models.

Resumable: each model's results are kept in runs/compare/<name>/models/<model>/result.json and
reused when the settings match; an interrupted training continues from its last.pt. Delete a
model's folder (or pass fresh=True) to redo it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from ..config import param, save_yaml, to_dict
from ..devices import FORMS, check_device
from ..errors import YoloArenaError
from ..registry import is_registered
from ..writes import write_image, write_json
from .benchmark import PINNED, BenchmarkConfig, mask_stats, model_row, timing_images
from .environment import environment
from .significance import compare_bootstrap, save_detection_records

LOGGER = logging.getLogger("yoloarena")


@dataclass
class CompareConfig:
    """Arguments of `yoloarena compare`."""

    data: str = param("", "dataset .yaml or COCO .json ('': the built-in synthetic shapes)")
    models: list[str] = param(factory=lambda: ["yolov5n", "damoyolo-ns"],
                              help="registered names (trained here) or weights files")  # fmt: skip
    epochs: int | None = param(None, "training epochs (None: 30 on the built-in data, else 100)",
                               ge=1)  # fmt: skip
    imgsz: int | None = param(None, "image size (None: 160 on the built-in data, else 640)", gt=0)
    batch: int | None = param(None, "training batch (None: 8 on the built-in data, else 16)", ge=1)
    hyp: str = param("", "preset for every model ('': each family's recipe; `short` on the "
                     "built-in data)")  # fmt: skip
    finetune: bool | None = param(None, "fine-tune weights files on data= with their family's "
                                  "recipe (None: when the file's classes differ from the "
                                  "data's; False: evaluate them as given)")  # fmt: skip
    backends: str = param("torch,onnx", "backends to time and score: torch, onnx, onnx-int8, "
                          "openvino, openvino-bf16, openvino-int8, tflite, ...")  # fmt: skip
    budget_ms: float | None = param(None, "latency budget (ms): names the most accurate model "
                                    "within it on budget_backend", gt=0)  # fmt: skip
    budget_backend: str = param("", "backend the budget applies to ('': the first of backends)")
    seed: int = param(0, "training seed of every model, and of the bootstrap resamples")
    seeds: int = param(1, "train each model this many times (seeds seed, seed+1, ...) and report "
                       "the spread of its accuracy", ge=1)  # fmt: skip
    runs: int = param(20, "timed runs per backend", ge=1)
    device: str = param("cpu", f"device: {FORMS}", check=check_device)
    workers: int = param(2, "data-loading worker processes", ge=0)
    samples: int = param(4, "val images shown with every model's predictions", ge=0)
    project: str = param("", "run folder parent ('': runs/compare); the report goes to "
                         "project/name")  # fmt: skip
    name: str = param("exp", "run folder name (kept: a rerun continues it)")
    fresh: bool = param(False, "start over instead of continuing a previous compare of this name")
    bootstrap: int = param(
        1000,
        "paired bootstrap resamples of the val images: each metric's 95% "
        "interval and whether the top two really differ (0: off)",
        ge=0,
    )


@dataclass
class Settings:
    """What a model's results depend on; results are reused only when these match."""

    data: str
    epochs: int
    imgsz: int
    batch: int
    hyp: str
    backends: str
    protocol: dict
    seed: int = 0
    seeds: int = 1

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def train_key(self) -> str:
        """What a training run depends on (not the backends or the protocol)."""
        keep = {k: getattr(self, k) for k in ("data", "epochs", "imgsz", "batch", "hyp", "seed")}
        return hashlib.sha1(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]


def builtin_data(out: Path, segment: bool = False) -> Path:
    """The built-in dataset, in the compare folder: 200 train / 50 val images of 3 shape classes
    at 160 (deterministic); segment: the shapes drawn from polygons, with polygon labels (for
    segmentation models; detectors train on their boxes)."""
    from ..data.synthetic import SynthSpec, make_synthetic

    task = "segment" if segment else "detect"
    spec = SynthSpec(n_train=200, n_val=50, imgsz=160, classes=3, seed=0, task=task)
    folder = out / "data" / ("shapes-160-seg" if segment else "shapes-160")
    yaml_path = folder / "data.yaml"
    if not yaml_path.is_file():
        LOGGER.info("generating the built-in synthetic dataset in %s", folder)
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        make_synthetic(tmp, spec)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    return yaml_path


def settings_of(cfg: CompareConfig, data: str) -> Settings:
    builtin = not cfg.data
    if not builtin and _classify(data):  # classifiers: upstream's classify defaults
        from .classify import DEFAULTS

        return Settings(data=data, epochs=cfg.epochs or DEFAULTS["epochs"],
                        imgsz=cfg.imgsz or DEFAULTS["imgsz"], batch=cfg.batch or DEFAULTS["batch"],
                        hyp=cfg.hyp, backends=cfg.backends,
                        protocol={"task": "classify", "metrics": "top1, top5"},
                        seed=cfg.seed, seeds=cfg.seeds)  # fmt: skip
    return Settings(
        data=data,
        epochs=cfg.epochs or (30 if builtin else 100),
        imgsz=cfg.imgsz or (160 if builtin else 640),
        batch=cfg.batch or (8 if builtin else 16),
        hyp=cfg.hyp or ("short" if builtin else ""),
        backends=cfg.backends,
        protocol=asdict(PINNED),
        seed=cfg.seed,
        seeds=cfg.seeds,
    )


def model_key(spec: str) -> str:
    """A folder name for a model given as a registered name or a weights file."""
    if is_registered(spec):
        return spec
    p = Path(spec)
    parent = p.parent.parent.name if p.parent.name == "weights" else p.parent.name
    return f"{parent}-{p.stem}" if parent else p.stem


def run_compare(cfg: CompareConfig) -> Path:
    from ..engine.runs import project_dir
    from .latency import parse_backends
    from .obtain import check_tasks, describe, plan

    if not cfg.models:
        raise YoloArenaError("models= is empty; give e.g. models=yolov5n,damoyolo-ns")
    backends = parse_backends(cfg.backends)  # bad names fail before any work
    budget_backend = budget_backend_of(cfg, backends)
    described = {spec: describe(spec) for spec in dict.fromkeys(cfg.models)}
    task = check_tasks({spec: d[1] for spec, d in described.items()})
    if not cfg.data and task == "classify":
        raise YoloArenaError("compare of classifiers needs data=<classification folder> (train/ "
                             "and val/ with one folder per class)")  # fmt: skip
    out = project_dir(cfg.project, "compare") / (cfg.name or "exp")
    if cfg.fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    data = cfg.data or str(builtin_data(out, task == "segment"))
    check_data(data, task)
    names = data_names(data) if any(d[2] is not None for d in described.values()) else {}
    origins = [plan(spec, names, cfg.finetune, described[spec]) for spec in described]
    settings = settings_of(cfg, data)
    save_yaml(cfg, out / "args.yaml")
    LOGGER.info("compare (%s): %s on %s at %d", task, ", ".join(o.text() for o in origins), data,
                settings.imgsz)  # fmt: skip
    results = [compare_one(o, cfg, settings, out) for o in origins]
    choice = None
    if cfg.budget_ms is not None:
        from .budget import pick

        choice = pick(results, cfg.budget_ms, budget_backend)
        print(choice.message.replace("**", ""))
    env = environment(cfg.device)
    boot = compare_bootstrap(results, cfg.bootstrap, cfg.seed, out)
    if task == "classify":
        from .classify import write_classify_report

        md, html = write_classify_report(out, results, settings, env, choice, boot)
    else:
        from .report import write_report

        md, html = write_report(out, results, settings, env, to_dict(cfg), choice, boot)
    print(f"report: {html.resolve()}\n        {md.resolve()}")
    return out


def budget_backend_of(cfg: CompareConfig, backends: list[str]) -> str:
    """The backend budget_ms= applies to (the first of backends by default); one that is not
    measured is an error."""
    from .latency import parse_backends

    if not cfg.budget_backend:
        return backends[0]
    name = parse_backends(cfg.budget_backend)[0]
    if name not in backends:
        raise YoloArenaError(f"budget_backend={cfg.budget_backend} is not among backends="
                             f"{cfg.backends}; add it there or pick one of them")  # fmt: skip
    return name


def check_data(data: str, task: str) -> None:
    """Classifiers need a classification folder, detectors and segmenters a detection set."""
    if _classify(data) != (task == "classify"):
        kind = "a classification folder" if task == "classify" else "a detection dataset"
        raise YoloArenaError(f"data={data} does not fit {task} models: give {kind}")


def data_names(data: str) -> dict[int, str]:
    if _classify(data):
        from ..data.classify import load_classify

        return dict(load_classify(data, "val").names)
    from ..data.load import load_dataset

    return dict(load_dataset(data, "val").names)


def compare_one(origin, cfg: CompareConfig, settings: Settings, out: Path) -> dict:
    from .obtain import obtain

    spec = origin.spec
    key = model_key(spec)
    folder = out / "models" / key
    done = folder / "result.json"
    if done.is_file():
        result = json.loads(done.read_text())
        how = (result.get("origin") or {}).get("how")
        if result.get("settings_key") == settings.key() and how == origin.how:
            LOGGER.info("compare: %s done in a previous run (%s); reusing it", spec, done)
            return result
        LOGGER.info("compare: %s has results for other settings; redoing it", spec)
    shutil.rmtree(folder, ignore_errors=True)
    weights, train_dir = obtain(origin, key, cfg, settings, out)
    result = _evaluate(spec, key, weights, train_dir, cfg, settings, folder)
    result["origin"] = {**asdict(origin), "text": origin.text()}
    if cfg.seeds > 1:
        from .seeds import seed_runs

        result["seed_runs"] = seed_runs(origin, key, cfg, settings, out, result)
    tmp = done.with_name("result.json.tmp")
    write_json(tmp, result, indent=1, default=float)
    os.replace(tmp, done)  # a model counts as done only once its whole result is written
    return result


def _evaluate(spec, key, weights, train_dir, cfg, settings: Settings, folder: Path) -> dict:
    if settings.protocol.get("task") == "classify":
        from .classify import evaluate_classifier

        return evaluate_classifier(spec, key, weights, train_dir, cfg, settings, folder)
    from ..data.load import load_dataset
    from ..engine.validator import validate
    from ..loading import load_model

    folder.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(settings.data, "val")
    model = load_model(weights, device=cfg.device).deploy()
    val = validate(model, dataset, settings.imgsz, 16, PINNED, workers=cfg.workers, records=True)
    m = val.metrics
    mean_pr = m.pr_curves.mean(0).tolist() if m.pr_curves is not None and len(m.pr_curves) else []
    samples = _samples(model, dataset, cfg.samples, settings.imgsz, folder)
    bench = BenchmarkConfig(imgsz=settings.imgsz, backends=settings.backends, device=cfg.device,
                            runs=cfg.runs, data=settings.data)  # fmt: skip
    images = [dataset.load_image(i) for i in _sample_ids(len(dataset), 4)] or timing_images("")
    row = model_row(
        spec,
        model,
        bench,
        images,
        {**m.stats, **mask_stats(val), "protocol": val.protocol},
        dataset,
    )  # fmt: skip  (AP of every backend's own file)
    curves = train_dir / "results.png" if train_dir else None
    return {
        **row,
        "key": key,
        "settings": asdict(settings),
        "settings_key": settings.key(),
        "weights": str(weights),
        "trained": train_dir is not None,
        "train_dir": str(train_dir) if train_dir else None,
        "train_curves": str(curves) if curves and curves.is_file() else None,
        "precision": m.precision,
        "recall": m.recall,
        "best_conf": m.best_conf,
        "per_class": m.per_class,
        "pr_curve": mean_pr,
        "samples": samples,
        "names": {str(k): v for k, v in dataset.names.items()},
        "records": save_detection_records(folder, dataset, val),  # for the bootstrap
    }


def _sample_ids(n: int, k: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n - 1, k)}) if n and k else []


def _samples(model, dataset, k: int, imgsz: int, folder: Path) -> list[dict]:
    """The same k val images for every model: predictions drawn at conf 0.25."""
    from ..plotting import class_color, draw_detections

    out = []
    for i in _sample_ids(len(dataset), k):
        img = dataset.load_image(i)
        res = model.predict(img, imgsz=imgsz, conf=0.25)[0]
        texts = [f"{model.names[int(c)]} {s:.2f}" for c, s in zip(res.labels, res.scores,
                                                                    strict=True)]  # fmt: skip
        k_up = max(1.0, 480 / max(img.shape[:2]))  # small images drawn larger: readable tags
        shown = img
        if res.masks is not None:  # segmentation: the masks under the boxes
            shown = res.masks.overlay(img.copy(), [class_color(c) for c in res.labels.tolist()])
        big = cv2.resize(shown, None, fx=k_up, fy=k_up) if k_up > 1 else shown
        drawn = draw_detections(big, res.boxes.numpy() * k_up, res.labels.numpy(), texts)
        path = folder / "samples" / f"{i:05d}.jpg"
        write_image(path, drawn, [cv2.IMWRITE_JPEG_QUALITY, 90])
        gt = folder.parent.parent / "ground_truth" / f"{i:05d}.jpg"
        if not gt.is_file():  # the same for every model: drawn once
            t = dataset.targets(i)
            names = [dataset.names[int(c)] for c in t.labels]
            write_image(gt, draw_detections(big, t.boxes * k_up, t.labels, names))
        out.append({"index": i, "file": dataset.files[i], "image": str(path),
                    "ground_truth": str(gt), "detections": len(res.scores)})  # fmt: skip
    return out


def _classify(data: str) -> bool:
    from ..data.classify import is_classify_data

    return is_classify_data(data)
