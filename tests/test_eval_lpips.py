"""LPIPS through the lpips package: random weights in the real file formats, parity with lpips.LPIPS's own loading
path, no download, missing/junk/malicious files, evaluate()."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MaliciousPickle

from eval.common import WeightsError
from eval.lpips import load_lpips, lpips, lpips_per_frame

BACKBONE_NAME = "alexnet-owt-7be5be79.pth"



@pytest.fixture(scope="module")
def weight_files(tmp_path_factory) -> tuple[Path, Path]:
    """Random weights in the real formats: torchvision's AlexNet state dict and lpips' v0.1 alex.pth."""
    from torchvision.models import alexnet

    folder = tmp_path_factory.mktemp("lpips_weights")
    torch.manual_seed(0)
    torch.save(alexnet(weights=None).state_dict(), folder / BACKBONE_NAME)  # features.* and classifier.*
    linear = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(linear, folder / "alex.pth")
    return folder / BACKBONE_NAME, folder / "alex.pth"


@pytest.fixture(scope="module")
def model(weight_files):
    return load_lpips(*weight_files)


def _frames(seed: int, n: int = 2, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_values_match_lpips_package(weight_files, model, no_download) -> None:
    import lpips as lpips_package

    # The package's own construction: ImageNet AlexNet from the torch hub cache (where torchvision's download
    # would put it; downloads are refused here) and the linear layers from model_path.
    checkpoints = no_download / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    shutil.copy(weight_files[0], checkpoints / BACKBONE_NAME)
    package = lpips_package.LPIPS(net="alex", version="0.1", model_path=str(weight_files[1]), verbose=False)
    a, b = _frames(1), _frames(2)
    with torch.no_grad():
        to_unit = lambda frames: torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255  # noqa: E731
        expected = package(to_unit(a), to_unit(b), normalize=True).flatten().double().numpy()
    per_frame = lpips_per_frame(model, a, b)
    assert per_frame.shape == (2,) and np.all(per_frame > 0)
    np.testing.assert_allclose(per_frame, expected, rtol=1e-5)
    assert lpips(model, a, b) == pytest.approx(float(expected.mean()), rel=1e-5)
    assert lpips(model, a, a) == 0.0
    np.testing.assert_allclose(lpips_per_frame(model, b, a), per_frame, rtol=1e-5)
    noisy = np.clip(a.astype(int) + np.random.default_rng(3).integers(-8, 9, a.shape), 0, 255).astype(np.uint8)
    assert lpips(model, a, noisy) < lpips(model, a, b)
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_loads_the_linear_file_shipped_with_lpips(weight_files, no_download) -> None:
    import lpips as lpips_package

    shipped = Path(lpips_package.__file__).parent / "weights" / "v0.1" / "alex.pth"  # a real (CUDA-saved) file
    model = load_lpips(weight_files[0], shipped)
    state = torch.load(shipped, map_location="cpu", weights_only=True)
    assert torch.equal(model.lin2.model[1].weight, state["lin2.model.1.weight"])


def test_bad_inputs(model) -> None:
    from eval.common import MetricUnavailable

    with pytest.raises(ValueError, match="equal shape"):
        lpips(model, _frames(1), _frames(1, n=3))
    with pytest.raises(MetricUnavailable, match="at least"):
        lpips(model, _frames(1, size=16), _frames(2, size=16))


def test_weight_errors(weight_files, tmp_path, no_download) -> None:
    backbone_path, linear_path = weight_files
    with pytest.raises(WeightsError, match=r"alexnet-owt-7be5be79\.pth from https://download\.pytorch\.org") as error:
        load_lpips(tmp_path / "nope.pth", linear_path)
    assert "nope.pth" in str(error.value)
    with pytest.raises(WeightsError, match="PerceptualSimilarity") as error:
        load_lpips(backbone_path, tmp_path / "alex_missing.pth")
    assert "alex_missing.pth" in str(error.value)

    linear = torch.load(linear_path, weights_only=True)
    renamed = {k.replace("lin4.", "lin5."): v for k, v in linear.items()}
    torch.save(renamed, tmp_path / "renamed.pth")
    with pytest.raises(WeightsError, match=r"renamed\.pth.*lin4\.model\.1\.weight.*lin5\.model\.1\.weight"):
        load_lpips(backbone_path, tmp_path / "renamed.pth")
    linear["lin1.model.1.weight"] = linear["lin1.model.1.weight"][:, :10]
    torch.save(linear, tmp_path / "narrow.pth")
    with pytest.raises(WeightsError, match=r"narrow\.pth.*size mismatch"):
        load_lpips(backbone_path, tmp_path / "narrow.pth")

    backbone = torch.load(backbone_path, weights_only=True)
    backbone["features.3.weight"] = backbone["features.3.weight"][:, :32]
    torch.save(backbone, tmp_path / "bad_shape.pth")
    with pytest.raises(WeightsError, match=r"bad_shape\.pth.*features\.3\.weight"):
        load_lpips(tmp_path / "bad_shape.pth", linear_path)

    # Swapping the two files is caught with the keys named.
    with pytest.raises(WeightsError, match=r"alex\.pth: not torchvision AlexNet weights.*features\.0\.weight"):
        load_lpips(linear_path, linear_path)

    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"garbage\.pth.*weights_only"):
        load_lpips(tmp_path / "garbage.pth", linear_path)
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match=r"list\.pth.*state dict"):
        load_lpips(backbone_path, tmp_path / "list.pth")
    marker = tmp_path / "pwned"
    torch.save({"lin0.model.1.weight": MaliciousPickle(marker)}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match=r"evil\.pth"):
        load_lpips(backbone_path, tmp_path / "evil.pth")
    assert not marker.exists()


def test_evaluate_reports_lpips(weight_files, tmp_path) -> None:
    from eval.evaluate import evaluate
    from portraittalker.media.video import VideoWriter

    rng = np.random.default_rng(0)
    video = tmp_path / "clip.mp4"
    with VideoWriter(video, 64, 64) as writer:
        for _ in range(8):
            writer.write(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))

    result = evaluate(video, video, tmp_path / "no_weights", {"max_frames": 6})
    reason = result["unavailable"]["lpips"]
    for text in ("lpips_backbone_weights", "alexnet-owt-7be5be79.pth", "https://download.pytorch.org",
                 "lpips_linear_weights", "alex.pth", "PerceptualSimilarity"):
        assert text in reason, text
    assert "lpips" not in result["metrics"] and result["metrics"]["psnr"] == 100.0

    config = {"max_frames": 6, "lpips_backbone_weights": weight_files[0], "lpips_linear_weights": weight_files[1]}
    result = evaluate(video, video, tmp_path / "with_weights", config)
    assert result["metrics"]["lpips"] == 0.0 and "lpips" not in result["unavailable"]
    assert result["per_video"]["lpips"].tolist() == [0.0]


def test_evaluate_models_bad_or_partial_lpips_weights(weight_files, tmp_path) -> None:
    from eval.evaluate import EvalConfig, _Models

    config = EvalConfig(lpips_backbone_weights=weight_files[0], lpips_linear_weights=tmp_path / "missing_alex.pth")
    with pytest.raises(WeightsError, match=r"missing_alex\.pth"):  # given but unreadable: an error, not unavailable
        _Models(config)
    only_backbone = _Models(EvalConfig(lpips_backbone_weights=weight_files[0])).reasons["lpips"]
    assert "lpips_linear_weights" in only_backbone and "lpips_backbone_weights" not in only_backbone
