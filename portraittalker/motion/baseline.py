"""The no-weights BASELINE motion generator: hand-written signal processing, no learned parameters.

Every learned audio-to-motion model in PortraitTalker is compared against :class:`BaselineLipSync`.
It is deterministic per (audio, seed), needs nothing but the waveform, and is meant to be a fair,
documented reference rather than a competitive lip-sync model.

Mouth (per 40 ms video frame, analysis window centred on the frame's midpoint):

- **Features**: frame loudness (Hann-weighted RMS, dB), energy in a low (80-500 Hz), mid
  (500-2000 Hz) and high (2-7 kHz) band, spectral centroid above the F1 region (700-3500 Hz, a
  proxy for F2), spectral flatness and zero-crossing rate.
- **Speech activity gate**: the clip's speech level is the 95th loudness percentile, its noise
  floor the 10th; frames more than ``noise_margin_db`` above the floor (clamped to between
  ``min_range_db`` and ``max_range_db`` below the speech level, and never below
  ``absolute_floor_db``) count as speech. Loudness is normalised between gate and speech level,
  so quiet and loud recordings move the jaw alike; digital silence never opens the mouth.
- **Jaw** (``jaw_rot_x``, radians, up to ``max_jaw_rad``): normalised loudness, scaled up for
  open vowels (mid-band share, i.e. high F1) and down for fricatives (mostly high-band energy that
  is noise-like — high zero-crossing rate or flat spectrum — with little energy below 500 Hz:
  /s/, /f/ are spoken through nearly closed teeth).
- **Rounding** (``mouthFunnel``, ``mouthPucker``): voiced, not wide-open frames whose F2 proxy is
  well below the speaker's neutral (the median over voiced frames, clamped to a schwa-like
  1300-1800 Hz): back rounded vowels /u/, /o/, /w/.
- **Spreading** (``mouthStretch_L/R``): voiced frames with the F2 proxy above neutral (front vowels).
- **Lip closure** (``mouthClose``): short loudness dips inside speech (the silent closure of stops,
  bilabial /p b m/ among them); the jaw is lowered less there and ``mouthClose`` seals the lips
  against the remaining jaw opening (ARKit's mouthClose is meant to be used together with jawOpen).
- **Pauses** (``mouthPress_L/R``): lips lightly pressed during silences after speech has started.
- **Smoothing**: an attack/release filter per channel — the mouth opens fast (``attack_ms``) and
  closes slower (``release_ms``) like real articulators — after a look-ahead of
  ``lookahead_frames`` (the target at frame i is the max over frames i..i+k), because visible
  articulation leads the sound by roughly 40-80 ms.

Mouth expressions are written only when the head model has the ARKit-named columns (ICT-FaceKit).
Heads with PCA expression bases (FLAME) get only jaw, blinks, head and gaze motion: there is no
hand-written mapping from acoustic features to PCA coefficients.

Non-verbal motion (from ``numpy.random.default_rng(seed)``, independent of the audio content
except where noted): eye blinks at gamma-distributed intervals (mean ``blink_interval_mean_s``,
at least ``blink_interval_min_s``) with a 150-250 ms fast-close/slower-open shape; head rotation
as smooth Gaussian-filtered noise of a few degrees, larger while speaking, plus small nods on
stressed syllables (loudness peaks); gaze as slow drift plus partial compensation of head
rotation (the eyes keep looking roughly at the camera, like the vestibulo-ocular reflex).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from portraittalker.head.base import HeadModel
from portraittalker.media.audio import DEFAULT_SAMPLE_RATE, Audio, n_video_frames
from portraittalker.motion.config import BaselineLipSyncConfig
from portraittalker.motion.schema import EXP_PREFIX, MotionTable

_EPS = 1e-12
_CHUNK_FRAMES = 2048  # frames analysed per FFT batch: bounds memory for long inputs


class BaselineLipSync:
    """Audio -> :class:`MotionTable` with fixed signal-processing rules (see the module docstring)."""

    def __init__(self, head: HeadModel, config: BaselineLipSyncConfig | None = None) -> None:
        self.head = head
        self.config = config or BaselineLipSyncConfig()
        self.expression_names = set(head.expression_names)

    def animate(self, audio: Audio | np.ndarray, seed: int = 0) -> MotionTable:
        """One motion row per video frame; ``audio`` as :class:`Audio` or 16 kHz mono float samples."""
        if not isinstance(audio, Audio):
            audio = Audio(samples=np.asarray(audio, dtype=np.float32), sample_rate=DEFAULT_SAMPLE_RATE)
        if audio.n_samples == 0:
            raise ValueError("BaselineLipSync.animate: audio has no samples")
        if not np.isfinite(audio.samples).all():
            raise ValueError("BaselineLipSync.animate: audio contains NaN or infinite samples")
        cfg = self.config
        n_frames = n_video_frames(audio.n_samples, audio.sample_rate, cfg.fps)
        features = frame_features(audio.samples, audio.sample_rate, n_frames, cfg)

        mouth = self._mouth_targets(features)
        table = MotionTable.zeros(n_frames, self.head, cfg.fps)
        data = table.frame_data
        data["jaw_rot_x"] = mouth.pop("jaw_rot_x")
        for name, values in mouth.items():
            if name in self.expression_names:
                data[EXP_PREFIX + name] = values

        rng = np.random.default_rng(seed)
        blink = blink_track(n_frames, cfg, rng)
        data["eye_blink_l"] = blink
        data["eye_blink_r"] = blink
        head_rotation = self._head_rotation(features["loudness"], n_frames, rng)
        for axis, column in enumerate(("head_rot_x", "head_rot_y", "head_rot_z")):
            data[column] = head_rotation[:, axis]
        drift = smooth_noise(rng, n_frames, 2, cfg.gaze_timescale_s * cfg.fps) * cfg.gaze_drift_std_rad
        # +yaw turns the face to the subject's left, +gaze yaw looks that way too: compensate with minus.
        data["eye_gaze_yaw"] = drift[:, 0] - cfg.gaze_head_compensation * head_rotation[:, 1]
        data["eye_gaze_pitch"] = drift[:, 1] - cfg.gaze_head_compensation * head_rotation[:, 0]

        float_columns = [c for c in data.columns if c not in ("frame", "time_s")]
        data[float_columns] = data[float_columns].astype(np.float32)
        table.validate()
        return table

    # -- mouth -----------------------------------------------------------------------------------
    def _mouth_targets(self, f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cfg = self.config
        loudness, active = f["loudness"], f["active"]
        fricative = f["fricative"]
        voiced = loudness * (1.0 - fricative)

        vowel_open = np.clip((f["mid_share"] - 0.2) / 0.5, 0.0, 1.0)
        jaw = loudness * (1.0 - cfg.open_vowel_boost + cfg.open_vowel_boost * vowel_open)
        jaw *= 1.0 - cfg.fricative_jaw_reduction * fricative

        log_centroid = np.log2(f["centroid"] + 1.0)
        voiced_frames = active & (fricative < 0.5)
        # Neutral F2 = the speaker's median, kept within a plausible schwa range so a clip of
        # mostly one vowel does not become its own reference.
        lo, hi = np.log2(np.asarray(cfg.neutral_f2_range_hz) + 1.0)
        centre = float(np.clip(np.median(log_centroid[voiced_frames]), lo, hi)) if voiced_frames.any() else lo
        offset = (log_centroid - centre) / cfg.centroid_octaves
        rounding = np.clip(-offset, 0.0, 1.0) * voiced * (1.0 - vowel_open)  # /a/ has low F2 but is not rounded
        spreading = np.clip(offset, 0.0, 1.0) * voiced
        funnel = cfg.funnel_max * rounding * (0.5 + 0.5 * vowel_open)  # /o/ is rounder and more open than /u/
        pucker = cfg.pucker_max * rounding * (1.0 - 0.5 * vowel_open)
        stretch = cfg.stretch_max * spreading

        closure = closure_track(f["level_db"], active, cfg)
        jaw *= 1.0 - 0.5 * closure  # keep some jaw opening: mouthClose seals the lips over it
        pause = pause_track(active, cfg.pause_min_frames)

        attack = _smoothing_alpha(cfg.attack_ms, cfg.fps)
        release = _smoothing_alpha(cfg.release_ms, cfg.fps)

        def smooth(x: np.ndarray, anticipate: bool = True) -> np.ndarray:
            if anticipate and cfg.lookahead_frames:
                x = _look_ahead_max(x, cfg.lookahead_frames)
            return attack_release(x, attack, release)

        jaw_rad = cfg.max_jaw_rad * smooth(jaw)
        closure_s = attack_release(closure, attack, attack)  # lip closures are quick both ways
        jaw_weight = np.minimum(jaw_rad / cfg.jaw_rad_per_weight, 1.0)
        press = cfg.press_max * attack_release(pause, release, release)
        return {
            "jaw_rot_x": jaw_rad,
            "mouthFunnel": smooth(funnel),
            "mouthPucker": smooth(pucker),
            "mouthStretch_L": smooth(stretch),
            "mouthStretch_R": smooth(stretch),
            "mouthClose": cfg.close_max * closure_s * jaw_weight,
            "mouthPress_L": press,
            "mouthPress_R": press,
        }

    # -- head ------------------------------------------------------------------------------------
    def _head_rotation(self, loudness: np.ndarray, n_frames: int, rng: np.random.Generator) -> np.ndarray:
        cfg = self.config
        std = np.deg2rad(np.asarray(cfg.head_rotation_std_deg))
        noise = smooth_noise(rng, n_frames, 3, cfg.head_motion_timescale_s * cfg.fps) * std
        speaking = gaussian_filter1d(loudness.astype(np.float64), sigma=0.5 * cfg.fps, mode="nearest")
        scale = cfg.head_idle_scale + (1.0 - cfg.head_idle_scale) * np.clip(speaking * 1.5, 0.0, 1.0)
        rotation = noise * scale[:, None]
        # Nod (positive pitch = face down) shortly after stressed syllables: prominent loudness peaks.
        peaks = (loudness >= maximum_filter1d(loudness, size=int(0.5 * cfg.fps) | 1)) & (loudness > 0.8)
        impulses = np.roll(peaks.astype(np.float64), 1)
        impulses[0] = 0.0
        sigma = 0.12 * cfg.fps
        nods = gaussian_filter1d(impulses, sigma=sigma, mode="constant") * (math.sqrt(2 * math.pi) * sigma)
        rotation[:, 0] += np.deg2rad(cfg.nod_deg) * np.clip(nods, 0.0, 1.0)
        return rotation


def frame_features(
    samples: np.ndarray, sample_rate: int, n_frames: int, cfg: BaselineLipSyncConfig
) -> dict[str, np.ndarray]:
    """Per-video-frame acoustic features from analysis windows centred on each frame's midpoint.

    Returns ``level_db`` (dBFS), ``loudness`` (0-1, gated and normalised), ``active`` (bool speech
    activity), ``gate_db``, band shares ``low_share``/``mid_share``/``high_share``, ``centroid``
    (Hz, over 700-3500 Hz: an F2 proxy), ``flatness`` (0-1), ``zcr`` (crossings per sample) and
    ``fricative`` (0-1).
    """
    window = max(32, round(cfg.window_ms / 1000 * sample_rate) // 2 * 2)
    half = window // 2
    padded = np.pad(np.asarray(samples, dtype=np.float32), (half, half + window))
    centres = np.round((np.arange(n_frames) + 0.5) * sample_rate / cfg.fps).astype(np.int64)
    taper = np.hanning(window).astype(np.float32)
    freqs = np.fft.rfftfreq(window, 1.0 / sample_rate)
    nyquist = sample_rate / 2
    bands = {
        "low": (freqs >= 80) & (freqs < 500),
        "mid": (freqs >= 500) & (freqs < 2000),
        "high": (freqs >= 2000) & (freqs < min(7000.0, 0.95 * nyquist)),
    }
    speech_band = (freqs >= 80) & (freqs < 0.95 * nyquist)
    # F1 dominates a plain centroid (even /i/ has most energy near 300 Hz); above F1 the centroid
    # follows F2, which is what separates front (spread) from back (rounded) vowels.
    above_f1 = (freqs >= 700) & (freqs < min(3500.0, 0.95 * nyquist))

    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("ms", "low", "mid", "high", "centroid", "flat", "zcr")}
    offsets = np.arange(window)
    for start in range(0, n_frames, _CHUNK_FRAMES):
        # padded index of the window around centre c is c - half + half = c.
        frames = padded[centres[start : start + _CHUNK_FRAMES, None] + offsets[None, :]]
        columns["ms"].append((frames**2 * taper).sum(1) / taper.sum())
        signs = np.signbit(frames[:, half // 2 : half // 2 + half])
        columns["zcr"].append((signs[:, 1:] != signs[:, :-1]).mean(1))
        power = np.abs(np.fft.rfft(frames * taper, axis=1)) ** 2
        for name, mask in bands.items():
            columns[name].append(power[:, mask].sum(1))
        speech_power = power[:, speech_band] + _EPS
        upper_power = power[:, above_f1] + _EPS
        columns["centroid"].append((upper_power * freqs[above_f1]).sum(1) / upper_power.sum(1))
        columns["flat"].append(np.exp(np.log(speech_power).mean(1)) / speech_power.mean(1))
    feats = {k: np.concatenate(v).astype(np.float64) for k, v in columns.items()}

    level_db = 10.0 * np.log10(feats["ms"] + _EPS)
    band_total = feats["low"] + feats["mid"] + feats["high"] + _EPS
    high_share = feats["high"] / band_total
    speech_level = float(np.percentile(level_db, 95))
    noise_floor = float(np.percentile(level_db, 10))
    gate = float(
        np.clip(noise_floor + cfg.noise_margin_db, speech_level - cfg.max_range_db, speech_level - cfg.min_range_db)
    )
    gate = max(gate, cfg.absolute_floor_db)
    if speech_level <= gate:  # silence (or a constant hum at the gate): nothing to articulate
        loudness = np.zeros(n_frames)
    else:
        loudness = np.clip((level_db - gate) / (speech_level - gate), 0.0, 1.0)
    # Fricatives (/s/, /f/, /sh/): energy mostly high, noise-like (many zero crossings or a flat
    # spectrum) and little voicing energy below 500 Hz.
    noisiness = np.clip(np.maximum((feats["zcr"] - 0.08) / 0.15, (feats["flat"] - 0.1) / 0.3), 0.0, 1.0)
    unvoiced = np.clip((0.5 - feats["low"] / band_total) / 0.3, 0.0, 1.0)
    fricative = np.clip((high_share - 0.35) / 0.4, 0.0, 1.0) * noisiness * unvoiced
    return {
        "level_db": level_db,
        "gate_db": np.full(n_frames, gate),
        "loudness": loudness,
        "active": loudness > 0.0,
        "low_share": feats["low"] / band_total,
        "mid_share": feats["mid"] / band_total,
        "high_share": high_share,
        "centroid": feats["centroid"],
        "flatness": feats["flat"],
        "zcr": feats["zcr"],
        "fricative": fricative,
    }


def closure_track(level_db: np.ndarray, active: np.ndarray, cfg: BaselineLipSyncConfig) -> np.ndarray:
    """0-1 lip closure on short loudness dips that have speech on both sides (stop closures)."""
    k = cfg.closure_context_frames
    n = len(level_db)
    if n < 3 or not active.any():
        return np.zeros(n)
    speech_db = np.where(active, level_db, -np.inf)
    padded = np.concatenate([np.full(k, -np.inf), speech_db, np.full(k, -np.inf)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, k)
    before = windows[:n].max(1)  # frames i-k .. i-1
    after = windows[k + 1 : k + 1 + n].max(1)  # frames i+1 .. i+k
    surround = np.minimum(before, after)  # speech on both sides, else -inf
    depth = surround - level_db
    closure = np.clip((depth - cfg.closure_dip_db) / (cfg.closure_full_db - cfg.closure_dip_db), 0.0, 1.0)
    return np.where(np.isfinite(surround), closure, 0.0)


def pause_track(active: np.ndarray, min_frames: int) -> np.ndarray:
    """1.0 on silent runs of at least ``min_frames`` that follow speech, else 0."""
    pause = np.zeros(len(active))
    if not active.any():
        return pause
    first_speech = int(np.argmax(active))
    run_start = None
    for i in range(first_speech, len(active) + 1):
        silent = i < len(active) and not active[i]
        if silent and run_start is None:
            run_start = i
        elif not silent and run_start is not None:
            if i - run_start >= min_frames:
                pause[run_start:i] = 1.0
            run_start = None
    return pause


def blink_track(n_frames: int, cfg: BaselineLipSyncConfig, rng: np.random.Generator) -> np.ndarray:
    """Eyelid closure 0-1 per frame: gamma-distributed inter-blink intervals, fast close, slower open."""
    fps = cfg.fps
    times = np.arange(n_frames) / fps
    blink = np.zeros(n_frames)
    mean_gap = max(cfg.blink_interval_mean_s - cfg.blink_interval_min_s, 1e-3)
    shape = 3.0  # more regular than a pure Poisson process, as observed for conversational blinking
    t = rng.uniform(0.3, cfg.blink_interval_mean_s * 0.75)
    while t < n_frames / fps:
        duration = rng.uniform(*cfg.blink_duration_s)
        peak = round((t + 0.4 * duration) * fps) / fps  # put full closure on a frame so it is seen
        closing, opening = 0.4 * duration, 0.6 * duration
        rise = np.clip((times - (peak - closing)) / closing, 0.0, 1.0)
        fall = np.clip(((peak + opening) - times) / opening, 0.0, 1.0)
        shape_values = np.where(times <= peak, _smoothstep(rise), _smoothstep(fall))
        blink = np.maximum(blink, shape_values)
        t += cfg.blink_interval_min_s + rng.gamma(shape, mean_gap / shape)
    return blink


def smooth_noise(rng: np.random.Generator, n_frames: int, n_channels: int, sigma_frames: float) -> np.ndarray:
    """(n_frames, n_channels) Gaussian-filtered white noise with unit standard deviation."""
    white = rng.standard_normal((n_frames, n_channels))
    smoothed = gaussian_filter1d(white, sigma=sigma_frames, axis=0, mode="wrap")
    # Std of Gaussian-filtered unit white noise is 1 / sqrt(2 sqrt(pi) sigma) (for sigma >> 1).
    return smoothed * math.sqrt(2.0 * math.sqrt(math.pi) * max(sigma_frames, 0.5))


def attack_release(x: np.ndarray, attack_alpha: float, release_alpha: float) -> np.ndarray:
    """One-pole follower: moves by ``attack_alpha`` of the gap when rising, ``release_alpha`` when falling."""
    out = np.empty(len(x))
    y = 0.0
    for i, target in enumerate(np.asarray(x, dtype=np.float64)):
        y += (attack_alpha if target > y else release_alpha) * (target - y)
        out[i] = y
    return out


def _look_ahead_max(x: np.ndarray, frames: int) -> np.ndarray:
    padded = np.concatenate([x, np.zeros(frames)])
    return np.lib.stride_tricks.sliding_window_view(padded, frames + 1).max(1)


def _smoothing_alpha(time_constant_ms: float, fps: float) -> float:
    return 1.0 - math.exp(-1000.0 / (fps * time_constant_ms))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    return x * x * (3.0 - 2.0 * x)
