"""Issue 12, must-show 1: the package's layering, checked by walking every import with `ast`.

- nothing under yoloarena/models/ imports yoloarena.engine or yoloarena.export;
- a family folder (models/<family>/) imports no other family;
- engine/, data/, eval/, export/, bench/ import no family folder (only models.base and the
  registry);
- structures.py and ops/letterbox.py do not import each other (one may use the other).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import yoloarena

PACKAGE = Path(yoloarena.__file__).resolve().parent
FAMILIES = sorted(p.name for p in (PACKAGE / "models").iterdir() if (p / "__init__.py").is_file())


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module imported by path (relative imports resolved), including
    imports inside functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names)
    return out


def files_under(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_walker_sees_relative_and_nested_imports() -> None:
    """The checker itself: a relative import two levels up and one inside a function."""
    mod = PACKAGE / "models" / "yolov5" / "model.py"
    names = imports_of(mod)
    assert "yoloarena.models.base" in names
    assert "yoloarena.nn.blocks" in names
    api = imports_of(PACKAGE / "api.py")  # imports inside methods count too
    assert "yoloarena.engine.predictor" in api and "yoloarena.export" in api


@pytest.mark.parametrize("path", files_under("models"), ids=lambda p: module_name(p))
def test_models_never_import_engine_or_export(path: Path) -> None:
    bad = [
        n for n in imports_of(path) if under(n, "yoloarena.engine") or under(n, "yoloarena.export")
    ]
    assert not bad, f"{module_name(path)} imports {bad}"


@pytest.mark.parametrize("family", FAMILIES)
def test_family_folders_import_no_other_family(family: str) -> None:
    others = [f"yoloarena.models.{f}" for f in FAMILIES if f != family]
    for path in files_under(f"models/{family}"):
        bad = [n for n in imports_of(path) if any(under(n, o) for o in others)]
        assert not bad, f"{module_name(path)} imports {bad}"


@pytest.mark.parametrize("folder", ["engine", "data", "eval", "export", "bench"])
def test_toolkit_folders_import_no_family(folder: str) -> None:
    families = [f"yoloarena.models.{f}" for f in FAMILIES]
    for path in files_under(folder):
        bad = [n for n in imports_of(path) if any(under(n, f) for f in families)]
        assert not bad, f"{module_name(path)} imports {bad}"


def test_structures_and_letterbox_do_not_import_each_other() -> None:
    s = imports_of(PACKAGE / "structures.py")
    lb = imports_of(PACKAGE / "ops" / "letterbox.py")
    assert any(under(n, "yoloarena.ops.letterbox") for n in s)  # LetterboxInfo is re-exported
    assert not any(under(n, "yoloarena.structures") for n in lb), lb
