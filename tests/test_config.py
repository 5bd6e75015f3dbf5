"""Registry (names, close matches) and typed config (yaml + key=value, coercion, unknown keys)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from yoloarena.config import ConfigError, load_config, parse_overrides, to_dict
from yoloarena.errors import UnknownNameError
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
