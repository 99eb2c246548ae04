"""LSE-C/LSE-D through syncnet-python: random weights in the package's file formats, parity with its own API."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch
from conftest import MaliciousPickle

from eval.common import MetricUnavailable, WeightsError
from eval.lse import LSEConfig, compute_lse, load_syncnet_pipeline, missing_weights_reason
from portraittalker.assets import REPO_ROOT

CLIP = REPO_ROOT.parent / "shared" / "data" / "real_clips" / "WDA_KatieHill_000.mp4"
FACE_BOX = (150.0, 90.0, 360.0, 330.0)  # around the face of the 512² clip, wider than min_face_size 100 px
FRAMES = 12



@pytest.fixture(scope="module")
def weight_files(tmp_path_factory) -> tuple[str, str]:
    """syncnet_v2.model (plain dict of tensors, no BN batch counters) and sfd_face.pth, random, package layouts."""
    from syncnet_python.detectors.s3fd.nets import S3FDNet
    from syncnet_python.SyncNetModel import S

    torch.manual_seed(0)
    syncnet = S()
    for module in syncnet.modules():  # non-trivial BN statistics, as a trained checkpoint has
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    folder = tmp_path_factory.mktemp("syncnet_weights")
    state = {k: v for k, v in syncnet.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, folder / "syncnet_v2.model")
    torch.save(S3FDNet(device="cpu").state_dict(), folder / "sfd_face.pth")
    return str(folder / "syncnet_v2.model"), str(folder / "sfd_face.pth")


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    """The first 12 frames (0.48 s) of a real clip, H.264 + AAC like a generated video."""
    path = tmp_path_factory.mktemp("lse_clip") / "short.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(CLIP), "-t", f"{FRAMES / 25}",
                    "-c:v", "libx264", "-c:a", "aac", str(path)], check=True)
    return path


def _fixed_face(self, image, conf_th=0.8, scales=(1,)):  # stands in for S3FD.detect_faces
    return np.array([[*FACE_BOX, 0.99]])


def _no_face(self, image, conf_th=0.8, scales=(1,)):
    return np.empty((0, 5))


def test_loads_package_networks_from_local_files(weight_files) -> None:
    pipeline = load_syncnet_pipeline(*weight_files, LSEConfig(min_track=10))
    state = torch.load(weight_files[0], weights_only=True)
    assert torch.equal(pipeline.syncnet.__S__.state_dict()["netcnnlip.18.weight"], state["netcnnlip.18.weight"])
    s3fd = torch.load(weight_files[1], weights_only=True)
    assert torch.equal(pipeline.s3fd.net.state_dict()["conf.0.weight"], s3fd["conf.0.weight"])
    assert pipeline.cfg.min_track == 10 and pipeline.cfg.vshift == 15 and pipeline.cfg.crop_scale == 0.4
    # The real S3FD network runs on a frame (random weights: boxes of any number, 5 columns each).
    boxes = pipeline.s3fd.detect_faces(np.zeros((128, 128, 3), np.uint8), conf_th=0.9, scales=[0.25])
    assert boxes.ndim == 2 and boxes.shape[1] == 5


def test_lse_matches_syncnet_python_api(weight_files, short_clip, monkeypatch) -> None:
    from syncnet_python import SyncNetPipeline
    from syncnet_python.detectors.s3fd import S3FD

    # Random S3FD weights find no real face, so both runs get the same fixed face box from the detector.
    monkeypatch.setattr(S3FD, "detect_faces", _fixed_face)
    result = compute_lse(load_syncnet_pipeline(*weight_files, LSEConfig(min_track=10)), short_clip)

    direct = SyncNetPipeline({"syncnet_weights": weight_files[0], "s3fd_weights": weight_files[1], "min_track": 10},
                             device="cpu")
    offsets, confs, dists, best_conf, min_dist, _, has_face = direct.inference(str(short_clip), None)
    assert has_face and len(offsets) == 1
    assert result.lse_c == best_conf and result.lse_d == min_dist and result.offset == offsets[0]
    assert (result.track_offsets, result.track_confidences, result.track_distances) == (offsets, confs, dists)
    assert np.isfinite(result.lse_d) and result.lse_d > 0 and result.lse_c >= 0
    assert -15 <= result.offset <= 15


def test_lse_unavailable_without_face_track(weight_files, short_clip, monkeypatch) -> None:
    from syncnet_python.detectors.s3fd import S3FD

    pipeline = load_syncnet_pipeline(*weight_files, LSEConfig(min_track=10))
    monkeypatch.setattr(S3FD, "detect_faces", _no_face)
    with pytest.raises(MetricUnavailable, match="no S3FD face track of more than 10 frames"):
        compute_lse(pipeline, short_clip)
    monkeypatch.setattr(S3FD, "detect_faces", _fixed_face)
    long_tracks = load_syncnet_pipeline(*weight_files)  # the package default: tracks of more than 50 frames
    with pytest.raises(MetricUnavailable, match="more than 50 frames"):
        compute_lse(long_tracks, short_clip)


def test_missing_junk_and_malicious_weight_files(weight_files, tmp_path) -> None:
    syncnet, s3fd = weight_files
    with pytest.raises(WeightsError, match=r"nope\.model.*syncnet_v2\.model") as error:
        load_syncnet_pipeline(tmp_path / "nope.model", s3fd)
    assert "robots.ox.ac.uk" in str(error.value)
    with pytest.raises(WeightsError, match=r"sfd_face\.pth"):
        load_syncnet_pipeline(syncnet, tmp_path / "missing_sfd.pth")

    (tmp_path / "junk.model").write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match=r"junk\.model.*weights_only"):
        load_syncnet_pipeline(tmp_path / "junk.model", s3fd)

    marker = tmp_path / "pwned"
    torch.save({"netcnnaud.0.weight": MaliciousPickle(marker)}, tmp_path / "evil.model")
    with pytest.raises(WeightsError, match=r"evil\.model"):
        load_syncnet_pipeline(tmp_path / "evil.model", s3fd)
    assert not marker.exists()

    with pytest.raises(WeightsError, match=r"syncnet_v2\.model: not S3FD weights"):  # the two files swapped
        load_syncnet_pipeline(s3fd, syncnet)
    torch.save([torch.zeros(3)], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match=r"list\.pth.*state dict"):
        load_syncnet_pipeline(syncnet, tmp_path / "list.pth")


def test_missing_weights_reason_names_the_files() -> None:
    both = missing_weights_reason(None, None)
    assert "syncnet_v2.model" in both and "sfd_face.pth" in both
    only_s3fd = missing_weights_reason(REPO_ROOT / "syncnet_v2.model", None)
    assert "sfd_face.pth" in only_s3fd and "syncnet_weights" not in only_s3fd
