"""Avatar folder format: round trip, atomic replace, and clear errors for broken folders."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from portraittalker.avatar import AVATAR_FORMAT_VERSION, Avatar, AvatarFormatError, AvatarHeadMismatchError
from portraittalker.render.scene import Background, DirectionalLight, Lighting, Material


def make_avatar(with_images: bool = True, seed: int = 0) -> Avatar:
    rng = np.random.default_rng(seed)
    albedo = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    spec = (rng.integers(0, 256, (32, 32)) / 255.0).astype(np.float32) if with_images else None
    background = Background(color=(0.1, 0.2, 0.3),
                            image=rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) if with_images else None)
    return Avatar(
        identity=rng.standard_normal(100).astype(np.float32),
        material=Material(albedo=albedo, specular=0.3, shininess=20.0, specular_map=spec),
        lighting=Lighting(ambient=(0.3, 0.3, 0.35),
                          lights=(DirectionalLight((0.4, 0.5, 1.0), (1.0, 0.9, 0.8), 0.7),)),
        background=background, head_model="ict-facekit", prompt="붉은 머리의 젊은 여성, soft lighting", seed=7,
        source="attribute-designer", film_grain=0.03, attributes={"hair_color": "red", "from_prompt": ["hair_color"]},
        background_spec={"kind": "image", "scene": "city"},
    )


ICT_LIKE = SimpleNamespace(name="ict-facekit", n_identity=100)


@pytest.mark.parametrize("with_images", [True, False])
def test_save_load_round_trip(tmp_path: Path, with_images: bool) -> None:
    avatar = make_avatar(with_images)
    folder = avatar.save(tmp_path / "avatar")
    expected = {"avatar.json", "albedo.png"} | ({"specular.png", "background.png"} if with_images else set())
    assert {p.name for p in folder.iterdir()} == expected
    loaded = Avatar.load(folder, expected_head=ICT_LIKE)
    np.testing.assert_array_equal(loaded.identity, avatar.identity)
    np.testing.assert_array_equal(loaded.material.albedo, avatar.material.albedo)
    if with_images:
        np.testing.assert_allclose(loaded.material.specular_map, avatar.material.specular_map, atol=0.5 / 255 + 1e-6)
        np.testing.assert_array_equal(loaded.background.image, avatar.background.image)
    else:
        assert loaded.material.specular_map is None and loaded.background.image is None
    assert loaded.lighting == avatar.lighting
    assert loaded.background.color == pytest.approx(avatar.background.color)
    assert (loaded.prompt, loaded.seed, loaded.source, loaded.head_model) == (avatar.prompt, 7, avatar.source,
                                                                              "ict-facekit")
    assert loaded.film_grain == pytest.approx(0.03) and loaded.attributes == avatar.attributes
    assert loaded.material.specular == pytest.approx(0.3) and loaded.material.shininess == pytest.approx(20.0)
    meta = json.loads((folder / "avatar.json").read_text(encoding="utf-8"))
    assert meta["format_version"] == AVATAR_FORMAT_VERSION and len(meta["identity"]) == 100
    assert meta["background"]["scene"] == "city"


def test_save_replaces_existing_folder_without_leftovers(tmp_path: Path) -> None:
    make_avatar(True, seed=1).save(tmp_path / "a")
    second = make_avatar(False, seed=2)
    second.save(tmp_path / "a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # no temp or old folders left behind
    assert not (tmp_path / "a" / "specular.png").exists()
    np.testing.assert_array_equal(Avatar.load(tmp_path / "a").identity, second.identity)


def test_failed_save_leaves_previous_avatar_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = make_avatar(True, seed=1)
    original.save(tmp_path / "a")
    broken = make_avatar(True, seed=2)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("portraittalker.avatar.asset.json.dumps", fail)
    with pytest.raises(OSError, match="disk full"):
        broken.save(tmp_path / "a")
    np.testing.assert_array_equal(Avatar.load(tmp_path / "a").identity, original.identity)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_load_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(AvatarFormatError, match="not found"):
        Avatar.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AvatarFormatError, match=r"avatar\.json: missing"):
        Avatar.load(tmp_path / "empty")

    folder = make_avatar().save(tmp_path / "a")
    (folder / "albedo.png").unlink()
    with pytest.raises(AvatarFormatError, match=r"albedo\.png: missing"):
        Avatar.load(folder)

    folder = make_avatar().save(tmp_path / "b")
    (folder / "specular.png").write_bytes(b"not a png")
    with pytest.raises(AvatarFormatError, match=r"specular\.png: unreadable"):
        Avatar.load(folder)

    folder = make_avatar().save(tmp_path / "c")
    (folder / "avatar.json").write_text("{ broken", encoding="utf-8")
    with pytest.raises(AvatarFormatError, match="not valid JSON"):
        Avatar.load(folder)


def _edit_meta(folder: Path, **changes: object) -> None:
    meta = json.loads((folder / "avatar.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            meta.pop(key)
        else:
            meta[key] = value
    (folder / "avatar.json").write_text(json.dumps(meta), encoding="utf-8")


def test_version_field_and_head_checks(tmp_path: Path) -> None:
    folder = make_avatar().save(tmp_path / "a")
    _edit_meta(folder, format_version=99)
    with pytest.raises(AvatarFormatError, match="format_version 99"):
        Avatar.load(folder)

    folder = make_avatar().save(tmp_path / "b")
    _edit_meta(folder, lighting=None)
    with pytest.raises(AvatarFormatError, match="missing field 'lighting'"):
        Avatar.load(folder)

    folder = make_avatar().save(tmp_path / "c")
    _edit_meta(folder, identity=["x"])
    with pytest.raises(AvatarFormatError, match="malformed"):
        Avatar.load(folder)

    folder = make_avatar().save(tmp_path / "d")
    with pytest.raises(AvatarHeadMismatchError, match="'flame'"):
        Avatar.load(folder, expected_head=SimpleNamespace(name="flame", n_identity=100))
    with pytest.raises(AvatarHeadMismatchError, match="expects 50"):
        Avatar.load(folder, expected_head=SimpleNamespace(name="ict-facekit", n_identity=50))


def test_invalid_avatar_objects_are_rejected() -> None:
    good = make_avatar(False)
    with pytest.raises(AvatarFormatError, match="albedo"):
        Avatar(identity=good.identity, material=Material(albedo=np.zeros((4, 4), np.uint8)),
               lighting=good.lighting, background=good.background, head_model="ict-facekit")
    with pytest.raises(AvatarFormatError, match="source"):
        Avatar(identity=good.identity, material=good.material, lighting=good.lighting, background=good.background,
               head_model="ict-facekit", source="gan")  # type: ignore[arg-type]
    with pytest.raises(AvatarFormatError, match="identity"):
        Avatar(identity=np.full(3, np.nan), material=good.material, lighting=good.lighting,
               background=good.background, head_model="ict-facekit")
    with pytest.raises(AvatarFormatError, match="film_grain"):
        Avatar(identity=good.identity, material=good.material, lighting=good.lighting, background=good.background,
               head_model="ict-facekit", film_grain=2.0)
