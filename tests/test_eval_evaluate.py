"""evaluate(): input resolution, outputs (metrics.json / parquet / report.html), regressions, CLIP-T."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from eval.common import EvalInputError
from eval.evaluate import check_regressions, evaluate, resolve_items
from eval.views import NOVEL_VIEWS, aggregate_by_view, novel_views, view_name, views_table
from portraittalker.assets import REPO_ROOT

CLIP = REPO_ROOT.parent / "shared" / "data" / "real_clips" / "WDA_KatieHill_000.mp4"


def test_resolve_items_from_table_and_errors(tmp_path) -> None:
    table = pd.DataFrame({"job_id": ["a", "b"], "video_path": ["a.mp4", "/x/b.mp4"],
                          "audio_path": ["a.wav", None], "status": ["ok", "failed"]})
    table.to_csv(tmp_path / "results.csv", index=False)
    items = resolve_items(tmp_path / "results.csv")
    assert [i.status for i in items] == ["ok", "failed"]
    assert items[0].video_path == tmp_path / "a.mp4" and items[0].audio_path == tmp_path / "a.wav"
    pd.DataFrame({"job": ["a"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(EvalInputError, match="job_id"):
        resolve_items(tmp_path / "bad.csv")
    with pytest.raises(EvalInputError, match="not found"):
        resolve_items(tmp_path / "nothing.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalInputError, match="no videos"):
        resolve_items(tmp_path / "empty")


def test_check_regressions() -> None:
    metrics = {"lse_c": 6.5, "fid": 40.0, "lmd_mouth": 2.0}
    thresholds = {"lse_c": {"min": 7.0}, "fid": {"max": 30.0}, "lmd_mouth": {"max": 3.0}, "kid": {"max": 0.1}}
    failures = check_regressions(metrics, thresholds)
    assert len(failures) == 3 and any("lse_c" in f for f in failures) and any("kid" in f for f in failures)
    assert check_regressions(metrics, {"lmd_mouth": {"max": 3.0}}) == []
    assert len(check_regressions(metrics, thresholds, missing_ok=True)) == 2
    with pytest.raises(ValueError, match="unknown"):
        check_regressions(metrics, {"fid": {"below": 3}})


def test_views_protocol() -> None:
    assert novel_views() == [(-30, -20), (-15, -10), (15, 10), (30, 20)]
    table = views_table({v: f"{view_name(*v)}.mp4" for v in NOVEL_VIEWS}, job_id="j1")
    table["lse_c"] = [1.0, 2.0, 3.0, 4.0]
    by_view = aggregate_by_view(table, ["lse_c"])
    assert list(by_view["view"]) == [view_name(*v) for v in NOVEL_VIEWS]
    assert list(by_view["lse_c"]) == [1.0, 2.0, 3.0, 4.0]


def _random_weight_files(folder) -> dict[str, object]:
    """syncnet_v2.model, sfd_face.pth and pt_inception-2015-12-05-6726825d.pth layouts, random weights."""
    from syncnet_python.detectors.s3fd.nets import S3FDNet
    from syncnet_python.SyncNetModel import S
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    paths = {"syncnet_weights": folder / "syncnet_v2.model", "s3fd_weights": folder / "sfd_face.pth",
             "inception_weights": folder / "pt_inception-2015-12-05-6726825d.pth"}
    torch.save(S().state_dict(), paths["syncnet_weights"])
    torch.save(S3FDNet(device="cpu").state_dict(), paths["s3fd_weights"])
    inception = inception_v3(weights=None, num_classes=1008, aux_logits=False, init_weights=False)
    torch.save(inception.state_dict(), paths["inception_weights"])
    return paths


@pytest.mark.slow
def test_evaluate_end_to_end_with_random_weights(tmp_path, monkeypatch) -> None:
    from syncnet_python.detectors.s3fd import S3FD

    # Random S3FD weights detect no real face: the detector returns a fixed box around the clip's face.
    monkeypatch.setattr(S3FD, "detect_faces", lambda self, image, conf_th=0.8, scales=(1,): np.array(
        [[150.0, 90.0, 360.0, 330.0, 0.99]]))
    weights = _random_weight_files(tmp_path)
    table = pd.DataFrame({"job_id": ["clip", "broken"], "video_path": [str(CLIP), "missing.mp4"],
                          "status": ["ok", "failed"]})
    config = {"max_frames": 12, **weights, "lse": {"min_track": 10}, "fid": {"max_frames_per_video": 3}}
    result = evaluate(table, CLIP, tmp_path / "out", config)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for key in ("lse_c", "lse_d", "lse_offset", "kid", "mouth_corr", "lmd_mouth", "psnr", "ssim", "jitter"):
        assert key in metrics and np.isfinite(metrics[key]), key
    assert metrics["lse_d"] > 0 and metrics["fid_n_generated_frames"] == 3
    # 3 frames cannot give a 2048-d covariance: pytorch-fid's FID is a number with a note, or unavailable.
    assert ("fid" in metrics and any("2048" in note for note in result["notes"])) or "fid" in result["unavailable"]
    assert metrics["psnr"] == 100.0 and metrics["lmd_mouth"] == 0.0  # the reference is the video itself
    assert "too short" in result["unavailable"]["av_sync_confidence"]  # 12 frames < the ±15-frame search
    assert "clip_t" in result["unavailable"] and "no weights" in result["unavailable"]["clip_t"]
    per_video = pd.read_parquet(tmp_path / "out" / "per_video.parquet")
    assert list(per_video["status"]) == ["ok", "failed"]
    html = (tmp_path / "out" / "report.html").read_text()
    for text in ("reported", "measured", "7.23", "data:image/png;base64", "<video", "Unavailable metrics"):
        assert text in html


def test_unconfigured_weights_are_unavailable_with_the_files_named(tmp_path) -> None:
    from syncnet_python.SyncNetModel import S

    from eval.evaluate import EvalConfig, _Models

    reasons = _Models(EvalConfig()).reasons
    assert "syncnet_v2.model" in reasons["lse"] and "sfd_face.pth" in reasons["lse"]
    assert "pt_inception-2015-12-05-6726825d.pth" in reasons["fid"]
    torch.save(S().state_dict(), tmp_path / "syncnet_v2.model")
    only_syncnet = _Models(EvalConfig(syncnet_weights=tmp_path / "syncnet_v2.model")).reasons["lse"]
    assert "s3fd_weights" in only_syncnet and "syncnet_weights" not in only_syncnet  # the other file is missing


class _Payload:
    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("option", ["syncnet_weights", "s3fd_weights", "inception_weights", "lpips_backbone_weights",
                                    "lpips_linear_weights"])
@pytest.mark.parametrize("content", ["junk", "malicious", "missing"])
def test_given_but_unreadable_weights_are_an_error(option, content, tmp_path) -> None:
    """Even alone (its partner file not configured), a given file that cannot be read fails the run."""
    from eval.common import WeightsError
    from eval.evaluate import EvalConfig, _Models

    weights = tmp_path / "weights.pth"
    marker = tmp_path / "pwned"
    if content == "junk":
        weights.write_bytes(b"\x80\x02junk, not a checkpoint")
    elif content == "malicious":
        torch.save({"weight": _Payload(marker)}, weights)
    with pytest.raises(WeightsError, match=r"weights\.pth"):
        _Models(EvalConfig.model_validate({option: weights}))
    assert not marker.exists()


def test_cli_exits_with_an_error_on_a_junk_weights_file(tmp_path) -> None:
    from typer.testing import CliRunner

    from portraittalker.cli import app

    junk = tmp_path / "syncnet_v2.model"
    junk.write_bytes(b"junk")
    result = CliRunner().invoke(app, ["evaluate", "--generated", str(CLIP), "--out", str(tmp_path / "out"),
                                      "--syncnet-weights", str(junk)])
    assert result.exit_code != 0
    assert "error" in result.output and "syncnet_v2.model" in result.output and "weights_only" in result.output
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_clip_t_with_tiny_random_clip(tmp_path) -> None:
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    from eval.clip_score import ClipScorer

    chars = list("abcdefghijklmnopqrstuvwxyz")
    vocab = {tok: i for i, tok in enumerate(chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"])}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt")).save_pretrained(tmp_path)
    config = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 32, "bos_token_id": vocab["<|startoftext|>"],
                     "eos_token_id": vocab["<|endoftext|>"], "pad_token_id": vocab["<|endoftext|>"]},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(tmp_path)
    scorer = ClipScorer(tmp_path)
    frames = np.random.default_rng(0).integers(0, 255, (4, 48, 64, 3), dtype=np.uint8)
    score = scorer.score(frames, "a woman talking", n_frames=3)
    image, text = scorer.embeddings(frames[[0, 1, 3]], "a woman talking")
    expected = torch.nn.functional.cosine_similarity(image, text, dim=-1).mean()
    assert -1 <= score <= 1 and score == pytest.approx(float(expected), abs=1e-6)
    assert score != pytest.approx(scorer.score(frames, "zebra", n_frames=3), abs=1e-6)
