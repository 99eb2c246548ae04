"""SyncNet loading and LSE-C/LSE-D against an independent computation of the upstream formula."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import python_speech_features
import torch

from eval.common import MetricUnavailable, WeightsError
from eval.lse import LSEConfig, compute_lse, face_track_crops
from eval.syncnet import SyncNet, load_syncnet
from portraittalker.assets import REPO_ROOT

CLIP = REPO_ROOT.parent / "shared" / "data" / "real_clips" / "WDA_KatieHill_000.mp4"


@pytest.fixture(scope="module")
def syncnet_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    model = SyncNet()
    for module in model.modules():  # non-trivial BN statistics, as a trained checkpoint has
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    # syncnet_v2.model is a plain dict of tensors without BN batch counters
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    torch.save(state, path)
    return str(path)


def test_load_syncnet_checkpoint_format(syncnet_file: str, tmp_path) -> None:
    model = load_syncnet(syncnet_file)
    state = torch.load(syncnet_file, weights_only=True)
    assert torch.equal(model.state_dict()["netcnnlip.18.weight"], state["netcnnlip.18.weight"])
    assert not model.training
    with pytest.raises(WeightsError, match=r"syncnet_v2\.model"):
        load_syncnet(tmp_path / "missing.model")
    pickled = tmp_path / "module.model"
    torch.save(SyncNet(), pickled)  # a whole pickled module must be refused (weights_only)
    with pytest.raises(WeightsError):
        load_syncnet(pickled)
    wrong = tmp_path / "wrong.model"
    torch.save({"foo.weight": torch.zeros(3)}, wrong)
    with pytest.raises(WeightsError, match="not a SyncNet checkpoint"):
        load_syncnet(wrong)


def test_face_track_crops_follow_run_pipeline_geometry() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (13, 200, 240, 3), dtype=np.uint8)
    boxes = np.tile(np.array([[80.0, 60.0, 160.0, 150.0]]), (13, 1))
    boxes[4] = np.nan  # a missed detection is interpolated
    crops = face_track_crops(frames, boxes, crop_scale=0.4)
    bs = 45.0  # max(w=80, h=90) / 2
    pad = int(bs * 1.8)
    padded = np.pad(frames[4][..., ::-1], ((pad, pad), (pad, pad), (0, 0)), constant_values=110)
    my, mx = 105 + pad, 120 + pad
    expected = padded[int(my - bs):int(my + bs * 1.8), int(mx - bs * 1.4):int(mx + bs * 1.4)]
    np.testing.assert_array_equal(crops[4], cv2.resize(expected, (224, 224)))
    with pytest.raises(MetricUnavailable):
        face_track_crops(frames, np.full((13, 4), np.nan))


def test_lse_matches_independent_formula(syncnet_file: str) -> None:
    from eval.common import load_audio_16k, read_video_rgb

    n_frames = 8
    frames = read_video_rgb(CLIP, max_frames=n_frames)
    audio = load_audio_16k(CLIP)[: n_frames * 640]
    boxes = np.tile(np.array([[150.0, 90.0, 360.0, 330.0]]), (n_frames, 1))
    model = load_syncnet(syncnet_file)
    result = compute_lse(model, frames, boxes, audio, LSEConfig(vshift=15, batch_size=4))

    # Independent: upstream steps written out directly (int16 PCM MFCC, per-window embeddings, numpy distances).
    crops = face_track_crops(frames, boxes).astype(np.float32)  # (N, 224, 224, 3) BGR
    mfcc = python_speech_features.mfcc((audio * 32768).round().clip(-32768, 32767).astype(np.int16), 16000).T
    n_windows = n_frames - 5
    with torch.no_grad():
        video = np.stack([
            model.forward_lip(torch.from_numpy(crops[i:i + 5]).permute(3, 0, 1, 2)[None]).numpy()[0]
            for i in range(n_windows)])
        sound = np.stack([
            model.forward_aud(torch.from_numpy(mfcc[:, 4 * i:4 * i + 20].astype(np.float32))[None, None]).numpy()[0]
            for i in range(n_windows)])
    vshift = 15
    dists = np.zeros((n_windows, 2 * vshift + 1))
    for i in range(n_windows):
        for k in range(2 * vshift + 1):
            j = i + k - vshift
            other = sound[j] if 0 <= j < n_windows else np.zeros_like(sound[0])
            dists[i, k] = np.linalg.norm(video[i] - other + 1e-6)
    mean = dists.mean(axis=0)
    assert result.lse_d == pytest.approx(mean.min(), rel=1e-4)
    assert result.lse_c == pytest.approx(np.median(mean) - mean.min(), rel=1e-3, abs=1e-4)
    assert result.offset == vshift - int(np.argmin(mean))
    np.testing.assert_allclose(result.mean_dists, mean, rtol=1e-4)
