"""Command line: `yoloarena MODE key=value ...` (Ultralytics conventions). No logic lives here."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .config import load_config, parse_overrides
from .errors import YoloArenaError, unknown

USAGE = """usage: yoloarena MODE [key=value ...]

modes:
  predict   run a model on images, folders, globs or videos -> runs/predict/<name>/
            yoloarena predict model=yolov5n.pt source=images/ conf=0.25 imgsz=640 save_txt=True
  info      the model zoo: measured params and GFLOPs next to the published figures
            yoloarena info [models=yolov5n,yolov5s] [imgsz=640]
  version   print the version

Any mode takes cfg=file.yaml for defaults; key=value arguments override it."""


def _predict(args: dict[str, str], cfg_file: str | None) -> None:
    from .engine.predict_job import PredictConfig, run_predict

    run_predict(load_config(PredictConfig, args, cfg_file))


def _info(args: dict[str, str], cfg_file: str | None) -> None:
    from dataclasses import dataclass

    from .bench.stats import zoo_stats, zoo_table

    @dataclass
    class InfoConfig:
        models: list[str] | None = None
        imgsz: int = 640

    cfg = load_config(InfoConfig, args, cfg_file)
    print(zoo_table(zoo_stats(cfg.models, cfg.imgsz)))
    print(
        "\nparams/GFLOPs: measured here on the fused (deployed) model, batch 1, FLOPs = 2 x MACs "
        "(torch.utils.flop_counter).\npublished: the official README figures (COCO val2017), "
        "shown for reference and never mixed with measurements."
    )


def _version(args: dict[str, str], cfg_file: str | None) -> None:
    from . import __version__

    print(__version__)


MODES: dict[str, Callable[[dict[str, str], str | None], Any]] = {
    "predict": _predict,
    "info": _info,
    "version": _version,
}


def _setup_logging() -> None:
    logger = logging.getLogger("yoloarena")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Formatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


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
    try:
        if mode not in MODES:
            raise unknown("mode", mode, MODES, hint="run `yoloarena help`")
        args = parse_overrides(rest)
        cfg_file = args.pop("cfg", None)
        MODES[mode](args, cfg_file)
    except YoloArenaError as e:
        print(f"yoloarena {mode}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
