"""Tracking-based metrics on the real HDTF clips: A/V offset estimator, reference agreement, landmark metrics.

Figures (2 clips, whole 8 s): see the report of the evaluation-suite work; the asserts encode the
issue's requirements (±5-frame audio shifts move the offset ~5 frames that way; other speech lowers
the confidence on average; the real speaker's mouth is the primary reference signal).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from eval import landmarks
from eval.common import load_audio_16k, read_video_rgb, track_frames
from eval.sync_offset import estimate_av_offset
from portraittalker.assets import REPO_ROOT
from portraittalker.face.tracking import FaceTrack

SHARED = REPO_ROOT.parent / "shared" / "data"
CLIPS = sorted((SHARED / "real_clips").glob("*.mp4"))
OTHER_SPEECH = [SHARED / "speech" / "RD_Radio31_000.wav", SHARED / "speech" / "RD_Radio34_002.wav"]
HOP = 640  # samples per 25 fps frame


@pytest.fixture(scope="module")
def clips() -> list[tuple[FaceTrack, np.ndarray]]:
    assert len(CLIPS) == 2, f"expected the two real clips in {SHARED / 'real_clips'}"
    return [(track_frames(read_video_rgb(path)), load_audio_16k(path)) for path in CLIPS]


def delay_audio(audio: np.ndarray, frames: int) -> np.ndarray:
    """Delay (frames > 0) or advance (< 0) the audio by whole video frames, keeping its length."""
    if frames > 0:
        return np.concatenate([np.zeros(frames * HOP, audio.dtype), audio[:-frames * HOP]])
    return np.concatenate([audio[-frames * HOP:], np.zeros(-frames * HOP, audio.dtype)])


def test_audio_shift_moves_offset_by_the_shift(clips) -> None:
    for track, audio in clips:
        mouth = track.mouth_opening()
        base = estimate_av_offset(mouth, audio).offset
        for delay in (-5, 5):
            moved = estimate_av_offset(mouth, delay_audio(audio, delay)).offset - base
            # SyncNet sign: delaying the audio makes the offset more negative
            assert abs(moved + delay) <= 1, f"audio delayed {delay} frames moved the offset by {moved}"


def test_other_speech_lowers_confidence(clips) -> None:
    own, other = [], []
    for track, audio in clips:
        own.append(estimate_av_offset(track.mouth_opening(), audio).confidence)
        for path in OTHER_SPEECH:
            speech = load_audio_16k(path)[: len(audio)]
            other.append(estimate_av_offset(track.mouth_opening(), speech).confidence)
    assert np.mean(other) < np.mean(own)


def _delayed_track(track: FaceTrack, frames: int) -> FaceTrack:
    lm = np.concatenate([np.repeat(track.landmarks[:1], frames, 0), track.landmarks[:-frames]])
    return dataclasses.replace(track, landmarks=lm)


def test_reference_mouth_agreement_is_primary_signal(clips) -> None:
    (track_a, _), (track_b, _) = clips
    assert landmarks.mouth_opening_correlation(track_a, track_a) == pytest.approx(1.0)
    assert landmarks.lmd(track_a, track_a)["lmd_mouth"] == pytest.approx(0.0)
    lagged = _delayed_track(track_a, 5)
    assert landmarks.mouth_opening_correlation(lagged, track_a) < 0.8
    assert landmarks.lmd(lagged, track_a)["lmd_mouth"] > 0.5
    assert landmarks.mouth_opening_correlation(track_b, track_a) < 0.5
    assert landmarks.adfd(track_a, track_a) == pytest.approx(1.0)
    assert landmarks.adfd(lagged, track_a) < landmarks.adfd(_delayed_track(track_a, 1), track_a) < 1.0


def test_landmark_stability_metrics_respond(clips) -> None:
    track, _ = clips[0]
    rng = np.random.default_rng(0)
    noisy = dataclasses.replace(track, landmarks=track.landmarks + rng.normal(0, 2.0, track.landmarks.shape)
                                .astype(np.float32))
    assert landmarks.temporal_jitter(noisy) > 2 * landmarks.temporal_jitter(track)
    assert landmarks.identity_shape_drift(noisy) > landmarks.identity_shape_drift(track)
    still = dataclasses.replace(track, landmarks=np.repeat(track.landmarks[:1], track.n_frames, 0))
    assert landmarks.blink_rate(still) == 0.0
    assert 0 < landmarks.blink_rate(track) < 80  # people blink ~10-30 times a minute
