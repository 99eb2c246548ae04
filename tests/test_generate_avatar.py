"""`generate --avatar DIR`: a ready avatar (photo fit / SDS folder) drives the video, its vertex offsets included."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from portraittalker.avatar.designer import AttributeDesigner, DesignerConfig
from portraittalker.cli import app
from portraittalker.config import load_params
from portraittalker.media.video import read_frames
from portraittalker.pipeline import generate_video


def test_a_given_avatar_is_rendered_with_its_offsets(ict_head, one_second, tmp_path):
    params = load_params(overrides={"render": {"image_size": 96}, "designer": {"texture_size": 256},
                                    "motion": {"generator": "baseline"}})
    avatar = AttributeDesigner(ict_head, DesignerConfig(texture_size=256)).design("a woman with red hair", seed=3)
    plain = generate_video("", one_second, tmp_path / "plain.mp4", params, avatar=avatar)
    assert plain.avatar is avatar
    # 1 cm outwards along +z (towards the camera) on every vertex: the face grows in the frame
    avatar.vertex_offsets = np.tile(np.array([[0.0, 0.0, 0.01]], np.float32), (ict_head.n_vertices, 1))
    moved = generate_video("", one_second, tmp_path / "moved.mp4", params, avatar=avatar)
    a, b = next(read_frames(plain.video_path)), next(read_frames(moved.video_path))
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 1.0


def test_cli_wants_exactly_one_of_prompt_and_avatar(tmp_path, speech_wav):
    runner = CliRunner()
    both = runner.invoke(app, ["generate", "--prompt", "x", "--avatar", str(tmp_path), "--audio", str(speech_wav),
                               "--out", str(tmp_path / "o.mp4")])
    neither = runner.invoke(app, ["generate", "--audio", str(speech_wav), "--out", str(tmp_path / "o.mp4")])
    for result in (both, neither):
        assert result.exit_code == 2 and "exactly one of --prompt" in result.output
    missing = runner.invoke(app, ["generate", "--avatar", str(tmp_path / "nope"), "--audio", str(speech_wav),
                                  "--out", str(tmp_path / "o.mp4")])
    assert missing.exit_code == 2 and "nope" in missing.output and not (tmp_path / "o.mp4").exists()
