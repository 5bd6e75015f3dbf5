"""Run folders: runs/<mode>/<name>, incremented (exp, exp2, ...) unless exist_ok."""

from __future__ import annotations

from pathlib import Path


def run_dir(project: str | Path, mode: str, name: str, exist_ok: bool = False) -> Path:
    """Create and return project/mode/name (or name2, name3, ... if it exists)."""
    base = Path(project) / mode
    path = base / name
    if path.exists() and not exist_ok:
        n = 2
        while (base / f"{name}{n}").exists():
            n += 1
        path = base / f"{name}{n}"
    path.mkdir(parents=True, exist_ok=True)
    return path
