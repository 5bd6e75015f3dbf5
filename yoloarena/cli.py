"""Command line: `yoloarena MODE key=value ...` (Ultralytics conventions). No logic lives here:
each mode is a config dataclass (its fields' help is `yoloarena MODE help`) and the library
function that runs it. A user error prints one line `yoloarena MODE: error: ...` and exits 1."""

from __future__ import annotations

import importlib
import logging
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .config import help_rows, load_config, parse_overrides
from .errors import YoloArenaError, unknown

HELP = ("help", "-h", "--help")
EXIT_ERROR = 1  # a user error (bad argument or file): one line on stderr
WIDTH = 100  # help text wraps here


@dataclass(frozen=True)
class Mode:
    summary: str  # one line; `-> folder` says where the results go
    config: str  # "module:Class" under yoloarena
    run: str  # "module:function" under yoloarena
    examples: tuple[str, ...] = ()


MODES: dict[str, Mode] = {
    "train": Mode(
        "train a model (random init or fine-tune from weights) -> runs/train/<name>/",
        "engine.train_job:TrainConfig", "engine.train_job:run_train",
        ("yoloarena train model=yolov5n data=coco128.yaml epochs=100 imgsz=640 batch=16",
         "yoloarena train cfg=train.yaml lr0=0.005   (cfg file keys include hyperparameters)",
         "yoloarena train resume=True     (continue the newest interrupted run)",
         "yoloarena train model=yolov5s-cls data=coco128-cls epochs=10 imgsz=224",
         "(classification: data is a folder with train/ and val/ holding one folder per class)"),
    ),
    "predict": Mode(
        "run a model on images, folders, globs, videos or http(s) URLs -> runs/predict/<name>/",
        "engine.predict_job:PredictConfig", "engine.predict_job:run_predict",
        ("yoloarena predict model=yolov5n.pt source=images/ conf=0.25 imgsz=640 save_txt=True",),
    ),
    "val": Mode(
        "COCO metrics (classifiers: top-1/top-5) of a model on a dataset split -> runs/val/<name>/",
        "engine.val_job:ValConfig", "engine.val_job:run_val",
        ("yoloarena val model=yolov5n.pt data=coco128.yaml imgsz=640 batch=32",),
    ),
    "export": Mode(
        "write ONNX / OpenVINO / TorchScript / TensorRT / TFLite / CoreML (INT8: int8=True "
        "data=...), checked against PyTorch (INT8: by AP) -> next to the weights (project=/name=: "
        "that run folder)",
        "engine.export_job:ExportConfig", "engine.export_job:run_export",
        ("yoloarena export model=yolov5n.pt format=onnx imgsz=640 dynamic=True",
         "(then model=yolov5n.onnx works in predict and val)"),
    ),
    "benchmark": Mode(
        "params, GFLOPs, latency per backend (and mAP with data=) -> runs/benchmark/<name>/",
        "bench.benchmark:BenchmarkConfig", "bench.benchmark:run_benchmark",
        ("yoloarena benchmark models=yolov5n,damoyolo-t imgsz=640 backends=torch,onnx,openvino",),
    ),
    "compare": Mode(
        "train (or take weights), validate under one protocol, benchmark, report "
        "-> runs/compare/<name>/",
        "bench.compare:CompareConfig", "bench.compare:run_compare",
        ("yoloarena compare            (built-in synthetic data: the demo)",
         "yoloarena compare data=my.yaml models=yolov5n,damoyolo-t epochs=100 imgsz=640"),
    ),
    "check": Mode(
        "scan a dataset and report every problem by file -> runs/check/<name>/",
        "engine.data_jobs:CheckConfig", "engine.data_jobs:run_check",
        ("yoloarena check data=coco128.yaml",),
    ),
    "convert": Mode(
        "YOLO txt <-> COCO json (images are linked, not copied); to=classify: one crop per box in "
        "class folders (a classification dataset)",
        "engine.data_jobs:ConvertConfig", "engine.data_jobs:run_convert",
        ("yoloarena convert data=coco128.yaml to=coco out=coco128_json",
         "yoloarena convert data=coco128.yaml to=classify out=coco128-cls"),
    ),
    "data": Mode(
        "`data synth`: write a deterministic synthetic dataset (shapes on clutter, YOLO layout)",
        "engine.data_jobs:SynthConfig", "engine.data_jobs:run_synth",
        ("yoloarena data synth out=datasets/shapes n_train=300 n_val=60 imgsz=320 classes=4",
         "yoloarena data synth task=segment out=datasets/shapes-seg   (polygon labels, YOLO-seg)",
         "yoloarena data synth task=classify out=datasets/shapes-cls n_train=40 n_val=10"),
    ),
    "search": Mode(
        "MAE-NAS: a DAMO-YOLO backbone for a budget measured on this machine "
        "-> runs/search/<name>/",
        "search.job:SearchConfig", "search.job:run_search",
        ("yoloarena search budget_latency=15 backend=openvino imgsz=416 type=k1kx iterations=20000",
         "yoloarena search budget_gflops=18.01     (no timing: params/GFLOPs from the structure)",
         "(then: yoloarena train model=runs/search/exp/structure.yaml data=...)"),
    ),
    "info": Mode(
        "the model zoo: measured params and GFLOPs next to the published figures",
        "bench.stats:InfoConfig", "bench.stats:run_info",
        ("yoloarena info [models=yolov5n,yolov5s] [imgsz=640]",),
    ),
}  # fmt: skip


