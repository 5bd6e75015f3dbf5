"""Run folders, as in Ultralytics: `project=X name=Y` is the folder X/Y; without project= it is
runs/<mode>/<name>. An existing folder is not reused: exp, exp2, exp3, ... unless exist_ok."""

from __future__ import annotations

from pathlib import Path


def project_dir(project: str | Path | None, mode: str) -> Path:
    """The folder that holds a mode's runs: project itself, or runs/<mode> when it is empty."""
    return Path(project) if project else Path("runs") / mode


def run_dir(project: str | Path | None, mode: str, name: str, exist_ok: bool = False) -> Path:
    """Create and return project/name (runs/<mode>/name without project), or name2, name3, ...
    if it exists and exist_ok is False."""
    base = project_dir(project, mode)
    name = name or "exp"
    path = base / name
    if path.exists() and not exist_ok:
        n = 2
        while (base / f"{name}{n}").exists():
            n += 1
        path = base / f"{name}{n}"
    path.mkdir(parents=True, exist_ok=True)
    return path
