"""BaselineLipSync: the no-weights audio-driven motion generator."""

from __future__ import annotations

import numpy as np
import pytest

from portraittalker.assets import REPO_ROOT
from portraittalker.head.base import HeadModel
from portraittalker.head.ict import JAW_OPEN_RAD_PER_WEIGHT, ICTFaceKit
from portraittalker.media.audio import Audio, load_audio
from portraittalker.motion.baseline import BaselineLipSync, BaselineLipSyncConfig
from portraittalker.motion.schema import EXP_PREFIX, MotionTable

SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech" / "RD_Radio31_000.wav"
SR = 16000
MOUTH_COLUMNS = [
    "exp_mouthFunnel", "exp_mouthPucker", "exp_mouthStretch_L", "exp_mouthStretch_R",
    "exp_mouthClose", "exp_mouthPress_L", "exp_mouthPress_R",
]  # fmt: skip


class PCAHead(HeadModel):
    """A FLAME-like head for tests: PCA expression names only, no geometry needed by the baseline."""

    name = "pca-test-head"

    def __init__(self) -> None:
        super().__init__()
        self.expression_names = [f"pca{i:02d}" for i in range(10)]
        self.component_names = ["face"]
        self.n_identity = 4


@pytest.fixture(scope="module")
def ict() -> ICTFaceKit:
    return ICTFaceKit()


@pytest.fixture(scope="module")
def speech() -> Audio:
    return load_audio(SPEECH)


def frame_rms(audio: Audio, n_frames: int) -> np.ndarray:
    hop = SR // 25
    padded = np.pad(audio.samples, (0, n_frames * hop - audio.n_samples))
    return np.sqrt((padded.reshape(n_frames, hop) ** 2).mean(1))


def test_real_speech_jaw_follows_envelope(ict, speech) -> None:
    motion = BaselineLipSync(ict).animate(speech)
    assert isinstance(motion, MotionTable) and motion.head_model == "ict-facekit"
    assert len(motion) == 200 and motion.duration_s == pytest.approx(speech.duration_s, abs=1 / 25)
    jaw = motion.frame_data["jaw_rot_x"].to_numpy()
    envelope_db = 20 * np.log10(frame_rms(speech, len(motion)) + 1e-6)
    assert np.corrcoef(jaw, envelope_db)[0, 1] > 0.6
    assert jaw.max() > 0.15  # the mouth really opens during speech
    for column in MOUTH_COLUMNS:
        assert motion.frame_data[column].max() > 0.0, f"{column} is never driven on real speech"


def test_values_in_range(ict, speech) -> None:
    config = BaselineLipSyncConfig()
    data = BaselineLipSync(ict, config).animate(speech, seed=3).frame_data
    jaw = data["jaw_rot_x"]
    assert jaw.min() >= 0.0 and jaw.max() <= config.max_jaw_rad + 1e-6
    assert jaw.max() / JAW_OPEN_RAD_PER_WEIGHT <= 1.0  # ICT's jawOpen weight stays within [0, 1]
    expressions = data[[c for c in data.columns if c.startswith(EXP_PREFIX)]]
    assert expressions.min().min() >= 0.0 and expressions.max().max() <= 1.0
    assert data[["eye_blink_l", "eye_blink_r"]].min().min() >= 0.0
    assert data[["eye_blink_l", "eye_blink_r"]].max().max() <= 1.0
    head = np.rad2deg(data[["head_rot_x", "head_rot_y", "head_rot_z"]].to_numpy())
    assert np.abs(head).max() < 10.0 and head.std(0).min() > 0.1  # a few degrees, but moving
    assert np.abs(data[["eye_gaze_yaw", "eye_gaze_pitch"]].to_numpy()).max() < 0.2
    assert not data[["jaw_rot_y", "jaw_rot_z", "head_trans_x", "head_trans_y", "head_trans_z"]].any().any()
    assert all(data[c].dtype == np.float32 for c in data.columns if c not in ("frame", "time_s"))


