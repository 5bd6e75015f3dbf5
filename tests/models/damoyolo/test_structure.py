"""Issue 18, must-show 2 and 6: structures are data that round-trip through yaml/json and build
the backbones the registered models use; a malformed structure file names the bad field."""

from __future__ import annotations

import pytest
import torch
from conftest import shared_json

from yoloarena.models.damoyolo.structure import (
    STRUCTURES,
    Structure,
    StructureError,
    read_structure,
)
from yoloarena.models.damoyolo.tinynas import build_backbone
from yoloarena.models.damoyolo.variants import VARIANTS, closest_variant
from yoloarena.registry import build_model

NAMES = {"T": "t", "S": "s", "M": "m", "L": "l", "Ns": "ns", "Nm": "nm", "Nl": "nl"}


def _round_trip(st: Structure, tmp_path, suffix: str) -> Structure:
    path = tmp_path / f"structure{suffix}"
    path.write_text(st.to_yaml({"neck": "x"}) if suffix == ".yaml" else st.to_json())
    got, _ = read_structure(path)
    return got


@pytest.mark.parametrize("name", list(NAMES))
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_released_structures_round_trip(name: str, suffix: str, tmp_path) -> None:
    st = STRUCTURES[name]
    got = _round_trip(st, tmp_path, suffix)
    assert got == st and hash(got) == hash(st)


@pytest.mark.parametrize("name", list(NAMES))
def test_round_tripped_structure_builds_the_registered_backbone(name: str, tmp_path) -> None:
    """Same keys and shapes as the official checkpoint's backbone (shared key lists), and the
    same outputs as the registered model's backbone on a fixed input (same seed)."""
    size = NAMES[name]
    variant = VARIANTS[f"damoyolo-{size}"]
    st = _round_trip(STRUCTURES[name], tmp_path, ".yaml")
    torch.manual_seed(0)
    ours = build_backbone(st, variant.act).eval()
    torch.manual_seed(0)
    registered = build_model(f"damoyolo-{size}").backbone.eval()
    keys = shared_json("reference", f"damoyolo_{size}_keys.json")["state_dict"]
    official = {
        k.removeprefix("backbone."): v for k, v in keys.items() if k.startswith("backbone.")
    }
    shapes = {k: list(v.shape) for k, v in ours.state_dict().items()}
    assert shapes == official
    assert list(ours.state_dict()) == list(registered.state_dict())
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 255
    with torch.no_grad():
        for a, b in zip(ours(x), registered(x), strict=True):
            assert torch.equal(a, b)


def test_closest_variant_of_released_is_itself() -> None:
    for name, size in NAMES.items():
        assert closest_variant(STRUCTURES[name]) == f"damoyolo-{size}"


BAD = [
    ("stem: 24\nstages: []\n", "missing field 'type'"),
    ("type: k2kx\nstem: 24\nstages: []\n", "type 'k2kx'"),
    ("type: k1kx\nstem: abc\nstages: []\n", "stem must be an integer"),
    ("type: k1kx\nstem: 24\nstages: [{in: 24, out: 64, stride: 2, depth: 2}]\n",
     "stages[0]: missing field 'btn'"),
    ("type: k1kx\nstem: 24\nstages: [{in: 24, out: 64, stride: 2, depth: 2, btn: 8, k: 3}]\n",
     "stages[0]: unknown field 'k'"),
    ("type: k1kx\nstem: 24\nstages: [{in: 24, out: 64, stride: 2, depth: 2, btn: 2.5}]\n",
     "stages[0].btn must be an integer"),
    ("type: k1kx\nstem: 24\ncolour: red\nstages: []\n", "unknown field 'colour'"),
    ("type: k1kx\nstem: 24\nstages: 3\n", "stages must be a list"),
    ("- 1\n- 2\n", "must hold a mapping"),
    ("path: ../datasets\ntrain: images/train\n", "is not a structure file"),
    ("type: k1kx\nstem: [\n", "is not valid yaml"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD)
def test_malformed_structure_file_names_the_field(text: str, message: str, tmp_path) -> None:
    path = tmp_path / "structure.yaml"
    path.write_text(text)
    with pytest.raises(StructureError) as e:
        read_structure(path)
    assert message in str(e.value) and "structure.yaml" in str(e.value)


def _t_with(index: int, **changes) -> dict:
    data = STRUCTURES["T"].to_dict()
    data["stages"][index].update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_t_with(2, **{"in": 100}), "stages[2].in must equal the previous output width 96"),
        (_t_with(3, stride=2), "stages[3].stride must be 1"),
        (_t_with(1, depth=0), "stages[1].depth must be a positive integer"),
        ({**STRUCTURES["M"].to_dict(), "stages": STRUCTURES["M"].to_dict()["stages"][:4]},
         "exactly 5 stages"),
    ],
)  # fmt: skip
def test_unbuildable_structure_names_the_field(data: dict, message: str) -> None:
    with pytest.raises(StructureError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Structure.from_dict(data)


def test_kxkx_stages_3_and_4_share_a_width() -> None:
    data = STRUCTURES["M"].to_dict()
    data["stages"][3]["out"] = 320
    data["stages"][4]["in"] = 320
    with pytest.raises(StructureError, match=r"stages\[3\].out must equal stages\[2\].out"):
        Structure.from_dict(data)


def test_searched_model_weights_file_rebuilds_it(tmp_path) -> None:
    """A weights file of a searched model carries its structure (as plain json text) and neck, so
    loading it needs nothing else; the outputs are the same."""
    from yoloarena.loading import load_model
    from yoloarena.models.damoyolo.space import SearchSpace
    from yoloarena.weights import save_weights

    st = SearchSpace("mobile").smallest()
    model = build_model("damoyolo-nas", num_classes=3, structure=st, neck="damoyolo-nm").eval()
    path = save_weights(model, tmp_path / "searched.pt")
    loaded = load_model(path)
    assert loaded.structure == st and loaded.variant == VARIANTS["damoyolo-nm"]
    assert loaded.model_name == "damoyolo-nas" and loaded.num_classes == 3
    x = torch.rand(1, 3, 64, 64) * 255
    with torch.no_grad():
        assert torch.equal(loaded(x).scores, model(x).scores)
