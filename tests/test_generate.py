"""`portraittalker generate` / `animate` end to end at a small size (baseline motion: no weights needed)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import speech_excerpt
from typer.testing import CliRunner

from portraittalker.cli import app
from portraittalker.config import load_params
from portraittalker.media.video import probe_video, read_frames
from portraittalker.motion.schema import MotionTable
from portraittalker.pipeline import generate_video

runner = CliRunner()


@pytest.fixture(scope="module")
def two_seconds(speech_wav, tmp_path_factory):
    return speech_excerpt(speech_wav, tmp_path_factory.mktemp("speech") / "two_seconds.wav", 1.0, 2.0)


@pytest.fixture(scope="module")
def small_params():
    return load_params(overrides={"render": {"image_size": 128}, "designer": {"texture_size": 256},
                                  "motion": {"generator": "baseline"}})


def test_video_is_aligned_and_the_mouth_moves(two_seconds, small_params, tmp_path):
    out = tmp_path / "talk.mp4"
    result = generate_video("a bald old man with a grey beard", two_seconds, out, small_params, seed=1)
    info = probe_video(out)
    assert (info.width, info.height, info.codec, info.has_audio) == (128, 128, "h264", True)
    assert abs(info.duration_s - info.audio_duration_s) <= 1 / 25 + 1e-3
    assert abs(info.audio_duration_s - 2.0) <= 1 / 25 + 1e-3 and result.n_frames == 50
    assert set(result.timings) >= {"load_audio", "design_avatar", "animate", "render", "encode"}
    frames = np.stack(list(read_frames(out))).astype(np.float32)
    jaw = result.motion.frame_data["jaw_rot_x"].to_numpy()
    open_frame, closed_frame = int(jaw.argmax()), int(jaw.argmin())
    assert jaw[open_frame] > 0.1
    mouth = (slice(70, 100), slice(44, 84))  # rows, cols of the lower face at 128², frontal camera
    upper = (slice(20, 45), slice(44, 84))
    mouth_change = np.abs(frames[open_frame][mouth] - frames[closed_frame][mouth]).mean()
    upper_change = np.abs(frames[open_frame][upper] - frames[closed_frame][upper]).mean()
    assert mouth_change > 3 * upper_change and mouth_change > 4.0


def test_prompt_changes_the_look(two_seconds, small_params, tmp_path):
    looks = {}
    prompts = {"pale": "a pale woman with blonde hair", "dark": "a man with dark skin and black hair"}
    for name, prompt in prompts.items():
        out = tmp_path / f"{name}.mp4"
        generate_video(prompt, two_seconds, out, small_params, seed=3)
        looks[name] = next(iter(read_frames(out))).astype(np.float32)
    cheek = (slice(60, 75), slice(40, 52))
    assert looks["pale"][cheek].mean() > looks["dark"][cheek].mean() + 30


def test_cli_generate_animate_and_errors(two_seconds, tmp_path):
    out = tmp_path / "cli.mp4"
    result = runner.invoke(app, ["generate", "--prompt", "young woman, red hair", "--audio", str(two_seconds),
                                 "--out", str(out), "--size", "96", "--motion", "baseline", "--yaw", "20",
                                 "--verbose"])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "real-time factor" in result.output
    motion_path = tmp_path / "motion.parquet"
    result = runner.invoke(app, ["animate", "--audio", str(two_seconds), "--out", str(motion_path),
                                 "--motion", "baseline"])
    assert result.exit_code == 0, result.output
    assert len(MotionTable.load(motion_path)) == 50

    missing = runner.invoke(app, ["generate", "--prompt", "x", "--audio", str(tmp_path / "nope.wav"),
                                  "--out", str(tmp_path / "n.mp4"), "--motion", "baseline"])
    assert missing.exit_code == 2 and "nope.wav" in missing.output
    empty = runner.invoke(app, ["generate", "--prompt", "   ", "--audio", str(two_seconds),
                                "--out", str(tmp_path / "e.mp4"), "--motion", "baseline"])
    assert empty.exit_code == 2 and "prompt" in empty.output.lower()
    assert not (tmp_path / "e.mp4").exists() and not (tmp_path / "n.mp4").exists()


def test_missing_motion_checkpoint_is_a_clear_error(two_seconds, tmp_path):
    result = runner.invoke(app, ["generate", "--prompt", "a woman", "--audio", str(two_seconds), "--out",
                                 str(tmp_path / "m.mp4"), "--motion", "model", "--checkpoint",
                                 str(tmp_path / "none.pt")])
    assert result.exit_code == 2 and "none.pt" in result.output and "--motion baseline" in result.output


def test_assets_check_lists_required_and_optional(monkeypatch):
    result = runner.invoke(app, ["assets", "check"])
    assert result.exit_code == 0, result.output
    assert "ict-facekit" in result.output and "syncnet" in result.output
