"""LPIPS-Alex v0.1: both real weight formats, values vs an independent functional forward, errors, evaluate()."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eval.common import WeightsError
from eval.lpips import LPIPSAlex, load_lpips, lpips, lpips_per_frame

# torchvision alexnet: (features index, out, in, kernel) of the five convs.
CONVS = ((0, 64, 3, 11), (3, 192, 64, 5), (6, 384, 192, 3), (8, 256, 384, 3), (10, 256, 256, 3))


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory) -> tuple:
    """Random weights written in the real formats: a torchvision AlexNet state dict and lpips' alex.pth."""
    folder = tmp_path_factory.mktemp("lpips_weights")
    generator = torch.Generator().manual_seed(0)
    backbone = {}
    for index, out_ch, in_ch, kernel in CONVS:
        fan_in = in_ch * kernel * kernel
        backbone[f"features.{index}.weight"] = torch.randn(out_ch, in_ch, kernel, kernel, generator=generator) \
            * (2 / fan_in) ** 0.5
        backbone[f"features.{index}.bias"] = 0.1 * torch.randn(out_ch, generator=generator)
    # torchvision's file also holds the classifier; it must be ignored.
    backbone["classifier.1.weight"] = torch.randn(64, 9216 // 64, generator=generator)  # real: (4096, 9216)
    backbone["classifier.6.bias"] = torch.randn(1000, generator=generator)
    linear = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=generator)
              for i, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(backbone, folder / "alexnet-owt-7be5be79.pth")
    torch.save(linear, folder / "alex.pth")
    return folder / "alexnet-owt-7be5be79.pth", folder / "alex.pth"


@pytest.fixture(scope="module")
def model(weight_files) -> LPIPSAlex:
    return load_lpips(*weight_files)


def _frames(seed: int, n: int = 2, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _reference_lpips(backbone_path, linear_path, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Straightforward LPIPS from the files' tensors with functional calls (no eval.lpips code)."""
    backbone = torch.load(backbone_path, weights_only=True)
    linear = torch.load(linear_path, weights_only=True)
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def features(frames: np.ndarray) -> list[torch.Tensor]:
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).double() / 255.0 * 2 - 1
        x = ((x - shift.double()) / scale.double()).float()
        w = backbone
        relu1 = F.relu(F.conv2d(x, w["features.0.weight"], w["features.0.bias"], stride=4, padding=2))
        relu2 = F.relu(F.conv2d(F.max_pool2d(relu1, 3, 2), w["features.3.weight"], w["features.3.bias"], padding=2))
        relu3 = F.relu(F.conv2d(F.max_pool2d(relu2, 3, 2), w["features.6.weight"], w["features.6.bias"], padding=1))
        relu4 = F.relu(F.conv2d(relu3, w["features.8.weight"], w["features.8.bias"], padding=1))
        relu5 = F.relu(F.conv2d(relu4, w["features.10.weight"], w["features.10.bias"], padding=1))
        return [relu1, relu2, relu3, relu4, relu5]

    total = torch.zeros(len(a))
    for k, (fa, fb) in enumerate(zip(features(a), features(b), strict=True)):
        na = fa / (torch.linalg.vector_norm(fa, dim=1, keepdim=True) + 1e-10)
        nb = fb / (torch.linalg.vector_norm(fb, dim=1, keepdim=True) + 1e-10)
        total += F.conv2d((na - nb) ** 2, linear[f"lin{k}.model.1.weight"]).mean(dim=(1, 2, 3))
    return total.double().numpy()


def test_loading_both_formats(weight_files, model) -> None:
    backbone = torch.load(weight_files[0], weights_only=True)
    linear = torch.load(weight_files[1], weights_only=True)
    state = model.state_dict()
    for key in ("features.0.weight", "features.10.bias"):
        assert torch.equal(state[key], backbone[key])
    assert torch.equal(state["lin3.model.1.weight"], linear["lin3.model.1.weight"])
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_values_match_functional_reference_zero_and_symmetric(weight_files, model) -> None:
    a, b = _frames(1), _frames(2)
    per_frame = lpips_per_frame(model, a, b)
    expected = _reference_lpips(*weight_files, a, b)
    assert per_frame.shape == (2,) and np.all(per_frame > 0)
    np.testing.assert_allclose(per_frame, expected, rtol=1e-4)
    assert lpips(model, a, b) == pytest.approx(float(expected.mean()), rel=1e-4)
    assert lpips(model, a, a) == 0.0
    np.testing.assert_allclose(lpips_per_frame(model, b, a), per_frame, rtol=1e-5)
    # A small perturbation is closer than an unrelated image.
    noisy = np.clip(a.astype(int) + np.random.default_rng(3).integers(-8, 9, a.shape), 0, 255).astype(np.uint8)
    assert lpips(model, a, noisy) < lpips(model, a, b)


def test_bad_inputs(model) -> None:
    from eval.common import MetricUnavailable

    with pytest.raises(ValueError, match="equal shape"):
        lpips(model, _frames(1), _frames(1, n=3))
    with pytest.raises(MetricUnavailable, match="at least"):
        lpips(model, _frames(1, size=16), _frames(2, size=16))


def test_weight_errors(weight_files, tmp_path) -> None:
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

    backbone = torch.load(backbone_path, weights_only=True)
    backbone["features.3.weight"] = backbone["features.3.weight"][:, :32]
    torch.save(backbone, tmp_path / "bad_shape.pth")
    with pytest.raises(WeightsError, match=r"bad_shape\.pth.*'features\.3\.weight'.*shape"):
        load_lpips(tmp_path / "bad_shape.pth", linear_path)

    # Swapping the two files is caught with the keys named.
    with pytest.raises(WeightsError, match=r"alex\.pth.*features\.0\.bias"):
        load_lpips(linear_path, linear_path)

    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"garbage\.pth.*weights_only"):
        load_lpips(tmp_path / "garbage.pth", linear_path)
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match=r"list\.pth.*state dict"):
        load_lpips(backbone_path, tmp_path / "list.pth")


def test_evaluate_reports_lpips(weight_files, tmp_path) -> None:
    from eval.evaluate import evaluate
    from portraittalker.video import VideoWriter

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


def test_evaluate_models_reason_for_bad_lpips_weights(weight_files, tmp_path) -> None:
    from eval.evaluate import EvalConfig, _Models

    config = EvalConfig(lpips_backbone_weights=weight_files[0], lpips_linear_weights=tmp_path / "missing_alex.pth")
    models = _Models(config)
    assert models.lpips is None and "missing_alex.pth" in models.reasons["lpips"]
    only_backbone = _Models(EvalConfig(lpips_backbone_weights=weight_files[0])).reasons["lpips"]
    assert "lpips_linear_weights" in only_backbone and "lpips_backbone_weights" not in only_backbone
