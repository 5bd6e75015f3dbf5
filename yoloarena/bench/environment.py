"""What a measurement ran on: CPU, threads, library versions, date (recorded with every result)."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_note() -> str:
    """'load average 1m 5m 15m running/total' (Linux), or '' elsewhere."""
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:4])
    except OSError:
        return ""


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment(device: str = "cpu") -> dict:
    from .. import __version__

    env = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_name(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "yoloarena": __version__,
    }
    for pkg in ("torch", "torchvision", "onnxruntime", "openvino", "numpy"):
        env[pkg] = _version(pkg)
    env["opencv"] = opencv_package()
    return env


OPENCV_PACKAGES = (  # the four wheels that provide cv2 (PyPI names)
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
)


def opencv_package() -> str | None:
    """'<wheel> <version>' of the installed OpenCV (e.g. 'opencv-python-headless 4.10.0.84'),
    several joined by ', ' when more than one is installed (they overwrite each other's cv2);
    'cv2 <version> (no pip package)' for a build from source; None without OpenCV."""
    found = [f"{p} {v}" for p in OPENCV_PACKAGES if (v := _version(p))]
    if found:
        return ", ".join(found)
    try:
        import cv2
    except ImportError:
        return None
    return f"cv2 {cv2.__version__} (no pip package)"


def describe(env: dict) -> str:
    """One line for reports."""
    libs = ", ".join(f"{k} {env[k]}" for k in ("torch", "onnxruntime", "openvino") if env.get(k))
    if env.get("opencv"):
        libs += f", {env['opencv']}"
    gpu = f", GPU {env['gpu']}" if env.get("gpu") else ""
    return (f"{env['cpu']} ({env['logical_cores']} logical cores, {env['torch_threads']} torch "
            f"threads){gpu}; {libs}; python {env['python']}; {env['date']}")  # fmt: skip
