"""Issue 12: every image, label, json and video write is checked; a failed write (a full disk:
/dev/full) is one line naming the file, exit code 1, never "results saved"."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_path

from yoloarena.cli import main
from yoloarena.registry import build_model
from yoloarena.weights import save_weights
from yoloarena.writes import VideoWriter, WriteError, append_text, write_image, write_json

FULL = Path("/dev/full")  # every write to it fails with ENOSPC, as on a full disk

pytestmark = pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full (Linux)")


def _full(path: Path) -> Path:
    """path becomes a link to /dev/full: opening it works, writing fails with ENOSPC."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(FULL)
    return path


def test_writers_raise_and_leave_nothing_half_written(tmp_path) -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(WriteError, match=r"cannot write '.*a\.jpg': No space left on device"):
        write_image(_full(tmp_path / "a.jpg"), img)
    assert not (tmp_path / "a.jpg").exists()  # the partial file is removed
    with pytest.raises(WriteError, match=r"a\.json': No space left"):
        write_json(_full(tmp_path / "a.json"), {"x": 1})
    with pytest.raises(WriteError, match=r"cannot encode '\.nope' images"):
        write_image(tmp_path / "a.nope", img)
    labels = tmp_path / "labels.txt"
    labels.write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(WriteError, match="No space left"):
        append_text(_full(tmp_path / "other.txt"), "1 2 3\n")
    assert labels.read_text() == "0 0.5 0.5 0.1 0.1\n"


def test_video_writer_failures_are_errors(tmp_path, monkeypatch) -> None:
    frame = np.zeros((64, 96, 3), np.uint8)
    ok = VideoWriter(tmp_path / "ok.mp4", 10.0, (96, 64))
    for _ in range(3):
        ok.write(frame)
    ok.close()  # read back: 3 frames
    with pytest.raises(WriteError, match=r"full\.mp4'.*cannot open a video writer"):
        VideoWriter(_full(tmp_path / "full.mp4"), 10.0, (96, 64))
    assert not (tmp_path / "full.mp4").exists()

    class Silent:  # opens, then loses every frame (as a writer on a failing disk may)
        def __init__(self, path, *args) -> None:
            Path(path).write_bytes(b"\0" * 64)

        def isOpened(self) -> bool:
            return True

        def write(self, img) -> None:
            pass

        def release(self) -> None:
            pass

    monkeypatch.setattr(cv2, "VideoWriter", Silent)
    lossy = VideoWriter(tmp_path / "lossy.mp4", 10.0, (96, 64))
    lossy.write(frame)
    with pytest.raises(WriteError, match=r"lossy\.mp4'.*1 frames written but the file"):
        lossy.close()
    assert not (tmp_path / "lossy.mp4").exists()


def _clip(path: Path, frames: int = 6, fps: float = 12.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (96, 64))
    for i in range(frames):
        writer.write(np.full((64, 96, 3), 20 * i, np.uint8))
    writer.release()
    return path


@pytest.mark.parametrize(("target", "args"), [
    ("bus.jpg", []),  # the annotated image
    ("labels/bus.txt", ["save=False", "save_txt=True"]),
    ("predictions.json", ["save=False"]),
    ("clip.mp4", []),  # the annotated video
])  # fmt: skip
def test_predict_on_a_full_disk_fails_with_one_line(tmp_path, capsys, target, args) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(shared_path("data", "images", "bus.jpg"), src / "bus.jpg")
    _clip(src / "clip.mp4")
    out = tmp_path / "full"
    _full(out / target)
    weights = shared_path("data", "weights", "yolov5n.pt")
    code = main(["predict", f"model={weights}", f"source={src}", "imgsz=320", *args,
                 f"project={tmp_path}", "name=full", "exist_ok=True"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"yoloarena predict: error: cannot write '{out / target}': "), err
    assert "results saved" not in err and "Traceback" not in err
    assert not (out / target).exists()  # no half-written file left behind
    assert (src / "bus.jpg").stat().st_size > 0  # the source is untouched


def test_check_and_val_on_a_full_disk(tmp_path, capsys) -> None:
    from yoloarena.data.synthetic import SynthSpec, make_synthetic

    data = make_synthetic(tmp_path / "d", SynthSpec(n_train=4, n_val=2, imgsz=64, classes=2))
    _full(tmp_path / "c" / "report.json")
    assert main(["check", f"data={data}", f"project={tmp_path}", "name=c", "exist_ok=True"]) == 1
    err = capsys.readouterr().err
    assert "error: cannot write" in err and "report.json': No space left on device" in err
    assert "full report saved" not in err
    _full(tmp_path / "v" / "results.json")
    weights = save_weights(build_model("yolov5n", num_classes=2), tmp_path / "w.pt")
    assert main(["val", f"model={weights}", f"data={data}", "imgsz=64", f"project={tmp_path}",
                 "name=v", "exist_ok=True", "workers=0"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "results.json': No space left on device" in err and "results saved" not in err


def test_annotated_video_plays_at_fps_over_vid_stride(tmp_path) -> None:
    src = _clip(tmp_path / "clip.mp4", frames=8, fps=12.0)
    weights = shared_path("data", "weights", "yolov5n.pt")
    assert main(["predict", f"model={weights}", f"source={src}", "imgsz=64", "vid_stride=2",
                 f"project={tmp_path}", "name=v"]) == 0  # fmt: skip
    cap = cv2.VideoCapture(str(tmp_path / "v" / "clip.mp4"))
    fps, frames = cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert frames == 4 and fps == pytest.approx(6.0)  # same duration as the source
    assert os.path.getsize(src) > 0