def usage() -> str:
    lines = ["usage: yoloarena MODE [key=value ...]", "", "modes:"]
    for name, mode in MODES.items():
        lines += textwrap.wrap(mode.summary, WIDTH, initial_indent=f"  {name:<9} ",
                               subsequent_indent=" " * 12)  # fmt: skip
        lines += [f"{'':12}{e}" for e in mode.examples]
    lines += [
        f"  {'version':<9} print the version (also --version)",
        "",
        "`yoloarena MODE help` (or -h) lists the mode's keys with their defaults. Any mode takes",
        "cfg=file.yaml for defaults; key=value arguments override it. project=X name=Y writes the "
        "folder X/Y.",
    ]
    return "\n".join(lines)


def _attr(spec: str) -> Any:
    module, name = spec.split(":")
    return getattr(importlib.import_module(f"yoloarena.{module}"), name)


def config_of(name: str) -> type:
    """The config dataclass of a mode."""
    return _attr(MODES[name].config)


def mode_help(name: str) -> str:
    """`yoloarena MODE help`: every key of the mode's config with its default and one line."""
    mode = MODES[name]
    command = "data synth" if name == "data" else name
    lines = [f"usage: yoloarena {command} [key=value ...] [cfg=file.yaml]", ""]
    lines += textwrap.wrap(mode.summary, WIDTH)
    lines += [f"  {e}" for e in mode.examples]
    for title, rows in help_rows(config_of(name)):
        lines += ["", *textwrap.wrap(f"{title}:", WIDTH)]
        key_w = max(len(k) for k, _, _ in rows)
        default_w = min(max(len(d) for _, d, _ in rows), 20)
        indent = " " * (key_w + default_w + 6)
        for k, d, h in rows:
            first = f"  {k:<{key_w}}  {d:<{default_w}}  "
            lines += textwrap.wrap(h, WIDTH, initial_indent=first, subsequent_indent=indent) or [
                first.rstrip()
            ]
    lines += ["", "cfg=file.yaml: the same keys in a yaml file; key=value arguments override it."]
    return "\n".join(lines)


def _run(name: str, args: dict[str, str], cfg_file: str | None) -> Any:
    mode = MODES[name]
    if name == "train":
        return _train(args, cfg_file)
    if name == "predict":
        return _predict(args, cfg_file)
    return _attr(mode.run)(load_config(config_of(name), args, cfg_file))


def _predict(args: dict[str, str], cfg_file: str | None) -> None:
    from .engine.predict_job import run_predict

    errors: list[str] = []
    out = run_predict(load_config(config_of("predict"), args, cfg_file), errors)
    if errors:  # the usable inputs were predicted and saved; the others are named
        more = f" (and {len(errors) - 1} more, listed above)" if len(errors) > 1 else ""
        raise YoloArenaError(f"skipped {errors[0]}{more}; the other results are in {out}")


def _train(args: dict[str, str], cfg_file: str | None) -> int | None:
    import os
    import subprocess

    from .devices import cuda_indices
    from .engine.ddp import torchrun_command
    from .engine.train_job import parse_train_args, run_train

    cfg = parse_train_args(args, cfg_file)
    devices = cuda_indices(cfg.device)
    if len(devices) > 1 and "WORLD_SIZE" not in os.environ:  # device=0,1: one process per GPU
        argv = [f"{k}={v}" for k, v in args.items()] + ([f"cfg={cfg_file}"] if cfg_file else [])
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(map(str, devices))}
        return subprocess.run(torchrun_command(argv, devices), env=env).returncode
    run_train(cfg, given=set(args))
    return None


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (so redirections and captures work)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _setup_logging() -> None:
    logger = logging.getLogger("yoloarena")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_Formatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        return f"WARNING: {msg}" if record.levelno >= logging.WARNING else msg


def _mode_args(mode: str, rest: list[str]) -> list[str] | None:
    """The key=value arguments of a mode, or None when help was asked for."""
    if mode == "data":
        if rest[:1] == ["synth"]:
            rest = rest[1:]
        elif not (rest and rest[0] in HELP):
            raise YoloArenaError(
                "data needs a subcommand: `yoloarena data synth out=<folder> [n_train=300 "
                "n_val=60 imgsz=320 classes=4 seed=0]` writes a synthetic dataset"
            )
    return None if any(a in HELP for a in rest) else rest


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (1 for a user error, printed as one line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv == ["help"] or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] in ("--version", "version"):
        from . import __version__

        print(__version__)
        return 0
    if argv[0] == "help":  # `yoloarena help train` = `yoloarena train help`
        argv = [*argv[1:2], "help"]
    _setup_logging()
    mode = argv[0]
    try:
        if mode not in MODES:
            raise unknown("mode", mode, [*MODES, "version"], hint="run `yoloarena help`")
        rest = _mode_args(mode, argv[1:])
        if rest is None:
            print(mode_help(mode))
            return 0
        args = parse_overrides(rest)
        cfg_file = args.pop("cfg", None)
        code = _run(mode, args, cfg_file)
    except YoloArenaError as e:
        print(f"yoloarena {mode}: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
