"""Command line: `yoloarena MODE key=value ...` (Ultralytics conventions). No logic lives here."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal

from .config import load_config, parse_overrides
from .errors import YoloArenaError, unknown

USAGE = """usage: yoloarena MODE [key=value ...]

modes:
  train     train a model (random init or fine-tune from weights) -> runs/train/<name>/
            yoloarena train model=yolov5n data=coco128.yaml epochs=100 imgsz=640 batch=16
            yoloarena train resume=True     (continue the newest interrupted run)
            yoloarena train model=yolov5s-cls data=coco128-cls epochs=10 imgsz=224
            (classification: data is a folder with train/ and val/ holding one folder per class;
            the task follows the model and the data everywhere)
  predict   run a model on images, folders, globs or videos -> runs/predict/<name>/
            yoloarena predict model=yolov5n.pt source=images/ conf=0.25 imgsz=640 save_txt=True
  val       COCO metrics of a model on a dataset split -> runs/val/<name>/
            yoloarena val model=yolov5n.pt data=coco128.yaml imgsz=640 batch=32 conf=0.001 iou=0.6
  export    write ONNX / OpenVINO / TorchScript / TensorRT, checked against PyTorch
            yoloarena export model=yolov5n.pt format=onnx imgsz=640 dynamic=True nms=False
            (then model=yolov5n.onnx works in predict and val)
  benchmark params, GFLOPs, latency per backend (and mAP with data=) -> runs/benchmark/<name>/
            yoloarena benchmark models=yolov5n,damoyolo-t imgsz=640 backends=torch,onnx,openvino
  compare   train (or take weights), validate under one protocol, benchmark, report
            yoloarena compare            (built-in synthetic data: the demo)
            yoloarena compare data=my.yaml models=yolov5n,damoyolo-t epochs=100 imgsz=640
  check     scan a dataset and report every problem by file -> runs/check/<name>/
            yoloarena check data=coco128.yaml
  convert   YOLO txt <-> COCO json (images are linked, not copied); to=classify cuts one crop
            per box into an ImageNet-layout classification set (pad=0.1 min_size=8)
            yoloarena convert data=coco128.yaml to=coco out=coco128_json
            yoloarena convert data=coco128.yaml to=classify out=coco128-cls
  data synth  write a deterministic synthetic dataset (shapes on clutter, YOLO layout)
            yoloarena data synth out=datasets/shapes n_train=300 n_val=60 imgsz=320 classes=4
            yoloarena data synth task=classify out=datasets/shapes-cls n_train=40 n_val=10
            (classification: one shape per image, ImageNet layout, n_* images per class)
  info      the model zoo: measured params and GFLOPs next to the published figures
            yoloarena info [models=yolov5n,yolov5s] [imgsz=640]
  version   print the version

