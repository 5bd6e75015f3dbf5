"""Issue 12, must-show 6: a test that needs a shared asset or an optional package fails under
CI=true (where everything must be present) and skips elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

TESTS = Path(__file__).resolve().parent

NEEDY = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from conftest import require, shared_path


def test_needs_a_shared_asset():
    assert shared_path("data", "weights", "yolov5n.pt").is_file()


def test_needs_an_optional_package():
    require("yoloarena_no_such_package", "the [imaginary] extra")
"""


def _pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_needy.py").write_text(NEEDY)
    empty = tmp_path / "shared"
    empty.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env |= {"YOLOARENA_SHARED": str(empty), "PYTHONPATH": str(REPO)}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "test_needy.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_missing_fixture_fails_under_ci(tmp_path) -> None:
    proc = _pytest(tmp_path, "true")
    assert proc.returncode == 1, proc.stdout
    assert "2 failed" in proc.stdout
    assert "shared asset" in proc.stdout and "yolov5n.pt not found" in proc.stdout
    assert "yoloarena_no_such_package is not installed (the [imaginary] extra)" in proc.stdout


@pytest.mark.parametrize("ci", [None, "false"])
def test_missing_fixture_skips_outside_ci(tmp_path, ci) -> None:
    proc = _pytest(tmp_path, ci)
    assert proc.returncode == 0, proc.stdout
    assert "2 skipped" in proc.stdout
