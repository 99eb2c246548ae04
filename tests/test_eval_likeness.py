"""Photo-avatar likeness: the measures on known answers, and the whole new-user path on a real clip (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from eval.likeness import FaceSample, colour_distance, evaluate_likeness, procrustes, shape_distance


def _sample(points: np.ndarray, rgb: tuple[float, float, float], n: int = 3) -> FaceSample:
    return FaceSample(landmarks=np.repeat(points[None], n, 0).astype(np.float32),
                      skin_rgb=np.tile(np.asarray(rgb, np.float32), (n, 1)), mouth_gap=np.linspace(0, 0.1, n),
                      example=np.zeros((4, 4, 3), np.uint8))


def test_procrustes_undoes_rotation_scale_and_translation() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 3))
    moved = 2.5 * points @ Rotation.from_euler("xyz", [20, -35, 10], degrees=True).as_matrix().T + [3, -1, 7]
    assert np.allclose(procrustes(moved, points), points, atol=1e-9)


def test_shape_distance_ignores_pose_but_not_shape() -> None:
    rng = np.random.default_rng(1)
    face = rng.normal(size=(478, 3)) * 50
    posed = 0.7 * face @ Rotation.from_euler("y", 25, degrees=True).as_matrix().T + 100
    assert shape_distance(_sample(face, (0, 0, 0)), _sample(posed, (0, 0, 0))) < 1e-6
    wider = face * np.array([1.3, 1.0, 1.0])
    assert shape_distance(_sample(face, (0, 0, 0)), _sample(wider, (0, 0, 0))) > 0.05


def test_colour_distance_is_cie76_delta_e() -> None:
    face = np.zeros((478, 3))
    assert colour_distance(_sample(face, (180, 120, 100)), _sample(face, (180, 120, 100))) == 0.0
    black, white = _sample(face, (0, 0, 0)), _sample(face, (255, 255, 255))
    assert colour_distance(black, white) == pytest.approx(100.0, abs=0.5)  # L* from 0 to 100


@pytest.mark.slow
def test_photo_avatar_is_more_like_the_person_than_the_default(shared_dir: Path, tmp_path: Path) -> None:
    clip = shared_dir / "data" / "real_clips" / "WDA_KatieHill_000.mp4"
    report = evaluate_likeness([clip], tmp_path, steps=25, avatar_size=96, video_size=192, seconds=2.0)
    assert not report["failures"], report["failures"]
    row = report["rows"][0]
    print(json.dumps(row))
    assert row["photo_colour_de"] < row["default_colour_de"]
    assert row["photo_shape"] < row["default_shape"]
    assert (tmp_path / "likeness.png").is_file()
    assert json.loads((tmp_path / "likeness.json").read_text())["summary"]["clips"] == 1