def test_silence_closed_mouth_but_blinks(ict) -> None:
    silence = Audio(np.zeros(30 * SR, np.float32), SR)
    data = BaselineLipSync(ict).animate(silence).frame_data
    assert len(data) == 750
    assert not data["jaw_rot_x"].any()
    assert not data[MOUTH_COLUMNS].any().any()
    assert data["eye_blink_l"].max() == pytest.approx(1.0)
    # Low-level noise (a quiet room) must not open the mouth either.
    hiss = Audio(np.random.default_rng(0).normal(0, 1e-4, 5 * SR).astype(np.float32), SR)
    assert BaselineLipSync(ict).animate(hiss).frame_data["jaw_rot_x"].max() == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blink_rate_and_shape(ict, seed) -> None:
    silence = Audio(np.zeros(120 * SR, np.float32), SR)
    blink = BaselineLipSync(ict).animate(silence, seed=seed).frame_data["eye_blink_l"].to_numpy()
    closed = blink > 0.5
    onsets = np.flatnonzero(closed[1:] & ~closed[:-1]) + 1
    assert 120 / 6 <= len(onsets) <= 120 / 2.5  # one blink every ~3-5 s
    gaps_s = np.diff(onsets) / 25
    assert gaps_s.min() >= 1.0
    run_lengths = np.diff(np.flatnonzero(np.diff(np.r_[0, closed.astype(int), 0])))[::2]
    assert run_lengths.max() <= 5  # eyes closed (>50%) for at most 200 ms
    assert np.isclose(blink.max(), 1.0)


def test_deterministic_per_seed(ict, speech) -> None:
    baseline = BaselineLipSync(ict)
    first, again = baseline.animate(speech, seed=7).frame_data, baseline.animate(speech, seed=7).frame_data
    assert first.equals(again)
    other = baseline.animate(speech, seed=8).frame_data
    assert not np.allclose(first["head_rot_y"], other["head_rot_y"])
    assert not np.array_equal(first["eye_blink_l"], other["eye_blink_l"])
    np.testing.assert_array_equal(first["jaw_rot_x"], other["jaw_rot_x"])  # the mouth depends on audio only


