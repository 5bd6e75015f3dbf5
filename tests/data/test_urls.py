"""Issue 14, must-show 3: http(s) URL sources, served by a local http.server on 127.0.0.1.

A URL gives the same pixels and detections as the file it serves; a 404, a non-image body, a
too-large body, a timeout and an unreachable host each give one line that names the URL."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from conftest import shared_path
from http_server import Route, serve

from yoloarena.cli import main
from yoloarena.data import urls
from yoloarena.data.images import read_image
from yoloarena.data.urls import DownloadError, is_url, read_url_image, url_file_name


def _jpeg() -> bytes:
    return shared_path("data", "images", "zidane.jpg").read_bytes()


def test_is_url_and_file_name() -> None:
    assert is_url("https://ultralytics.com/images/zidane.jpg") and is_url("HTTP://x/y.png")
    assert not is_url("zidane.jpg") and not is_url("ftp://x/y.jpg") and not is_url(b"http://x")
    assert url_file_name("https://h/a/zidane.jpg?raw=true#x") == "zidane.jpg"
    assert url_file_name("https://h/", "image0") == "image0"


def test_url_gives_the_file_pixels() -> None:
    data = _jpeg()
    want = read_image(shared_path("data", "images", "zidane.jpg"))
    routes = {
        "/zidane.jpg": Route(data),
        "/octet": Route(data, content_type="application/octet-stream"),
        "/untyped": Route(data, content_type=None, send_length=False),
    }
    with serve(routes) as base:
        for path in routes:
            assert np.array_equal(read_url_image(base + path), want), path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BAD = [
    ("/missing.jpg", "HTTP error 404"),
    ("/page.html", "not an image (Content-Type text/html)"),
    ("/junk.jpg", "is not a decodable image"),
    ("/big.jpg", "over the 2000 bytes download limit"),
    ("/stream.jpg", "more than the 2000 bytes download limit"),
    ("/slow.jpg", "no answer within 0.3 s (timeout)"),
    ("/empty.jpg", "empty body"),
]


@pytest.mark.parametrize(("path", "words"), BAD, ids=[p for p, _ in BAD])
def test_bad_url_is_one_line_naming_it(monkeypatch, path, words) -> None:
    monkeypatch.setattr(urls, "TIMEOUT_S", 0.3)
    monkeypatch.setattr(urls, "MAX_BYTES", 2000)
    routes = {
        "/page.html": Route(b"<html><body>hello</body></html>", content_type="text/html"),
        "/junk.jpg": Route(b"this is not a jpeg " * 20),
        "/big.jpg": Route(b"\xff" * 5000),
        "/stream.jpg": Route(b"\xff" * 5000, send_length=False),
        "/slow.jpg": Route(b"\xff" * 100, delay_s=1.5),
        "/empty.jpg": Route(b""),
    }
    with serve(routes) as base:
        url = base + path
        with pytest.raises(DownloadError) as err:
            read_url_image(url)
    msg = str(err.value)
    assert msg.startswith(url) and words in msg and "\n" not in msg, msg


def test_unreachable_host_is_one_line() -> None:
    url = f"http://127.0.0.1:{_free_port()}/zidane.jpg"
    with pytest.raises(DownloadError, match="cannot be reached") as err:
        read_url_image(url)
    assert str(err.value).startswith(url) and "\n" not in str(err.value)


def test_predict_on_url_equals_file(yolov5n_fused, caplog) -> None:
    file = shared_path("data", "images", "zidane.jpg")
    with serve({"/zidane.jpg": Route(_jpeg())}) as base:
        (from_url,) = yolov5n_fused.predict(f"{base}/zidane.jpg")
        skipped = yolov5n_fused.predict([f"{base}/nothing.jpg"])
    (from_file,) = yolov5n_fused.predict(str(file))
    assert from_url.path == f"{base}/zidane.jpg" and len(from_url) == 3
    assert from_url.boxes.equal(from_file.boxes) and from_url.scores.equal(from_file.scores)
    assert skipped == []
    assert f"{base}/nothing.jpg: HTTP error 404" in caplog.text


def test_cli_predict_url_source(tmp_path, capsys) -> None:
    weights = shared_path("data", "weights", "yolov5n.pt")
    with serve({"/zidane.jpg": Route(_jpeg())}) as base:
        url = f"{base}/zidane.jpg"
        code = main(["predict", f"model={weights}", f"source={url}", f"project={tmp_path}",
                     "name=url", "imgsz=320"])  # fmt: skip
        bad = main(["predict", f"model={weights}", f"source={base}/gone.jpg",
                    f"project={tmp_path}", "name=bad", "imgsz=320"])  # fmt: skip
    assert code == 0 and bad == 1  # a skipped input is named and exits 1
    (record,) = json.loads(next(tmp_path.rglob("url/predictions.json")).read_text())
    assert record["path"] == url and record["detections"]
    assert next(tmp_path.rglob("url/zidane.jpg")).is_file()
    err = capsys.readouterr().err
    assert f"{base}/gone.jpg: HTTP error 404 Not Found" in err
