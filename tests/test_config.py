"""Registry (names, close matches) and typed config (yaml + key=value, coercion, unknown keys,
bounds, inline keys, help rows, bad yaml files)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from yoloarena.config import (
    ConfigError,
    Key,
    build_config,
    help_rows,
    load_config,
    param,
    parse_overrides,
    read_yaml,
    to_dict,
)
from yoloarena.errors import UnknownNameError, close_matches
from yoloarena.registry import build_model, get_entry, list_models, register_model


@dataclass
class Hyp:
    lr0: float = 0.01
    mosaic: float = 1.0


@dataclass
class TrainCfg:
    model: str = "yolov5n"
    epochs: int = 100
    imgsz: int = 640
    cos_lr: bool = False
    device: str = "cpu"
    classes: list[int] | None = None
    rect: bool | None = None
    hyp: Hyp = field(default_factory=Hyp)


def test_defaults_yaml_overrides_precedence(tmp_path) -> None:
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text("epochs: 50\nimgsz: 320\nhyp:\n  lr0: 0.02\n")
    cfg = load_config(TrainCfg, parse_overrides(["imgsz=416", "hyp.mosaic=0.5"]), cfg_file)
    assert (cfg.epochs, cfg.imgsz, cfg.hyp.lr0, cfg.hyp.mosaic) == (50, 416, 0.02, 0.5)
    assert cfg.model == "yolov5n"
    assert to_dict(cfg)["hyp"] == {"lr0": 0.02, "mosaic": 0.5}


def test_coercion_by_type() -> None:
    cfg = load_config(
        TrainCfg,
        {"cos_lr": "True", "device": "0", "classes": "0,2,5", "rect": "none", "epochs": "3"},
    )
    assert cfg.cos_lr is True and cfg.device == "0" and cfg.classes == [0, 2, 5]
    assert cfg.rect is None and cfg.epochs == 3
    assert load_config(TrainCfg, {"classes": "[1, 3]"}).classes == [1, 3]
    assert load_config(TrainCfg, {"cos_lr": "false"}).cos_lr is False
    with pytest.raises(ConfigError, match="epochs='three' is not a valid int"):
        load_config(TrainCfg, {"epochs": "three"})
    with pytest.raises(ConfigError, match="not a boolean"):
        load_config(TrainCfg, {"cos_lr": "maybe"})
    with pytest.raises(ConfigError, match="not a valid int"):
        load_config(TrainCfg, {"epochs": 2.5})


def test_unknown_keys_suggest_closest() -> None:
    with pytest.raises(UnknownNameError, match="unknown config key 'epoch'; did you mean 'epochs'"):
        load_config(TrainCfg, {"epoch": "3"})
    with pytest.raises(UnknownNameError, match=r"'hyp\.lr0'"):
        load_config(TrainCfg, {"hyp.lr": "3"})
    with pytest.raises(ConfigError, match="is a section"):
        load_config(TrainCfg, {"hyp": "3"})
    with pytest.raises(ConfigError, match="not key=value"):
        parse_overrides(["epochs"])


def test_registry_names_and_errors() -> None:
    assert "yolov5s" in list_models() and list_models("nope") == []
    assert get_entry("yolov5n6").imgsz == 1280
    assert get_entry("yolov5s").published["map50_95"] == 37.4
    with pytest.raises(UnknownNameError, match=r"unknown model 'yolov5ss'; did you mean 'yolov5s'"):
        build_model("yolov5ss")
    with pytest.raises(ValueError, match="registered twice"):
        register_model("yolov5s", family="yolov5")(lambda: None)


@dataclass
class Bounded:
    conf: float | None = param(None, "confidence", ge=0, le=1)
    batch: int = param(16, "batch", ge=1)
    fraction: float = param(1.0, "fraction", gt=0, le=1)
    classes: list[int] | None = param(None, "classes", ge=0)
    extra: dict = param(factory=dict, help="extra keys", inline=lambda: EXTRA)


EXTRA = {"lr0": Key("lr0", float, "0.01", {"help": "initial lr", "ge": 0})}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("conf", "1.5", "conf=1.5 is out of range: it must be in [0, 1]"),
        ("conf", "-0.1", "conf=-0.1 is out of range: it must be in [0, 1]"),
        ("conf", "nan", "conf=nan is out of range: it must be in [0, 1]"),
        ("batch", "0", "batch=0 is out of range: it must be >= 1"),
        ("fraction", "0", "fraction=0 is out of range: it must be in (0, 1]"),
        ("fraction", "1.01", "fraction=1.01 is out of range: it must be in (0, 1]"),
        ("classes", "0,-2", "classes=0,-2 is out of range: it must be >= 0"),
        ("lr0", "-1", "lr0=-1 is out of range: it must be >= 0"),
    ],
)
def test_bounds_are_checked_when_built(key, value, message) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(Bounded, {key: value})
    assert str(e.value) == message


def test_bounds_accept_the_edges_and_none() -> None:
    cfg = load_config(Bounded, {"conf": "1", "fraction": "1", "batch": "1", "classes": "none"})
    assert (cfg.conf, cfg.fraction, cfg.batch, cfg.classes) == (1.0, 1.0, 1, None)
    assert load_config(Bounded, {"conf": "0"}).conf == 0.0


def test_inline_keys_from_cli_and_yaml_round_trip(tmp_path) -> None:
    f = tmp_path / "cfg.yaml"
    f.write_text("lr0: 0.02\nbatch: 4\n")
    cfg = load_config(Bounded, {}, f)
    assert cfg.extra == {"lr0": 0.02} and cfg.batch == 4
    assert to_dict(cfg)["lr0"] == 0.02 and "extra" not in to_dict(cfg)
    assert build_config(Bounded, to_dict(cfg)) == cfg  # a saved config reads back
    assert build_config(Bounded, {"extra": {"lr0": "0.5"}}).extra == {"lr0": 0.5}
    with pytest.raises(UnknownNameError, match=r"unknown config key 'lr'; did you mean 'lr0'"):
        load_config(Bounded, {"lr": "1"})


def test_help_rows_cover_every_field() -> None:
    (title, own), (group, extra) = help_rows(Bounded)
    assert title == "arguments" and [r[0] for r in own] == ["conf", "batch", "fraction", "classes"]
    assert own[1] == ("batch", "16", "batch (>= 1)") and own[0][1] == "None"
    assert group == "extra keys" and extra == [("lr0", "0.01", "initial lr (>= 0)")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs: [1, 2\n", r"'{f}' is not valid yaml \(line 2, column 1\): expected ',' or ']'"),
        ("a: b: c\n", r"'{f}' is not valid yaml \(line 1, column 5\)"),
        ("!!python/object/apply:os.system ['echo hi']\n",
         r"'{f}' \(line 1, column 1\): the tag !!python/object/apply:os.system is not allowed"),
        ("x: !!python/name:os.getcwd ''\n", r"the tag !!python/name:os.getcwd is not allowed"),
        ("- 1\n- 2\n", r"'{f}' must hold a mapping of key: value, not a list"),
    ],
)  # fmt: skip
def test_bad_yaml_is_one_line_naming_the_file(tmp_path, text, message) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message.format(f=re.escape(str(f)))) as e:
        read_yaml(f)
    assert "\n" not in str(e.value)
    f.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="is not a text file"):
        read_yaml(f)
    with pytest.raises(ConfigError, match="not found"):
        read_yaml(tmp_path / "none.yaml")


@pytest.mark.parametrize(
    ("word", "choices", "expected"),
    [
        ("mosiac", ["mosaic", "mixup"], ["mosaic"]),
        ("decay", ["weight_decay", "momentum"], ["weight_decay"]),  # contained in a key
        ("imgsize", [f"key{i}" for i in range(80)] + ["imgsz"], ["imgsz"]),  # many keys
        ("wokers", [f"key{i}" for i in range(80)] + ["workers"], ["workers"]),
        ("zzzzz", ["model", "data"], []),
    ],
)
def test_close_matches_with_many_keys(word, choices, expected) -> None:
    assert close_matches(word, choices) == expected