def test_array_input_and_frame_count(ict, speech) -> None:
    from_array = BaselineLipSync(ict).animate(speech.samples, seed=0).frame_data
    assert from_array.equals(BaselineLipSync(ict).animate(speech, seed=0).frame_data)
    odd = Audio(np.zeros(SR + 1, np.float32), SR)  # 1.0000625 s -> 26 frames
    motion = BaselineLipSync(ict).animate(odd)
    assert len(motion) == 26 and motion.frame_data["time_s"].iloc[-1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no samples"):
        BaselineLipSync(ict).animate(np.zeros(0, np.float32))


def test_pca_head_drives_only_jaw_eyes_and_pose(speech) -> None:
    motion = BaselineLipSync(PCAHead()).animate(speech)
    data = motion.frame_data
    assert motion.head_model == "pca-test-head"
    assert not data[[EXP_PREFIX + n for n in PCAHead().expression_names]].any().any()
    assert data["jaw_rot_x"].max() > 0.1 and data["eye_blink_l"].max() > 0.5 and data["head_rot_y"].std() > 0


def vowel(formants: list[tuple[float, float]], seconds: float, f0: float = 120.0) -> np.ndarray:
    """A crude voiced vowel: harmonics of f0 with a -3 dB/octave tilt, shaped by (Hz, gain) resonances."""
    t = np.arange(round(seconds * SR)) / SR
    wave = np.zeros_like(t)
    for k in range(1, int(7000 / f0)):
        gain = sum(g / (1.0 + ((k * f0 - hz) / 120.0) ** 2) for hz, g in formants) / np.sqrt(k * f0 / 100)
        wave += gain * np.sin(2 * np.pi * k * f0 * t)
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


VOWEL_U = [(300, 1.0), (870, 0.5)]  # back rounded: F2 low
VOWEL_I = [(280, 1.0), (2250, 0.6), (2900, 0.4)]  # front spread: F2 high, but F1 still dominates power
VOWEL_A = [(750, 1.0), (1200, 0.7)]  # open


def test_rounded_versus_spread_vowels(ict) -> None:
    samples = np.concatenate([vowel(VOWEL_U, 1.0), vowel(VOWEL_I, 1.0), vowel(VOWEL_A, 1.0)])
    data = BaselineLipSync(ict).animate(Audio(samples, SR)).frame_data
    u, i, a = slice(5, 20), slice(30, 45), slice(55, 70)
    pucker, funnel = data["exp_mouthPucker"].to_numpy(), data["exp_mouthFunnel"].to_numpy()
    stretch, jaw = data["exp_mouthStretch_L"].to_numpy(), data["jaw_rot_x"].to_numpy()
    assert pucker[u].mean() > 0.2 and funnel[u].mean() > 0.1
    assert pucker[i].max() < 0.02 and pucker[a].max() < 0.02  # /a/ has a low F2 too, but is open, not rounded
    assert stretch[i].mean() > 0.2 and stretch[u].max() < 0.02 and stretch[a].max() < 0.02
    assert jaw[a].mean() > jaw[u].mean() and jaw[a].mean() > jaw[i].mean()  # open vowel, wider jaw


def test_fricative_keeps_jaw_nearly_closed(ict) -> None:
    from scipy.signal import butter, sosfilt

    noise = np.random.default_rng(0).normal(0, 1, SR)
    hiss = (0.1 * sosfilt(butter(4, [4000, 7500], "bandpass", fs=SR, output="sos"), noise)).astype(np.float32)
    samples = np.concatenate([vowel(VOWEL_A, 1.0), hiss])  # "ah-sss" at similar loudness
    jaw = BaselineLipSync(ict).animate(Audio(samples, SR)).frame_data["jaw_rot_x"].to_numpy()
    assert jaw[32:48].mean() < 0.4 * jaw[5:20].mean()


def test_onset_anticipated_fast_attack_slow_release(ict) -> None:
    sound = vowel(VOWEL_A, 1.0, f0=140)
    samples = np.concatenate([np.zeros(SR, np.float32), sound, np.zeros(SR, np.float32)])  # sound in frames 25..49
    jaw = BaselineLipSync(ict).animate(Audio(samples, SR)).frame_data["jaw_rot_x"].to_numpy()
    peak = jaw[30:45].mean()
    # The 64 ms window centred on frame 24 (0.96-1.00 s) already hears the onset at 1.00 s; the
    # one-frame look-ahead starts opening one frame earlier still.
    assert jaw[:23].max() == 0.0
    assert jaw[23] > 0.2 * peak
    rise = np.argmax(jaw[20:] > 0.9 * peak)
    fall = np.argmax(jaw[50:] < 0.1 * peak)
    assert rise <= 7 and fall > 1  # opens fast, closes over several frames
    assert jaw[50:].argmax() == 0 and jaw[60:].max() < 0.05 * peak


def test_lip_closure_in_short_gap_and_press_in_pause(ict) -> None:
    syllable = vowel(VOWEL_A, 0.4, f0=130)
    gap = np.zeros(round(0.08 * SR), np.float32)  # an 80 ms stop closure between syllables
    pause = np.zeros(SR, np.float32)
    samples = np.concatenate([syllable, gap, syllable, pause, syllable])
    data = BaselineLipSync(ict).animate(Audio(samples, SR)).frame_data
    close, press = data["exp_mouthClose"].to_numpy(), data["exp_mouthPress_L"].to_numpy()
    gap_frames = slice(10, 12)  # 0.40-0.48 s
    assert close[gap_frames].max() > 0.2
    assert close[3:8].max() < 0.05  # not during the vowel itself
    pause_frames = slice(26, 40)  # inside the 0.88-1.88 s pause
    assert press[pause_frames].max() > 0.15 and press[:10].max() == 0.0
