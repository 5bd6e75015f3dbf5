"""Parameter and FLOP counts. FLOPs = torch.utils.flop_counter (2 per multiply-accumulate)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..config import param
from ..registry import build_model, get_entry, list_models


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_flops(model: nn.Module, imgsz: int | tuple[int, int] = 640) -> int:
    """FLOPs of one forward pass at batch 1 (convolutions and matmuls; 2 FLOPs per MAC).

    Runs on the model's device; a model on the meta device is counted without computing.
    """
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    param = next(model.parameters())
    x = torch.zeros(1, 3, h, w, device=param.device, dtype=param.dtype)
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class ModelStats:
    name: str
    family: str
    params: int  # deployed (fused) model
    gflops: float  # deployed model at imgsz, batch 1
    imgsz: int
    published: dict


def zoo_stats(names: list[str] | None = None, imgsz: int | None = None) -> list[ModelStats]:
    """Fused params and GFLOPs of registered models, computed on the meta device (no compute).

    imgsz None: each model at its published size (640; 416 for DAMO-YOLO Nano; the P6 YOLOv5
    models at 640, as their published FLOPs are quoted).
    """
    out = []
    for name in names or list_models():
        with torch.device("meta"):
            model = build_model(name)
        model.deploy()
        entry = get_entry(name)
        size = imgsz or (entry.imgsz if entry.imgsz in (416, 224) else 640)  # 224: classifiers
        gflops = count_flops(model, size) / 1e9
        out.append(
            ModelStats(name, entry.family, count_params(model), gflops, size, entry.published)
        )
    return out


def zoo_table(stats: list[ModelStats]) -> str:
    """A markdown table: measured params/GFLOPs next to the published figures (labelled)."""
    lines = [
        "| model | family | size | params (M) | GFLOPs | published mAP50-95 (COCO) / top-1 "
        "(ImageNet) | published params (M) | published GFLOPs |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in stats:
        p = s.published
        gflops = p.get("gflops_640", p.get("gflops", "-"))
        acc = p.get("map50_95", p.get("top1", "-"))  # classifiers: ImageNet top-1
        lines.append(
            f"| {s.name} | {s.family} | {s.imgsz} | {s.params / 1e6:.3f} | {s.gflops:.3f} | "
            f"{acc} | {p.get('params_m', '-')} | {gflops} |"
        )
    return "\n".join(lines)


@dataclass
class InfoConfig:
    """Arguments of `yoloarena info`."""

    models: list[str] | None = param(None, "models to list (None: every registered model)")
    imgsz: int | None = param(None, "input size for params/GFLOPs (None: each model's own)", gt=0)


def run_info(cfg: InfoConfig) -> None:
    print(zoo_table(zoo_stats(cfg.models, cfg.imgsz)))
    print(
        "\nparams/GFLOPs: measured here on the deployed model (Conv+BN fused, RepConv "
        "re-parameterised), batch 1, at the size shown; FLOPs = 2 x MACs "
        "(torch.utils.flop_counter, convolutions and matmuls).\npublished: the official README "
        "figures (COCO val2017; DAMO-YOLO mAP of the distilled releases where they exist; "
        "classifiers: ImageNet-1k top-1, GFLOPs as upstream's model_info estimates them, at a "
        "32x32 input scaled to 224), shown for reference and never mixed with measurements."
    )
