"""The ridge readout (motion/readout.py) and the learned A/V check built on it (data/speech_sync.py)."""

from __future__ import annotations

import numpy as np
import pytest

from portraittalker.data.config import LearnedOffsetConfig
from portraittalker.data.speech_sync import (
    SyncClip,
    apply_learned_offsets,
    clips_to_measure,
    lag_curve,
    learned_offsets,
    learned_shift,
    refine_av_offsets,
)
from portraittalker.motion.readout import design_matrix, fit_ridge, stack_context


def test_design_stacks_neighbours_and_a_bias_column() -> None:
    features = np.arange(12, dtype=np.float32).reshape(4, 3)
    design = design_matrix(features, 1)
    assert design.shape == (4, 10) and (design[:, -1] == 1).all()
    assert design[0, :3].tolist() == features[0].tolist()  # the edge repeats frame 0
    assert design[2].tolist()[:9] == [*features[1], *features[2], *features[3]]
    assert stack_context(features, 0).tolist() == features.tolist()


def test_ridge_recovers_a_known_linear_map_and_picks_alpha_on_validation() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(3 * 4 + 1, 2))  # context 1 over 4 features + bias

    def clip(n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
        x = design_matrix(rng.normal(size=(n, 4)), 1)
        return x, x @ truth + noise * rng.normal(size=(n, 2))

    train = [clip(200, 0.1) for _ in range(3)]
    val_x, val_y = clip(200, 0.0)
    solution, alpha, scores = fit_ridge([x for x, _ in train], [y for _, y in train], [1.0, 1.0, 1.0],
                                        lambda w: -float(np.mean((val_x @ w - val_y) ** 2)), alphas=(0.01, 1e4))
    assert alpha == 0.01 and scores[0.01] > scores[1e4]
    np.testing.assert_allclose(solution, truth, atol=0.05)


def test_lag_curve_peaks_where_the_mouth_follows_the_prediction() -> None:
    signal = np.convolve(np.random.default_rng(2).normal(size=300), np.ones(4) / 4, mode="same")
    opening = np.roll(signal, 3)  # the mouth moves 3 frames after the prediction
    curve = lag_curve(signal, opening, max_lag=6)
    assert int(np.nanargmax(curve)) - 6 == 3


def _speaker_clips(shift: int) -> list[SyncClip]:
    """Speech features drive the mouth through a fixed linear map; speaker 0's audio is off by ``shift``."""
    rng = np.random.default_rng(3)
    mapping = rng.normal(size=6)
    clips = []
    for speaker in range(5):
        features = np.apply_along_axis(lambda c: np.convolve(c, np.ones(3) / 3, "same"), 0, rng.normal(size=(260, 6)))
        opening = features @ mapping + 0.1 * rng.normal(size=260)
        if speaker == 0:  # audio leads by `shift` frames: the mouth happens `shift` frames after its sound
            opening = np.roll(opening, shift)
        clips.append(SyncClip(f"c{speaker}", f"s{speaker}", opening[20:-20], design_matrix(features[20:-20], 2)))
    return clips


@pytest.mark.parametrize("shift", [4, -5])
def test_learned_offsets_find_one_shifted_speaker_among_aligned_ones(shift: int) -> None:
    clips = _speaker_clips(shift)
    found = learned_offsets(clips, {c.clip_id for c in clips}, LearnedOffsetConfig(alpha=1.0, max_lag=8))
    assert found["c0"][0] == shift and found["c0"][1] > 0.3
    assert all(found[f"c{i}"][0] == 0 for i in range(1, 5))


def test_learned_check_corrects_confident_residuals_of_two_frames_or_more() -> None:
    config = LearnedOffsetConfig(min_confidence=0.3, shift_min_frames=2)
    assert learned_shift(2, 0.48, config) == 2 and learned_shift(-5, 0.31, config) == -5
    assert learned_shift(1, 0.9, config) == 0  # within lip-sync tolerance: left alone
    assert learned_shift(3, 0.2, config) == 0  # not confident enough
    assert learned_shift(2, 0.9, LearnedOffsetConfig(shift_min_frames=3)) == 0


def test_a_pending_clip_is_measured_but_never_fitted_on() -> None:
    """A clip of unknown alignment must not teach the ridge: the others' estimates are as if it were absent."""
    config = LearnedOffsetConfig(alpha=1.0, max_lag=8)
    clips = _speaker_clips(6)
    clips[0].trusted = False
    with_pending = learned_offsets(clips, {c.clip_id for c in clips}, config)
    without = learned_offsets(clips[1:], {c.clip_id for c in clips[1:]}, config)
    assert with_pending["c0"][0] == 6
    for clip_id, (offset, confidence) in without.items():
        assert with_pending[clip_id][0] == offset and with_pending[clip_id][1] == pytest.approx(confidence)


def _pending_row(tmp_path, clip_id: str, status: str = "pending") -> dict:
    for folder, suffix in (("clips", ".mp4"), ("audio", ".wav"), ("previews", ".png")):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / f"{clip_id}{suffix}").write_bytes(b"x")
    reason = "av_offset: audio-video offset +7 frames at confidence 0.15 < 0.2: left to the learned check"
    return {"clip_id": clip_id, "speaker_id": clip_id, "status": status, "reason": reason if status == "pending"
            else "", "video_path": f"clips/{clip_id}.mp4", "audio_path": f"audio/{clip_id}.wav", "av_shift_frames": 0}


