"""Issue 12: the environment record names the installed OpenCV wheel."""

from __future__ import annotations

from importlib import metadata

import pytest

from yoloarena.bench import environment as env_mod


def test_opencv_package_is_the_installed_wheel() -> None:
    text = env_mod.environment()["opencv"]
    assert text and " " in text
    name, version = text.split(", ")[0].split(" ", 1)
    assert version == metadata.version(name)
    files = {str(f) for f in metadata.distribution(name).files or []}
    assert any(f.startswith("cv2/") for f in files)  # this wheel provides the cv2 module
    assert text in env_mod.describe(env_mod.environment())


@pytest.mark.parametrize(("installed", "expected"), [
    ({"opencv-python": "4.10.0.84"}, "opencv-python 4.10.0.84"),
    ({"opencv-python-headless": "4.9.0.80"}, "opencv-python-headless 4.9.0.80"),
    ({"opencv-contrib-python": "4.8.1.78"}, "opencv-contrib-python 4.8.1.78"),
    ({"opencv-python": "4.10.0.84", "opencv-python-headless": "4.9.0.80"},
     "opencv-python 4.10.0.84, opencv-python-headless 4.9.0.80"),  # both: they clash
])  # fmt: skip
def test_opencv_package_names_each_wheel(monkeypatch, installed, expected) -> None:
    def version(name: str) -> str:
        if name in installed:
            return installed[name]
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(env_mod.metadata, "version", version)
    assert env_mod.opencv_package() == expected


def test_opencv_built_from_source(monkeypatch) -> None:
    import cv2

    def version(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(env_mod.metadata, "version", version)
    assert env_mod.opencv_package() == f"cv2 {cv2.__version__} (no pip package)"
