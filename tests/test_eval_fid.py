"""FID (pytorch-fid) and KID (torchmetrics) adapters: random weights in pytorch-fid's file format, parity with the
packages' own APIs, no download, missing/junk/malicious files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from conftest import MaliciousPickle
from PIL import Image

from eval.common import WeightsError
from eval.fid import (
    FIDConfig,
    fid_from_features,
    inception_features,
    kid_from_features,
    load_inception,
    sample_frames,
)

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"



@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """Random weights in the layout of pt_inception-2015-12-05-6726825d.pth (1008-class Inception-v3, no aux)."""
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    network = inception_v3(weights=None, num_classes=1008, aux_logits=False, init_weights=False)
    for module in network.modules():  # variance-preserving convs and non-trivial BN statistics: O(1) features
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        elif isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("inception") / WEIGHTS_NAME
    torch.save(network.state_dict(), path)
    return path


def _frames(seed: int, n: int = 3) -> np.ndarray:
    """Smooth random RGB frames (a blurred noise field upsampled), so Inception features differ per frame."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, 6, 8, 3), dtype=np.uint8)
    return np.stack([np.asarray(Image.fromarray(f).resize((80, 60), Image.BILINEAR)) for f in small])


def _hub_cache(torch_home, weights_file) -> None:
    """Put the weights where pytorch-fid's own download would leave them (the torch hub cache)."""
    checkpoints = torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    shutil.copy(weights_file, checkpoints / WEIGHTS_NAME)


def _png_folder(folder, frames: np.ndarray) -> list:
    folder.mkdir()
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{index:03d}.png")
    return sorted(folder.glob("*.png"))


def test_pool3_features_match_pytorch_fid(weights_file, no_download, tmp_path) -> None:
    from pytorch_fid.fid_score import get_activations
    from pytorch_fid.inception import InceptionV3

    model = load_inception(weights_file)  # empty hub cache, downloads refused: the local file only
    key = "Mixed_7c.branch_pool.conv.weight"
    assert torch.equal(model.blocks[3][2].branch_pool.conv.weight, torch.load(weights_file, weights_only=True)[key])
    frames = _frames(1, n=2)
    features = inception_features(model, frames, batch_size=2)
    assert features.shape == (2, 2048) and np.isfinite(features).all() and (features >= 0).all()
    assert np.abs(features[0] - features[1]).max() > 1e-3 * np.abs(features).max()

    # pytorch-fid's own network (its weights where its download would put them) and feature loop, on PNG files.
    _hub_cache(no_download, weights_file)
    expected = get_activations(_png_folder(tmp_path / "frames", frames), InceptionV3([3]), batch_size=2, dims=2048,
                               device="cpu", num_workers=0)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # 280 passes through Inception's first block: ~25 s of CPU here
def test_fid_and_kid_match_the_packages_end_to_end(weights_file, no_download, tmp_path) -> None:
    """pytorch-fid (features from PNG files, Fréchet distance) and torchmetrics' KID vs the adapters, at --dims 64.

    The 64-d block keeps the test short: a full-rank 2048-d covariance needs > 2048 images, a 64-d one 70.
    """
    from pytorch_fid.fid_score import calculate_frechet_distance, get_activations
    from pytorch_fid.inception import InceptionV3
    from torchmetrics.image.kid import KernelInceptionDistance

    generated, reference = _frames(3, n=70), _frames(4, n=70)
    model = load_inception(weights_file, dims=64)
    gen_features, ref_features = inception_features(model, generated, 35), inception_features(model, reference, 35)
    fid = fid_from_features(gen_features, ref_features)
    kid, kid_std = kid_from_features(gen_features, ref_features, subset_size=70, subsets=1)

    _hub_cache(no_download, weights_file)
    package_model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[64]])
    expected = [get_activations(_png_folder(tmp_path / name, frames), package_model, batch_size=35, dims=64,
                                device="cpu", num_workers=0)
                for name, frames in (("gen", generated), ("ref", reference))]
    stats = [(np.mean(f, axis=0), np.cov(f, rowvar=False)) for f in expected]
    assert fid > 0 and fid == pytest.approx(calculate_frechet_distance(*stats[0], *stats[1]), rel=1e-5)
    metric = KernelInceptionDistance(feature=torch.nn.Identity(), subsets=1, subset_size=70)  # whole sets: no draw
    metric.update(torch.from_numpy(expected[0]), real=False)
    metric.update(torch.from_numpy(expected[1]), real=True)
    assert kid == pytest.approx(float(metric.compute()[0]), rel=1e-4, abs=1e-7) and kid_std == 0.0
    with pytest.raises(ValueError, match="dims"):
        load_inception(weights_file, dims=100)