def test_pending_clips_are_kept_when_the_learned_check_is_confident_and_rejected_otherwise(tmp_path) -> None:
    config = LearnedOffsetConfig(min_confidence=0.3, shift_min_frames=2)
    rows = [_pending_row(tmp_path, "in_sync"), _pending_row(tmp_path, "unsure"), _pending_row(tmp_path, "short"),
            _pending_row(tmp_path, "aligned", status="ok")]
    apply_learned_offsets(rows, {"in_sync": (1, 0.5), "unsure": (4, 0.12), "aligned": (0, 0.6)}, tmp_path,
                          config, 25.0, 16000)
    in_sync, unsure, short, aligned = rows
    assert in_sync["status"] == "ok" and in_sync["reason"] == "" and in_sync["av_shift_frames"] == 0
    assert in_sync["av_learned_offset"] == 1.0 and (tmp_path / "clips" / "in_sync.mp4").is_file()
    assert unsure["status"] == "rejected" and unsure["reason"] == (
        "av_offset: onset estimate audio-video offset +7 frames at confidence 0.15 < 0.2; "
        "learned check +4 frames at confidence 0.12 < 0.3")
    assert short["status"] == "rejected" and "learned check could not measure it" in short["reason"]
    for clip_id in ("unsure", "short"):  # a rejected clip leaves no outputs behind
        assert not any((tmp_path / f).exists() for f in (f"clips/{clip_id}.mp4", f"audio/{clip_id}.wav",
                                                          f"previews/{clip_id}.png"))
    assert rows[1]["video_path"] == rows[1]["audio_path"] == ""
    assert aligned["status"] == "ok" and aligned["av_learned_confidence"] == 0.6


def test_pending_clips_are_rejected_when_the_learned_check_cannot_run(tmp_path) -> None:
    rows = [_pending_row(tmp_path, "lone"), _pending_row(tmp_path, "other", status="ok"),
            _pending_row(tmp_path, "untracked")]
    for row in rows:
        row["identity"] = np.zeros(4, np.float32)  # as in prepare
    frames = {row["clip_id"]: None for row in rows[:2]}
    refine_av_offsets(rows, frames, tmp_path, LearnedOffsetConfig(), 150, 25.0, 16000)
    assert rows[0]["status"] == "rejected" and "needs real clips of 3+ speakers" in rows[0]["reason"]
    assert rows[1]["status"] == "ok" and not (tmp_path / "clips" / "lone.mp4").exists()
    assert rows[2]["status"] == "rejected" and "no tracked frames" in rows[2]["reason"]


def test_the_prepare_metric_counts_the_clips_the_learned_check_shifted() -> None:
    import pandas as pd

    from flows.prepare import learned_shift_count

    ok = pd.DataFrame({"av_learned_offset": [5.0, -2.0, 2.0, 1.0, 3.0, float("nan")],
                       "av_learned_confidence": [0.43, 0.5, 0.46, 0.9, 0.1, float("nan")]})
    assert learned_shift_count(ok, LearnedOffsetConfig(min_confidence=0.3, shift_min_frames=2)) == 3


def test_a_rerun_does_not_measure_or_shift_a_clip_again() -> None:
    """A reused row keeps its recorded estimate (a rerun of prepare once shifted an in-sync clip by a further -2)."""
    rows = [{"clip_id": "fresh", "status": "ok", "n_frames": 200},
            {"clip_id": "reused", "status": "ok", "n_frames": 200, "av_learned_offset": -1.0},
            {"clip_id": "unmeasured_before", "status": "ok", "n_frames": 200, "av_learned_offset": float("nan")},
            {"clip_id": "pending", "status": "pending", "n_frames": 200},
            {"clip_id": "short", "status": "ok", "n_frames": 75}]
    assert clips_to_measure(rows, 150) == {"fresh", "unmeasured_before", "pending"}
