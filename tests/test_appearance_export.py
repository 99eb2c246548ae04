"""Export: GLB (mesh, texture, blendshape morph targets, animation) and ARKit / Live Link Face CSV, read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from portraittalker.appearance.export import (
    ARKIT_BLENDSHAPES,
    CSV_HEADER,
    export_arkit_csv,
    export_glb,
    glb_accessor,
    read_arkit_csv,
    read_glb,
    timecode,
)
from portraittalker.avatar.asset import Avatar
from portraittalker.head.base import euler_to_matrix
from portraittalker.motion.schema import MotionTable
from portraittalker.render.mesh import build_split_mesh, build_texture_atlas
from portraittalker.render.scene import Background, Lighting, Material


def talking_motion(head, frames: int = 5) -> MotionTable:
    params = head.neutral_params(frames)
    names = head.expression_names
    params.expression[:, names.index("mouthSmile_L")] = torch.linspace(0, 0.8, frames)
    params.expression[:, names.index("cheekPuff_L")] = 0.4
    params.expression[:, names.index("cheekPuff_R")] = 0.2
    params.jaw[:, 0] = torch.linspace(0, 0.25, frames)
    params.eye_blink[:, 1] = 0.5
    params.head_rotation[:, 1] = torch.linspace(-0.2, 0.2, frames)
    params.head_rotation[:, 0] = 0.1
    params.head_translation[:, 0] = 0.01
    return MotionTable.from_head_params(params, head)


def test_arkit_csv_round_trip(ict_head, tmp_path: Path) -> None:
    motion = talking_motion(ict_head)
    path = export_arkit_csv(motion, ict_head, tmp_path / "talk.csv")
    codes, values = read_arkit_csv(path)
    assert len(CSV_HEADER) == 63 and len(ARKIT_BLENDSHAPES) == 52
    assert codes[0] == "00:00:00:00.000" and timecode(26, 25) == "00:00:01:01.000"
    column = {name: i for i, name in enumerate(CSV_HEADER[2:])}
    assert values.shape == (5, 61)
    assert np.allclose(values[:, column["MouthSmileLeft"]], np.linspace(0, 0.8, 5), atol=1e-5)
    assert np.allclose(values[:, column["JawOpen"]], np.linspace(0, 0.25, 5) / 0.32, atol=1e-5)
    assert np.allclose(values[:, column["CheekPuff"]], 0.3, atol=1e-5)
    assert np.allclose(values[:, column["EyeBlinkRight"]], 0.5) and np.allclose(values[:, column["EyeBlinkLeft"]], 0)
    assert np.allclose(values[:, column["HeadYaw"]], np.linspace(-0.2, 0.2, 5), atol=1e-5)
    assert values[:, column["TongueOut"]].max() == 0.0


def test_glb_round_trip_reproduces_the_animated_head(ict_head, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    offsets = np.zeros((ict_head.n_vertices, 3), np.float32)
    offsets[:100] = 0.001
    avatar = Avatar(identity=rng.standard_normal(ict_head.n_identity).astype(np.float32) * 0.5,
                    material=Material(albedo=rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)),
                    lighting=Lighting(), background=Background(), head_model=ict_head.name, vertex_offsets=offsets)
    motion = talking_motion(ict_head)
    gltf, blob = read_glb(export_glb(avatar, ict_head, tmp_path / "talk.glb", motion))
    mesh = gltf["meshes"][0]
    primitive = mesh["primitives"][0]
    names = mesh["extras"]["targetNames"]
    assert len(names) == len(primitive["targets"]) == 53 and "jawOpen" in names
    positions = glb_accessor(gltf, blob, primitive["attributes"]["POSITION"])
    assert glb_accessor(gltf, blob, primitive["indices"]).max() < len(positions)
    assert glb_accessor(gltf, blob, primitive["attributes"]["TEXCOORD_0"]).shape == (len(positions), 2)
    animation = gltf["animations"][0]
    paths = {channel["target"]["path"]: channel["sampler"] for channel in animation["channels"]}
    times = glb_accessor(gltf, blob, animation["samplers"][paths["weights"]]["input"])
    assert np.allclose(times, np.arange(5) / 25)
    weights = glb_accessor(gltf, blob, animation["samplers"][paths["weights"]]["output"]).reshape(5, len(names))
    rotation = glb_accessor(gltf, blob, animation["samplers"][paths["rotation"]]["output"])
    translation = glb_accessor(gltf, blob, animation["samplers"][paths["translation"]]["output"])
    deltas = np.stack([glb_accessor(gltf, blob, t["POSITION"]) for t in primitive["targets"]])
    # Frame 3 as a glTF viewer computes it vs the head model itself.
    frame = 3
    local = positions + np.tensordot(weights[frame], deltas, axes=1)
    x, y, z, w = rotation[frame]
    matrix = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                       [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                       [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    posed = local @ matrix.T + translation[frame]
    params = motion.to_head_params(ict_head, torch.as_tensor(avatar.identity)[None]).frames(frame, frame + 1)
    with torch.no_grad():
        deformed = ict_head.deform(params) + torch.as_tensor(offsets)
        expected = ict_head.apply_head_pose(deformed, params)[0].numpy()
    ids = build_split_mesh(ict_head, build_texture_atlas(ict_head)).vertex_ids
    assert np.abs(posed - expected[ids]).max() < 1e-5
    assert np.allclose(matrix, euler_to_matrix(params.head_rotation)[0].numpy(), atol=1e-5)


def test_arkit_export_refuses_a_motion_for_another_head(ict_head, tmp_path: Path) -> None:
    motion = talking_motion(ict_head)
    motion.head_model = "flame"
    with pytest.raises(Exception, match="flame"):
        export_arkit_csv(motion, ict_head, tmp_path / "x.csv")
