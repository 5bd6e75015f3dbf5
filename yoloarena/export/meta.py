"""The metadata every exported file carries, so a runtime rebuilds pre- and post-processing."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

import torch

from ..errors import YoloArenaError
from ..models.base import Detector

META_KEY = "yoloarena"  # ONNX metadata_props key / TorchScript extra file / OpenVINO json name


def export_metadata(
    model: Detector,
    fmt: str,
    imgsz: tuple[int, int],
    batch: int,
    dynamic: bool,
    half: bool,
    outputs: list[str],
    nms: dict[str, Any] | None,
) -> dict[str, Any]:
    from .. import __version__

    meta = model.metadata()
    meta.update(
        format=fmt,
        imgsz=list(imgsz),
        batch=batch,
        dynamic=dynamic,
        half=half,
        outputs=outputs,
        nms=nms,
        predict_defaults={k: v for k, v in asdict(model.predict_defaults).items() if k != "extra"},
        eval_protocol=asdict(model.eval_protocol),
        yoloarena_version=__version__,
        torch_version=torch.__version__,
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return meta


def dumps(meta: dict[str, Any]) -> str:
    return json.dumps(meta, sort_keys=True)


def loads(text: str | bytes, source: str) -> dict[str, Any]:
    try:
        meta = json.loads(text)
        for key in ("family", "names", "stride", "imgsz", "preprocess", "outputs"):
            meta[key]
    except (ValueError, KeyError, TypeError) as e:
        raise YoloArenaError(
            f"'{source}' has no valid yoloarena metadata ({e}); export it with `yoloarena export`"
        ) from None
    meta["names"] = {int(k): v for k, v in meta["names"].items()}
    return meta
