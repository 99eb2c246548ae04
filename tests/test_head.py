from __future__ import annotations

import math

import pytest
import torch

from portraittalker.head import euler_to_matrix, load_head_model, matrix_to_euler
from portraittalker.head.ict import ICTFaceKit


def test_ict_neutral_is_in_metres_and_head_sized(ict_head):
    vertices = ict_head(ict_head.neutral_params())
    assert vertices.shape == (1, ict_head.n_vertices, 3)
    extent = vertices[0].amax(0) - vertices[0].amin(0)
    assert 0.15 < float(extent[0]) < 0.35  # a head is ~25 cm wide, not 25 m or 2.5 mm
    assert ict_head.n_expression == 40 and "jawOpen" not in ict_head.expression_names
    assert ict_head.faces.shape[1] == 3 and ict_head.face_uvs.shape == ict_head.faces.shape


def test_jaw_opens_mouth_and_moves_chin_down(ict_head):
    params = ict_head.neutral_params(2)
    params.jaw[1, 0] = 0.25
    vertices = ict_head(params)
    lower_lip, upper_lip, chin = ict_head.landmarks68[[57, 51, 8]]
    gap = vertices[:, upper_lip, 1] - vertices[:, lower_lip, 1]
    assert float(gap[1] - gap[0]) > 0.01  # > 1 cm wider
    assert float(vertices[1, chin, 1]) < float(vertices[0, chin, 1]) - 0.01


def test_gaze_rotates_eyeballs_towards_subject_left(ict_head):
    params = ict_head.neutral_params(2)
    params.eye_gaze[1, 0] = 0.3  # yaw towards +X
    vertices = ict_head(params)
    eye = ict_head.eyeball_slices[0]
    front = vertices[0, eye, 2].argmax()  # the cornea's front pole
    moved = vertices[1, eye][front] - vertices[0, eye][front]
    assert float(moved[0]) > 0.002
    untouched = ict_head.landmarks68[30]  # nose tip stays where it is
    assert torch.allclose(vertices[0, untouched], vertices[1, untouched])


def test_head_pose_is_rigid_about_the_pivot(ict_head):
    params = ict_head.neutral_params(1)
    params.head_rotation[0] = torch.tensor([0.1, 0.3, 0.05])
    params.head_translation[0] = torch.tensor([0.01, 0.0, -0.02])
    posed = ict_head(params)[0]
    rest = ict_head.deform(params)[0]
    rotation = euler_to_matrix(params.head_rotation)[0]
    expected = (rest - ict_head.pivot) @ rotation.T + ict_head.pivot + params.head_translation[0]
    assert torch.allclose(posed, expected, atol=1e-6)
    # Positive yaw turns the face to the subject's left (+X): the nose tip moves to +X.
    nose = ict_head.landmarks68[30]
    assert float(posed[nose, 0]) > float(rest[nose, 0]) + 0.005


def test_euler_round_trip():
    angles = torch.tensor([[0.2, -0.7, 0.4], [-1.0, 0.3, -0.2]])
    assert torch.allclose(matrix_to_euler(euler_to_matrix(angles)), angles, atol=1e-5)
    assert torch.allclose(euler_to_matrix(torch.zeros(3)), torch.eye(3))
    quarter = euler_to_matrix(torch.tensor([0.0, math.pi / 2, 0.0]))
    assert torch.allclose(quarter @ torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)


def test_gradients_reach_every_parameter(ict_head):
    params = ict_head.neutral_params(2)
    for tensor in (params.identity, params.expression, params.jaw, params.head_rotation, params.eye_blink):
        tensor.requires_grad_(True)
    params.jaw.data[:, 0] = 0.1  # relu(jaw) needs an open jaw to pass a gradient
    ict_head(params)[:, ict_head.landmarks68].sum().backward()
    for tensor in (params.identity, params.expression, params.jaw, params.head_rotation):
        assert tensor.grad is not None and float(tensor.grad.abs().sum()) > 0


def test_lip_and_upper_face_sets_are_disjoint_face_regions(ict_head):
    lips = set(ict_head.lip_vertices.tolist())
    upper = set(ict_head.upper_face_vertices.tolist())
    assert 200 < len(lips) < 5000 and len(upper) > 1000
    assert not lips & upper


def test_unknown_head_model_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unknown head model"):
        load_head_model("basel")
    with pytest.raises(FileNotFoundError, match="not found"):
        ICTFaceKit(tmp_path / "nope.npz")


def test_missing_asset_message_names_file_and_command(tmp_path, monkeypatch):
    from portraittalker import assets

    monkeypatch.setattr(assets, "asset_search_dirs", lambda: [tmp_path])
    with pytest.raises(assets.AssetMissingError, match=r"ict_facekit_light\.npz.*assets pull ict-facekit"):
        assets.find_asset(assets.ICT_FACEKIT)


def test_head_params_frames_slices_per_frame_fields(ict_head):
    params = ict_head.neutral_params(10)
    params.jaw[:, 0] = torch.arange(10, dtype=torch.float32)
    part = params.frames(3, 6)
    assert part.batch_size == 3 and part.identity.shape == (1, ict_head.n_identity)
    assert part.jaw[:, 0].tolist() == [3.0, 4.0, 5.0]
