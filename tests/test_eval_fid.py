"""FID network loading (pytorch-fid state-dict format), Fréchet distance and KID maths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eval.common import WeightsError
from eval.fid import (
    FIDConfig,
    FIDInceptionV3,
    fid_from_features,
    frechet_distance,
    inception_features,
    kid_from_features,
    load_inception,
    sample_frames,
)


def test_load_pytorch_fid_format_and_features(tmp_path) -> None:
    torch.manual_seed(0)
    state = {k: v for k, v in FIDInceptionV3().state_dict().items() if not k.endswith("num_batches_tracked")}
    state["fc.weight"] = torch.randn(1008, 2048) * 0.01  # the real file carries the 1008-class classifier
    state["fc.bias"] = torch.zeros(1008)
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    model = load_inception(path)
    key = "Mixed_7c.branch_pool.conv.weight"
    assert torch.equal(model.state_dict()[key], state[key])
    frames = np.random.default_rng(0).integers(0, 255, (2, 64, 80, 3), dtype=np.uint8)
    features = inception_features(model, frames, batch_size=1)
    assert features.shape == (2, 2048) and np.isfinite(features).all()
    assert (features >= 0).all()  # pool3 follows a ReLU
    assert np.abs(features[0] - features[1]).max() > 1e-3 * np.abs(features).max()  # depends on the input
    partial = tmp_path / "partial.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": state["Conv2d_1a_3x3.conv.weight"]}, partial)
    with pytest.raises(WeightsError, match="missing"):
        load_inception(partial)
    with pytest.raises(WeightsError, match="pt_inception"):
        load_inception(tmp_path / "nope.pth")


def test_frechet_distance_matches_eigenvalue_formula() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 16))
    b = rng.normal(loc=0.3, scale=1.5, size=(300, 16)) @ rng.normal(size=(16, 16)) * 0.5
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    # tr sqrt(S1 S2) = sum of square roots of the (real, non-negative) eigenvalues of S1 S2
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-6)
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)


def test_kid_unbiased_and_detects_shift() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    same, _ = kid_from_features(x, y, subset_size=100, subsets=20)
    shifted, _ = kid_from_features(x, y + 1.0, subset_size=100, subsets=20)
    assert abs(same) < 0.02 < shifted
    # one subset = the whole sets: compare with the written-out unbiased MMD^2
    k = lambda p, q: (p @ q.T / 8 + 1) ** 3  # noqa: E731
    n = 200
    expected = ((k(x, x).sum() - np.trace(k(x, x))) + (k(y, y).sum() - np.trace(k(y, y)))) / (n * (n - 1)) \
        - 2 * k(x, y).mean()
    assert kid_from_features(x, y, subset_size=200, subsets=1)[0] == pytest.approx(expected, rel=1e-9)


def test_frame_sampling_protocol() -> None:
    frames = np.zeros((20, 100, 120, 3), np.uint8)
    assert len(sample_frames(frames, None, FIDConfig(frame_stride=2))) == 10
    assert len(sample_frames(frames, None, FIDConfig(max_frames_per_video=4))) == 4
    boxes = np.tile([[10.0, 10.0, 60.0, 70.0]], (20, 1))
    crops = sample_frames(frames, boxes, FIDConfig(crop="face", max_frames_per_video=3))
    assert crops.shape == (3, 299, 299, 3)
