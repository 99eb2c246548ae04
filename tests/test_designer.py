"""AttributeDesigner and prompt vocabulary: parsing (EN/KO), determinism, attribute effects on the texture."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
import torch

from portraittalker.assets import REPO_ROOT
from portraittalker.avatar import AttributeDesigner, DesignerConfig, PromptError, parse_prompt, stable_seed
from portraittalker.avatar.designer import shape_directions
from portraittalker.avatar.postprocess import apply_film_grain, apply_vignette
from portraittalker.avatar.texture import paint_frame

ICT_NPZ = REPO_ROOT.parent / "shared" / "assets" / "ict_facekit_light.npz"
needs_ict = pytest.mark.skipif(not ICT_NPZ.is_file(), reason="ICT-FaceKit npz not available")
SIZE = 256  # small atlas keeps these tests fast; the painting code is resolution independent


# --- vocabulary ------------------------------------------------------------------------------------
def test_english_prompt_parses_all_attribute_groups() -> None:
    parsed = parse_prompt("young woman with red hair, green eyes, freckles, red lipstick, soft lighting, "
                          "night city street, film grain")
    a = parsed.attributes
    assert (a.age, a.gender, a.hair_color, a.eye_color, a.freckles, a.lip_color) == (
        "young", "feminine", "red", "green", True, "red")
    assert (a.lighting_style, a.scene, a.time_of_day, a.film_grain) == ("soft", "city", "night", True)
    assert parsed.unknown_words == []


@pytest.mark.parametrize(("english", "korean"), [
    ("young woman with red hair, soft lighting", "붉은 머리의 젊은 여성, 부드러운 조명"),
    ("middle-aged man, beard, dark skin, studio", "중년 남성, 턱수염, 어두운 피부, 스튜디오"),
    ("blonde man with blue eyes, moustache, beach, warm lighting", "파란 눈의 금발 남자, 콧수염, 해변, 따뜻한 조명"),
    ("elderly bald woman, freckles, forest at night, vintage", "대머리 노인 여성, 주근깨, 밤 숲, 빈티지"),
])
def test_korean_keywords_parse_like_english(english: str, korean: str) -> None:
    en, ko = parse_prompt(english), parse_prompt(korean)
    assert en.attributes == ko.attributes
    assert en.unknown_words == [] and ko.unknown_words == []


def test_colour_words_attach_to_their_noun() -> None:
    a = parse_prompt("black hair, light brown eyes, blue background, pale skin").attributes
    assert (a.hair_color, a.eye_color, a.skin_tone) == ("black", "hazel", "pale")
    assert a.background_color is not None and a.background_color[2] > a.background_color[0]
    assert parse_prompt("black woman").attributes.skin_tone == "deep"
    assert parse_prompt("a 67-year-old man").attributes.age == "old"
    assert parse_prompt("in her 20s").attributes.age == "young"


def test_unknown_words_are_reported() -> None:
    assert parse_prompt("wizard with glasses, red hair").unknown_words == ["wizard", "glasses"]


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_empty_prompt_is_a_clear_error(prompt: str) -> None:
    with pytest.raises(PromptError, match="empty"):
        parse_prompt(prompt)
    assert issubclass(PromptError, ValueError)


def test_stable_seed_is_process_independent() -> None:
    # A fixed value: Python's salted hash() would change between runs.
    assert stable_seed("a", 1) == 0xBE70D321A4119E83
    assert stable_seed("a", 1) != stable_seed("a", 2) != stable_seed("a1")


# --- designer --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def head():
    from portraittalker.head.ict import ICTFaceKit

    return ICTFaceKit(ICT_NPZ)


@pytest.fixture(scope="module")
def designer(head) -> AttributeDesigner:
    return AttributeDesigner(head, DesignerConfig(texture_size=SIZE, canvas_width=1024, background_size=64))


@needs_ict
def test_design_is_deterministic_per_prompt_and_seed(designer: AttributeDesigner) -> None:
    a = designer.design("old man with grey hair, stubble, office", seed=5)
    b = designer.design("old man with grey hair, stubble, office", seed=5)
    c = designer.design("old man with grey hair, stubble, office", seed=6)
    np.testing.assert_array_equal(a.material.albedo, b.material.albedo)
    np.testing.assert_array_equal(a.identity, b.identity)
    np.testing.assert_array_equal(a.background.image, b.background.image)
    assert a.attributes == b.attributes and a.lighting == b.lighting
    assert not np.array_equal(a.identity, c.identity)
    assert not np.array_equal(a.material.albedo, c.material.albedo)
    assert a.material.albedo.shape == (SIZE, SIZE, 3) and a.material.specular_map.shape == (SIZE, SIZE)
    # What generation poses the frames with while the textures are painted is the designed identity.
    np.testing.assert_array_equal(designer.identity("old man with grey hair, stubble, office", seed=5), a.identity)
    np.testing.assert_array_equal(designer.identity("old man with grey hair, stubble, office", seed=6), c.identity)
    young = designer.design("a young woman", seed=5)
    np.testing.assert_array_equal(designer.identity("a young woman", seed=5), young.identity)


def _mean_rgb(avatar, mask: np.ndarray) -> np.ndarray:
    return avatar.material.albedo[mask].astype(np.float64).mean(axis=0)


@needs_ict
def test_hair_colour_changes_the_scalp_in_the_right_direction(designer: AttributeDesigner, head) -> None:
    frame = paint_frame(head, SIZE, 1024)
    y = frame.geometry.position[..., 1]
    crown = frame.skin & (y > 0.12)  # top of the scalp: hair for any non-bald avatar
    red = _mean_rgb(designer.design("woman with red hair", seed=1), crown)
    black = _mean_rgb(designer.design("woman with black hair", seed=1), crown)
    blonde = _mean_rgb(designer.design("woman with blonde hair", seed=1), crown)
    bald = designer.design("bald woman, light skin", seed=1)
    assert red[0] > black[0] + 60 and red[0] > red[2] + 60
    assert blonde.mean() > black.mean() + 80
    # Bald: the crown shows skin, close to the forehead's colour.
    forehead = frame.parts["face"] & (np.abs(y - 0.075) < 0.005) & (np.abs(frame.geometry.position[..., 0]) < 0.02)
    assert np.abs(_mean_rgb(bald, crown) - _mean_rgb(bald, forehead)).max() < 30


@needs_ict
def test_skin_tone_changes_face_luminance(designer: AttributeDesigner, head) -> None:
    frame = paint_frame(head, SIZE, 1024)
    lm = frame.landmarks_3d
    p = frame.geometry.position
    cheeks = frame.parts["face"] & (np.abs(p[..., 1] - lm[29, 1]) < 0.01) & (np.abs(p[..., 0]) > 0.03) & (
        np.abs(p[..., 0]) < 0.05)
    assert cheeks.sum() > 20
    luminance = []
    for tone in ("pale", "medium", "brown", "dark"):
        rgb = _mean_rgb(designer.design(f"{tone} skin man", seed=2), cheeks)
        luminance.append(rgb @ [0.299, 0.587, 0.114])
    assert all(a > b + 10 for a, b in itertools.pairwise(luminance)), luminance


@needs_ict
def test_eye_colour_paints_the_iris(designer: AttributeDesigner, head) -> None:
    frame = paint_frame(head, SIZE, 1024)
    iris = frame.parts["eyeball"] & (frame.eye_radius > 0.05) & (frame.eye_radius < 0.08)
    blue = _mean_rgb(designer.design("blue eyes", seed=0), iris)
    brown = _mean_rgb(designer.design("brown eyes", seed=0), iris)
    assert blue[2] > blue[0] and brown[0] > brown[2]
    sclera = frame.parts["eyeball"] & (frame.eye_radius > 0.15) & (frame.eye_radius < 0.25)
    assert _mean_rgb(designer.design("blue eyes", seed=0), sclera).min() > 150


@needs_ict
def test_beard_darkens_the_chin_and_age_adds_texture(designer: AttributeDesigner, head) -> None:
    frame = paint_frame(head, SIZE, 1024)
    lm = frame.landmarks_3d
    p = frame.geometry.position
    chin = frame.parts["face"] & (np.linalg.norm(p - (lm[8] + [0, 0.012, 0]), axis=-1) < 0.01)
    bearded = _mean_rgb(designer.design("fair skin man with a black beard", seed=3), chin)
    shaven = _mean_rgb(designer.design("fair skin man, clean-shaven, black hair", seed=3), chin)
    assert bearded.mean() < shaven.mean() - 50
    forehead = frame.parts["face"] & (np.abs(p[..., 1] - (lm[19, 1] + 0.02)) < 0.008) & (np.abs(p[..., 0]) < 0.03)
    young = designer.design("young man, fair skin", seed=3).material.albedo[forehead].astype(float)
    old = designer.design("elderly man, fair skin", seed=3).material.albedo[forehead].astype(float)
    assert old.std(axis=0).mean() > young.std(axis=0).mean()  # wrinkles and spots add contrast


@needs_ict
def test_age_and_gender_bias_the_face_shape(designer: AttributeDesigner, head) -> None:
    directions = shape_directions(head)
    assert set(directions) >= {"jaw_width", "sagging", "face_size"}

    def vertices(prompt: str) -> np.ndarray:
        params = head.neutral_params()
        params.identity = torch.as_tensor(designer.design(prompt, seed=4).identity)[None]
        with torch.no_grad():
            return head.deform(params)[0].numpy()

    lm = head.landmarks68.numpy()
    jaw_width = lambda v: v[lm[4], 0] - v[lm[12], 0]  # noqa: E731 - tiny local helper
    assert jaw_width(vertices("man")) < jaw_width(vertices("woman"))  # x of lm4 < 0: more negative = wider
    young, old = vertices("young woman"), vertices("elderly woman")
    jowl = [lm[5], lm[11]]
    assert old[jowl, 1].mean() < young[jowl, 1].mean()  # sagging lowers the jowls


@needs_ict
def test_scene_words_change_background_and_lighting(designer: AttributeDesigner) -> None:
    night = designer.design("man, night city street", seed=0)
    beach = designer.design("man, beach", seed=0)
    plain = designer.design("man, green background", seed=0)
    assert night.background.image is not None and beach.background.image is not None
    assert night.background.image.mean() < beach.background.image.mean() - 40
    assert plain.background.image is None and plain.background.color[1] > plain.background.color[0]
    soft = designer.design("man, soft lighting", seed=0).lighting
    dramatic = designer.design("man, dramatic lighting", seed=0).lighting
    assert sum(soft.ambient) > sum(dramatic.ambient)
    warm = designer.design("man, warm lighting", seed=0).lighting
    assert warm.lights[0].color[0] > warm.lights[0].color[2]
    assert designer.design("man, film grain", seed=0).film_grain > 0 == designer.design("man", seed=0).film_grain


@needs_ict
def test_design_logs_unknown_words_and_rejects_bad_input(designer: AttributeDesigner,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="portraittalker.avatar.designer"):
        avatar = designer.design("pirate with red hair and an eyepatch", seed=0)
    assert "pirate" in caplog.text and "eyepatch" in caplog.text
    assert avatar.attributes["unknown_words"] == ["pirate", "eyepatch"]
    with pytest.raises(ValueError, match="empty"):
        designer.design("  ", seed=0)
    with pytest.raises(ValueError, match="seed"):
        designer.design("woman", seed="1")  # type: ignore[arg-type]


# --- post-processing -------------------------------------------------------------------------------
def test_film_grain_is_deterministic_and_mid_tone_weighted() -> None:
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[:, 32:] = 128
    a = apply_film_grain(frame, 0.05, np.random.default_rng(1))
    b = apply_film_grain(frame, 0.05, np.random.default_rng(1))
    c = apply_film_grain(frame, 0.05, np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    diff = a.astype(float) - frame
    assert diff[:, 32:].std() > 3 * max(diff[:, :32].std(), 0.1) / 2
    assert abs(diff[:, 32:].mean()) < 1.5
    np.testing.assert_array_equal(apply_film_grain(frame, 0.0, np.random.default_rng(0)), frame)
    with pytest.raises(ValueError, match="strength"):
        apply_film_grain(frame, -1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="uint8"):
        apply_film_grain(frame.astype(np.float32), 0.1, np.random.default_rng(0))


def test_film_grain_matches_the_plain_numpy_formula() -> None:
    """The cv2/in-place implementation gives exactly the values of the straightforward broadcast."""
    import cv2

    frame = np.random.default_rng(5).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    noise = cv2.GaussianBlur(np.random.default_rng(3).standard_normal((48, 40)).astype(np.float32), (0, 0), 0.6)
    noise /= max(float(noise.std()), 1e-6)
    image = frame.astype(np.float32) / 255.0
    luma = image @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    grain = (0.2 * (0.35 + 0.65 * (4.0 * luma * (1.0 - luma))) * noise)[..., None]
    expected = (np.clip(image + grain, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(apply_film_grain(frame, 0.2, np.random.default_rng(3)), expected)


def test_vignette_darkens_corners_only() -> None:
    frame = np.full((32, 32, 3), 200, np.uint8)
    out = apply_vignette(frame, 0.5)
    assert out[0, 0, 0] < 130 and out[16, 16, 0] >= 199


@needs_ict
def test_designed_avatar_round_trips_through_its_folder(designer: AttributeDesigner, head, tmp_path) -> None:
    from portraittalker.avatar import Avatar

    avatar = designer.design("붉은 머리의 젊은 여성, 부드러운 조명, 밤 도시 거리", seed=11)
    loaded = Avatar.load(avatar.save(tmp_path / "avatar"), expected_head=head)
    np.testing.assert_array_equal(loaded.material.albedo, avatar.material.albedo)
    np.testing.assert_array_equal(loaded.identity, avatar.identity)
    assert loaded.attributes["hair_color"] == "red" and loaded.attributes["scene"] == "city"
    assert loaded.source == "attribute-designer" and loaded.head_model == head.name == "ict-facekit"


@needs_ict
def test_mouth_interior_is_shaded_deeper_inside(designer: AttributeDesigner, head) -> None:
    """Teeth, tongue and socket carry the oral cavity's occlusion: darker than their albedo, darkest at the back."""
    from portraittalker.avatar.texture import TEETH

    frame = paint_frame(head, SIZE, 1024)
    albedo = designer.design("a man", seed=1).material.albedo.astype(float) / 255.0
    teeth = frame.parts["teeth"]
    z = frame.geometry.position[..., 2]
    front = teeth & (z > np.quantile(z[teeth], 0.8))
    back = teeth & (z < np.quantile(z[teeth], 0.2))
    assert albedo[front].mean() < 0.7 * np.mean(TEETH)  # no brighter than teeth in the lips' shadow
    assert albedo[back].mean() < 0.7 * albedo[front].mean()
    # behind the teeth the cavity is nearly black (a face tracker reads small openings from that contrast)
    for part in ("mouth_socket", "gums_tongue"):
        assert albedo[frame.parts[part]].mean() < 0.1, part
    assert albedo[frame.parts["gums_tongue"]].mean() < 0.2 * albedo[front].mean()