Any mode takes cfg=file.yaml for defaults; key=value arguments override it."""


def _predict(args: dict[str, str], cfg_file: str | None) -> None:
    from .engine.predict_job import PredictConfig, run_predict

    run_predict(load_config(PredictConfig, args, cfg_file))


def _train(args: dict[str, str], cfg_file: str | None) -> int | None:
    import os
    import subprocess

    from .engine.ddp import torchrun_command
    from .engine.train_job import parse_train_args, run_train

    cfg, hyp_overrides = parse_train_args(args, cfg_file)
    devices = [d for d in cfg.device.split(",") if d.strip()]
    if len(devices) > 1 and "WORLD_SIZE" not in os.environ:  # device=0,1: one process per GPU
        argv = [f"{k}={v}" for k, v in args.items()] + ([f"cfg={cfg_file}"] if cfg_file else [])
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(devices)}
        return subprocess.run(torchrun_command(argv, devices), env=env).returncode
    run_train(cfg, hyp_overrides, given=set(args))
    return None


def _data(args: dict[str, str], cfg_file: str | None) -> None:
    from dataclasses import dataclass

    from .data.synthetic import SynthSpec, make_synthetic

    @dataclass
    class SynthConfig:
        out: str = "datasets/shapes"
        n_train: int = 300
        n_val: int = 60
        imgsz: int = 320
        classes: int = 4
        seed: int = 0
        task: Literal["detect", "classify"] = "detect"

    cfg = load_config(SynthConfig, args, cfg_file)
    if cfg.task == "classify":
        from .data.synthetic_classify import ClassifySynthSpec, make_classify_synthetic

        cspec = ClassifySynthSpec(cfg.n_train, cfg.n_val, cfg.imgsz, cfg.classes, cfg.seed)
        print(
            f"synthetic classification dataset written: {make_classify_synthetic(cfg.out, cspec)}"
        )
        return
    spec = SynthSpec(cfg.n_train, cfg.n_val, cfg.imgsz, cfg.classes, seed=cfg.seed)
    print(f"synthetic dataset written: {make_synthetic(cfg.out, spec)}")


def _val(args: dict[str, str], cfg_file: str | None) -> None:
    from .engine.val_job import ValConfig, run_val

    run_val(load_config(ValConfig, args, cfg_file))


def _export(args: dict[str, str], cfg_file: str | None) -> None:
    from .engine.export_job import ExportConfig, run_export

    run_export(load_config(ExportConfig, args, cfg_file))


def _benchmark(args: dict[str, str], cfg_file: str | None) -> None:
    from .bench.benchmark import BenchmarkConfig, run_benchmark

    run_benchmark(load_config(BenchmarkConfig, args, cfg_file))


def _compare(args: dict[str, str], cfg_file: str | None) -> None:
    from .bench.compare import CompareConfig, run_compare

    run_compare(load_config(CompareConfig, args, cfg_file))


def _check(args: dict[str, str], cfg_file: str | None) -> int:
    from .engine.data_jobs import CheckConfig, run_check

    return run_check(load_config(CheckConfig, args, cfg_file))


def _convert(args: dict[str, str], cfg_file: str | None) -> None:
    from .engine.data_jobs import ConvertConfig, run_convert

    run_convert(load_config(ConvertConfig, args, cfg_file))


def _info(args: dict[str, str], cfg_file: str | None) -> None:
    from dataclasses import dataclass

    from .bench.stats import zoo_stats, zoo_table

    @dataclass
    class InfoConfig:
        models: list[str] | None = None
        imgsz: int | None = None

    cfg = load_config(InfoConfig, args, cfg_file)
    print(zoo_table(zoo_stats(cfg.models, cfg.imgsz)))
    print(
        "\nparams/GFLOPs: measured here on the deployed model (Conv+BN fused, RepConv "
        "re-parameterised), batch 1, at the size shown; FLOPs = 2 x MACs "
        "(torch.utils.flop_counter, convolutions and matmuls).\npublished: the official README "
        "figures (COCO val2017; DAMO-YOLO mAP of the distilled releases where they exist; "
        "classifiers: ImageNet-1k top-1, GFLOPs as upstream's model_info estimates them, at a "
        "32x32 input scaled to 224), shown for reference and never mixed with measurements."
    )


def _version(args: dict[str, str], cfg_file: str | None) -> None:
    from . import __version__

    print(__version__)


MODES: dict[str, Callable[[dict[str, str], str | None], Any]] = {
    "train": _train,
    "predict": _predict,
    "val": _val,
    "export": _export,
    "benchmark": _benchmark,
    "compare": _compare,
    "check": _check,
    "convert": _convert,
    "data": _data,
    "info": _info,
    "version": _version,
}


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for a user error, printed as one line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    _setup_logging()
    mode, rest = argv[0], argv[1:]
    if mode == "data" and rest[:1] == ["synth"]:  # `yoloarena data synth out=...`
        rest = rest[1:]
    try:
        if mode not in MODES:
            raise unknown("mode", mode, MODES, hint="run `yoloarena help`")
        args = parse_overrides(rest)
        cfg_file = args.pop("cfg", None)
        code = MODES[mode](args, cfg_file)
    except YoloArenaError as e:
        print(f"yoloarena {mode}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