def test_frechet_distance_matches_eigenvalue_formula() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 16))
    b = rng.normal(loc=0.3, scale=1.5, size=(300, 16)) @ rng.normal(size=(16, 16)) * 0.5
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr sqrt(S1 S2) = sum of square roots of the (real, non-negative) eigenvalues of S1 S2
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-6)
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match=">= 2 frames"):
        fid_from_features(a[:1], b)


def test_kid_unbiased_and_detects_shift() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    same, _ = kid_from_features(x, y, subset_size=100, subsets=20)
    shifted, _ = kid_from_features(x, y + 1.0, subset_size=100, subsets=20)
    assert abs(same) < 0.02 < shifted
    assert kid_from_features(x, y, 100, 20) == kid_from_features(x, y, 100, 20)  # seeded subsets
    # one subset = the whole sets: compare with the written-out unbiased MMD^2
    k = lambda p, q: (p @ q.T / 8 + 1) ** 3  # noqa: E731
    n = 200
    expected = ((k(x, x).sum() - np.trace(k(x, x))) + (k(y, y).sum() - np.trace(k(y, y)))) / (n * (n - 1)) \
        - 2 * k(x, y).mean()
    assert kid_from_features(x, y, subset_size=200, subsets=1)[0] == pytest.approx(expected, rel=1e-9)
    assert kid_from_features(x, y[:50], subset_size=1000, subsets=2)[0] == pytest.approx(
        kid_from_features(x, y[:50], subset_size=50, subsets=2)[0])  # subsets shrink to the smaller set


def test_frame_sampling_protocol() -> None:
    frames = np.zeros((20, 100, 120, 3), np.uint8)
    assert len(sample_frames(frames, None, FIDConfig(frame_stride=2))) == 10
    assert len(sample_frames(frames, None, FIDConfig(max_frames_per_video=4))) == 4
    boxes = np.tile([[10.0, 10.0, 60.0, 70.0]], (20, 1))
    crops = sample_frames(frames, boxes, FIDConfig(crop="face", max_frames_per_video=3))
    assert crops.shape == (3, 299, 299, 3)


def test_missing_junk_and_malicious_weight_files(weights_file, no_download, tmp_path) -> None:
    with pytest.raises(WeightsError, match=r"nope\.pth.*pt_inception-2015-12-05-6726825d\.pth from https://github"):
        load_inception(tmp_path / "nope.pth")
    state = torch.load(weights_file, weights_only=True)
    torch.save({"Conv2d_1a_3x3.conv.weight": state["Conv2d_1a_3x3.conv.weight"]}, tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match=r"partial\.pth: not pytorch-fid Inception weights.*Missing key"):
        load_inception(tmp_path / "partial.pth")
    state["Mixed_6a.branch3x3.conv.weight"] = state["Mixed_6a.branch3x3.conv.weight"][:10]
    torch.save(state, tmp_path / "bad_shape.pth")
    with pytest.raises(WeightsError, match=r"bad_shape\.pth.*size mismatch"):
        load_inception(tmp_path / "bad_shape.pth")
    (tmp_path / "junk.pth").write_bytes(b"\x00junk")
    with pytest.raises(WeightsError, match=r"junk\.pth.*weights_only"):
        load_inception(tmp_path / "junk.pth")
    marker = tmp_path / "pwned"
    torch.save({"fc.weight": MaliciousPickle(marker)}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match=r"evil\.pth"):
        load_inception(tmp_path / "evil.pth")
    assert not marker.exists()
