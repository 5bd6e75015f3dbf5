"""torch.hub entry points for a local checkout (nothing is downloaded):

    model = torch.hub.load("path/to/yoloarena", "yolov5s", source="local")  # official weights
    model = torch.hub.load("path/to/yoloarena", "custom", path="yolov5n.pt", source="local")
    results = model(["zidane.jpg", "https://.../bus.jpg"])  # Detections, as YOLOv5's AutoShape
    results.print()  # results.show(), .save(), .crop(), .pandas().xyxy[0], .xyxyn ...

    model = torch.hub.load("path/to/yoloarena", "damoyolo_t", source="local", pretrained=False)

pretrained=True looks for the official weights file (yolov5s.pt, or the released DAMO-YOLO file
name such as damoyolo_tinynasL20_T_436.pth) in $YOLOARENA_WEIGHTS, then in the current folder,
and says where to put it when it is missing. As in YOLOv5, weights-file models come fused
(Conv+BN) in eval mode, and autoshape=False returns the plain network (an nn.Module) instead of
the callable yoloarena model.
"""

from __future__ import annotations

import os
from pathlib import Path

dependencies = ["torch", "torchvision", "numpy", "cv2", "yaml"]

from yoloarena.errors import WeightsError  # noqa: E402
from yoloarena.loading import load as _load  # noqa: E402
from yoloarena.registry import get_entry  # noqa: E402


def _weights_file(name: str) -> Path:
    official = get_entry(name).published.get("weights", f"{name}.pt")
    folders = [os.environ.get("YOLOARENA_WEIGHTS", ""), "."]
    for folder in filter(None, folders):
        for file_name in dict.fromkeys([official, f"{name}.pt", f"{name}.pth"]):
            path = Path(folder).expanduser() / file_name
            if path.is_file():
                return path
    raise WeightsError(
        f"pretrained {name} needs the official weights file {official}: put it in the current "
        f"folder or in $YOLOARENA_WEIGHTS, or call with pretrained=False for random weights "
        "(yoloarena never downloads)"
    )


def _create(name: str, pretrained: bool, channels: int, classes: int, autoshape: bool, device: str):
    if channels != 3:
        raise WeightsError(f"channels={channels}: only 3-channel (RGB) models are supported")
    if not pretrained:
        return _wrap(_load(name, num_classes=classes, device=device), autoshape, fuse=False)
    model = _load(_weights_file(name), device=device)
    if classes != model.num_classes:
        raise WeightsError(
            f"the {name} weights have {model.num_classes} classes, not classes={classes}; "
            "fine-tune with `yoloarena train` to change the class count"
        )
    return _wrap(model, autoshape, fuse=autoshape)


def _wrap(model, autoshape: bool, fuse: bool):
    """The callable yoloarena model (fused for inference when fuse), or the plain network."""
    if fuse:
        model.deploy()
    return model if autoshape else model.model


def custom(path: str, autoshape: bool = True, _verbose: bool = True, device: str = "cpu"):
    """A model from a weights file (official YOLOv5 .pt, DAMO-YOLO .pth or yoloarena)."""
    return _wrap(_load(path, device=device), autoshape, fuse=autoshape)


def _entry(name: str):
    """A hub entry point; its function name uses '_' where the model name has '-'."""

    def entry(
        pretrained: bool = True,
        channels: int = 3,
        classes: int = 80,
        autoshape: bool = True,
        _verbose: bool = True,
        device: str = "cpu",
    ):
        return _create(name, pretrained, channels, classes, autoshape, device)

    entry.__name__ = name.replace("-", "_")
    entry.__doc__ = f"{name}; pretrained=True loads the official weights from a local file."
    return entry


yolov5n = _entry("yolov5n")
yolov5s = _entry("yolov5s")
yolov5m = _entry("yolov5m")
yolov5l = _entry("yolov5l")
yolov5x = _entry("yolov5x")
yolov5n6 = _entry("yolov5n6")
yolov5s6 = _entry("yolov5s6")
yolov5m6 = _entry("yolov5m6")
yolov5l6 = _entry("yolov5l6")
yolov5x6 = _entry("yolov5x6")
damoyolo_t = _entry("damoyolo-t")
damoyolo_s = _entry("damoyolo-s")
damoyolo_m = _entry("damoyolo-m")
damoyolo_l = _entry("damoyolo-l")
damoyolo_ns = _entry("damoyolo-ns")
damoyolo_nm = _entry("damoyolo-nm")
damoyolo_nl = _entry("damoyolo-nl")
