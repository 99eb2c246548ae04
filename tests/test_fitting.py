"""Landmark fitting: the fast landmark path matches the full head, and fitting recovers known motion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from portraittalker.face.fitting import (
    MEDIAPIPE_IRIS_LEFT,
    MEDIAPIPE_IRIS_RIGHT,
    FittingConfig,
    FittingError,
    LandmarkModel,
    fit_camera,
    fit_landmarks,
)
from portraittalker.face.tracking import MEDIAPIPE_TO_68
from portraittalker.head.base import HeadParams


@pytest.fixture(scope="module")
def head():
    from portraittalker.head.ict import ICTFaceKit

    return ICTFaceKit()


@pytest.fixture(scope="module")
def model(head):
    return LandmarkModel(head)


def _random_params(head, n: int, seed: int = 0) -> HeadParams:
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, n)[:, None]
    params = head.neutral_params(n)
    params.identity = torch.zeros(1, head.n_identity)
    params.identity[:, :10] = torch.randn(1, 10, generator=g) * 0.8
    params.expression = (torch.rand(n, head.n_expression, generator=g) * 0.3 * (t + 0.2)).clamp(0, 1)
    params.jaw = torch.cat([0.15 * (1 + torch.sin(6 * t)) / 2, torch.zeros(n, 2)], 1)
    params.head_rotation = torch.cat([0.1 * torch.sin(3 * t), 0.2 * torch.cos(2 * t), 0.05 * t], 1)
    params.head_translation = torch.cat([0.01 * t, -0.01 * t, 0.1 + 0.02 * t], 1)
    params.eye_blink = torch.cat([t * 0.8, t * 0.8], 1)
    params.eye_gaze = torch.cat([0.2 * torch.sin(5 * t), 0.1 * t], 1)
    return params


def test_landmark_fast_path_equals_full_forward(head, model):
    params = _random_params(head, 6)
    full = head(params)[:, model.vertex_ids]
    fast = model(params)
    assert fast.shape == (6, model.n_points, 3)
    assert torch.allclose(fast, full, atol=1e-6)


def test_generic_head_falls_back_to_full_forward(head, model):
    class Wrapped(torch.nn.Module):  # a head without ICT-style linear bases
        name = "wrapped"

        def __init__(self):
            super().__init__()
            self.inner = head
            self.landmarks68, self.pivot = head.landmarks68, head.pivot

        def forward(self, params):
            return self.inner(params)

    generic = LandmarkModel(Wrapped(), landmark_vertices=model.vertex_ids[:68])
    assert generic.subset is None
    params = _random_params(head, 3)
    assert torch.allclose(generic(params), head(params)[:, model.vertex_ids[:68]], atol=1e-6)


def _synthetic_track(head, model, params: HeadParams) -> np.ndarray:
    camera = fit_camera(FittingConfig())
    with torch.no_grad():
        pixels = camera.project(model(params)).numpy()
    landmarks = np.full((params.batch_size, 478, 3), np.nan, dtype=np.float32)
    landmarks[:, MEDIAPIPE_TO_68, :2] = pixels[:, :68]
    landmarks[:, [MEDIAPIPE_IRIS_LEFT, MEDIAPIPE_IRIS_RIGHT], :2] = pixels[:, 68:70]
    return landmarks


def test_fit_recovers_synthetic_motion(head, model):
    truth = _random_params(head, 40)
    landmarks = _synthetic_track(head, model, truth)
    landmarks[7] = np.nan  # an untracked frame is bridged, not fatal
    result = fit_landmarks(landmarks, head, FittingConfig(rigid_iterations=80, iterations=200), model=model)
    assert result.params.expression.shape == (40, head.n_expression)
    assert np.isnan(result.frame_error_px[7]) and np.isfinite(result.frame_error_px[8])
    assert result.mean_error_px < 1.0, result.mean_error_px
    rotation_error = (result.params.head_rotation - truth.head_rotation).abs().mean().item()
    assert rotation_error < 0.03, rotation_error
    jaw = result.params.jaw[:, 0].numpy()
    assert np.corrcoef(jaw, truth.jaw[:, 0].numpy())[0, 1] > 0.8
    blink = result.params.eye_blink.mean(1).numpy()
    assert np.corrcoef(blink, truth.eye_blink.mean(1).numpy())[0, 1] > 0.8
    assert float(result.params.expression.min()) >= 0 and float(result.params.expression.max()) <= 1


def test_fit_rejects_bad_input(head, model):
    with pytest.raises(FittingError, match="478"):
        fit_landmarks(np.zeros((5, 68, 2), np.float32), head, model=model)
    with pytest.raises(FittingError, match="no frame"):
        fit_landmarks(np.full((5, 478, 3), np.nan, np.float32), head, model=model)
