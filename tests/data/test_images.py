"""Issue 12: decompression bombs and absurd header sizes are refused per file by the pixel limit
in predict, check, train and val; the rest of the folder goes on; a valid large image gets the
same decision in check and predict."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_path

from yoloarena.cli import main
from yoloarena.data.images import DEFAULT_MAX_PIXELS, ImageReadError, read_image
from yoloarena.data.load import load_dataset
from yoloarena.data.scan import image_shape


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A real 1-bit PNG of zeros: a few tens of kB that decode to width x height pixels (BGR:
    3 bytes per pixel, 1.2 GB for 20000x20000)."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data)
                     + _chunk(b"IEND", b""))  # fmt: skip
    return path


def lying_jpeg(path: Path, width: int, height: int) -> Path:
    """A small JPEG whose header (SOF0) claims width x height."""
    _, buf = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def hostile_folder(folder: Path) -> dict[str, str]:
    """good.jpg plus two files over the limit; returns what each bad one must be refused for."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(shared_path("data", "images", "zidane.jpg"), folder / "good.jpg")
    bomb_png(folder / "bomb.png", 20000, 20000)
    lying_jpeg(folder / "liar.jpg", 60000, 60000)
    return {"bomb.png": "20000x20000 is 400.0 megapixels", "liar.jpg": "60000x60000 is 3600.0"}


def test_read_image_refuses_before_decoding(tmp_path) -> None:
    bad = hostile_folder(tmp_path)
    for name, why in bad.items():
        with pytest.raises(ImageReadError, match=why) as err:
            read_image(tmp_path / name)
        assert str(err.value).startswith(str(tmp_path / name))
        assert "YOLOARENA_MAX_IMAGE_PIXELS=" in str(err.value)  # what to do if it is genuine
    assert read_image(tmp_path / "good.jpg").shape == (720, 1280, 3)
    assert DEFAULT_MAX_PIXELS == 2 * 89_478_485  # PIL's refusal threshold


def test_predict_skips_bombs_and_saves_the_rest(tmp_path, capsys) -> None:
    bad = hostile_folder(tmp_path / "src")
    weights = shared_path("data", "weights", "yolov5n.pt")
    code = main(["predict", f"model={weights}", f"source={tmp_path / 'src'}", "imgsz=320",
                 "save_txt=True", f"project={tmp_path}", "name=p"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1, err
    for name, why in bad.items():
        assert f"WARNING: skipping {tmp_path / 'src' / name}: {why}" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("yoloarena predict: error: skipped ") and "(and 1 more" in last
    out = tmp_path / "p"
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [
        "args.yaml", "good.jpg", "predictions.json"]  # fmt: skip
    assert (out / "labels" / "good.txt").read_text().count("\n") >= 2  # the good one was used


def _dataset(root: Path) -> Path:
    hostile_folder(root / "images")
    labels = root / "labels"
    labels.mkdir()
    for stem in ("good", "bomb", "liar"):
        (labels / f"{stem}.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    names = ", ".join(["person", *(f"c{i}" for i in range(1, 80))])  # the 80 of yolov5n.pt
    (root / "d.yaml").write_text(f"path: {root}\ntrain: images\nval: images\nnames: [{names}]\n")
    return root / "d.yaml"


def test_check_train_and_val_drop_bombs_and_keep_the_rest(tmp_path, capsys) -> None:
    data = _dataset(tmp_path / "d")
    for split in ("train", "val"):  # what training and validation load
        ds = load_dataset(data, split)
        assert [Path(f).name for f in ds.files] == ["good.jpg"] and ds.report.instances == 1
        kinds = {Path(p.file).name: p.kind for p in ds.report.problems}
        assert kinds == {"bomb.png": "image.too_large", "liar.jpg": "image.too_large"}
    assert main(["check", f"data={data}", f"project={tmp_path}", "name=c"]) == 0
    err = capsys.readouterr().err
    assert "bomb.png: image over the pixel limit" in err and "20000x20000 = 400.0 MP" in err
    assert "train: 1 images (0 backgrounds, 2 dropped), 1 instances" in err
    assert "Traceback" not in err
    weights = shared_path("data", "weights", "yolov5n.pt")
    args = [f"model={weights}", f"data={data}", "imgsz=64", "batch=1", "plots=False"]
    assert main(["val", *args, f"project={tmp_path}", "name=v", "workers=0"]) == 0
    assert "val: 1 images (0 backgrounds, 2 dropped)" in capsys.readouterr().err


def test_check_and_predict_decide_alike_at_the_limit(tmp_path, monkeypatch) -> None:
    """The same limit in both: 100x100 = 10000 pixels passes, 101x100 does not."""
    monkeypatch.setenv("YOLOARENA_MAX_IMAGE_PIXELS", "10000")
    for w, name in ((100, "at.png"), (101, "over.png")):
        cv2.imwrite(str(tmp_path / name), np.zeros((100, w, 3), np.uint8))
    assert image_shape(tmp_path / "at.png") == ((100, 100), [])
    assert read_image(tmp_path / "at.png").shape == (100, 100, 3)
    shape, problems = image_shape(tmp_path / "over.png")
    assert shape is None and [p.kind for p in problems] == ["image.too_large"]
    with pytest.raises(ImageReadError, match=r"101x100 is 0\.0 megapixels, over the limit"):
        read_image(tmp_path / "over.png")
    monkeypatch.setenv("YOLOARENA_MAX_IMAGE_PIXELS", "0")  # no limit
    assert read_image(tmp_path / "over.png").shape == (100, 101, 3)


@pytest.mark.slow
def test_valid_large_image_is_used_by_check_and_predict(tmp_path, yolov5n_fused) -> None:
    """12000x9000 = 108 megapixels of real pixels, under the default limit: used by both."""
    img = np.zeros((9000, 12000), np.uint8)
    img[3000:6000, 4000:8000] = 255
    path = tmp_path / "large.png"
    assert cv2.imwrite(str(path), img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    del img
    assert image_shape(path) == ((9000, 12000), [])
    r = yolov5n_fused.predict(path, imgsz=320)[0]
    assert r.orig_shape == (9000, 12000)
