"""Ground-truth motion of one clip: visemes + blinks + head motion + gaze + brows/smile -> motion table."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from portraittalker.data.config import SynthCorpusConfig
from portraittalker.data.synth.plan import SpeakerProfile
from portraittalker.head.base import HeadModel
from portraittalker.motion.baseline import BaselineLipSyncConfig, blink_track, smooth_noise
from portraittalker.motion.schema import (
    EYE_GAZE_COLUMNS,
    FPS,
    HEAD_ROT_COLUMNS,
    HEAD_TRANS_COLUMNS,
    MotionTable,
    motion_columns,
)
from portraittalker.speech.visemes import MOUTH_EXPRESSIONS, VOWEL_VISEMES, VisemeSegment, viseme_tracks


def _speaking_activity(segments: Sequence[VisemeSegment], n_frames: int, fps: float) -> np.ndarray:
    """0..1 per frame: speech (not a pause) around the frame, smoothed over ~0.3 s."""
    active = np.zeros(n_frames)
    for segment in segments:
        if segment.viseme != "sil":
            first, last = int(segment.start_s * fps), math.ceil(segment.end_s * fps)
            active[max(first, 0) : max(last, 0)] = 1.0
    return np.clip(gaussian_filter1d(active, sigma=0.15 * fps, mode="nearest") * 1.5, 0.0, 1.0)


def _gaze_track(n_frames: int, fps: float, rng: np.random.Generator, config: SynthCorpusConfig) -> np.ndarray:
    """(n_frames, 2) yaw/pitch: fixations joined by quick saccades."""
    gaze = np.zeros((n_frames, 2))
    t, target = 0.0, np.zeros(2)
    times = np.arange(n_frames) / fps
    previous = np.zeros(2)
    while t < n_frames / fps:
        target = np.clip(rng.normal(0.0, config.gaze_std_rad, 2) * [1.0, 0.6], -0.3, 0.3)
        ramp = np.clip((times - t) / config.saccade_s, 0.0, 1.0)[:, None]
        later = times >= t
        gaze[later] = (previous + (target - previous) * ramp)[later]
        previous = target
        t += rng.uniform(*config.fixation_s)
    return gaze


def _brow_track(segments: Sequence[VisemeSegment], n_frames: int, fps: float, rng: np.random.Generator,
                config: SynthCorpusConfig) -> np.ndarray:
    """Eyebrow raises (raised-cosine bumps) at random moments of speech."""
    brows = np.zeros(n_frames)
    times = np.arange(n_frames) / fps
    speech_time = sum(s.duration_s for s in segments if s.viseme != "sil")
    n_raises = rng.poisson(config.brow_raise_per_s * speech_time)
    spoken = [s for s in segments if s.viseme in VOWEL_VISEMES]
    for _ in range(n_raises if spoken else 0):
        anchor = spoken[int(rng.integers(len(spoken)))]
        centre, width = 0.5 * (anchor.start_s + anchor.end_s), rng.uniform(0.4, 0.9)
        bump = 0.5 * (1 + np.cos(np.pi * np.clip(np.abs(times - centre) / (width / 2), 0, 1)))
        brows = np.maximum(brows, rng.uniform(0.2, 1.0) * config.brow_raise_max * bump)
    return brows


def synthesize_motion(
    segments: Sequence[VisemeSegment],
    n_frames: int,
    head: HeadModel,
    speaker: SpeakerProfile,
    rng: np.random.Generator,
    config: SynthCorpusConfig | None = None,
    fps: float = FPS,
) -> MotionTable:
    """Ground-truth motion for one clip: coarticulated visemes (speaker's articulation), blinks,
    head rotation/translation (more while speaking), gaze fixations with head compensation, a
    resting smile and eyebrow raises. ``head`` must have ICT's ARKit mouth expressions."""
    config = config or SynthCorpusConfig()
    missing = [n for n in MOUTH_EXPRESSIONS if n not in head.expression_names]
    if missing:
        raise ValueError(
            f"synth-corpus needs a head model with ARKit mouth expressions (ICT-FaceKit); {head.name!r} lacks "
            f"{missing[:5]}"
        )
    table = MotionTable.zeros(n_frames, head, fps)
    data = table.frame_data
    mouth = viseme_tracks(segments, n_frames, fps, config.coarticulation, articulation=speaker.articulation)
    for column, values in mouth.items():
        data[column] = values

    # Resting smile (slowly varying) and cheek raise that goes with it.
    smile_noise = smooth_noise(rng, n_frames, 1, sigma_frames=1.5 * fps)[:, 0] if n_frames else np.zeros(0)
    smile = np.clip(speaker.smile * (1.0 + 0.3 * smile_noise), 0.0, 1.0)
    for side in ("L", "R"):
        data[f"exp_mouthSmile_{side}"] = np.clip(data[f"exp_mouthSmile_{side}"] + smile, 0.0, 1.0)
        data[f"exp_cheekSquint_{side}"] = 0.4 * smile
    brows = _brow_track(segments, n_frames, fps, rng, config)
    for side in ("L", "R"):
        data[f"exp_browInnerUp_{side}"] = brows
        data[f"exp_browOuterUp_{side}"] = 0.7 * brows

    blink_config = BaselineLipSyncConfig(
        fps=int(fps), blink_interval_mean_s=config.blink_interval_mean_s,
        blink_interval_min_s=config.blink_interval_min_s, blink_duration_s=config.blink_duration_s,
    )
    blink = blink_track(n_frames, blink_config, rng)
    data["eye_blink_l"] = blink
    data["eye_blink_r"] = blink

    if n_frames:
        activity = _speaking_activity(segments, n_frames, fps)
        envelope = (config.head_idle_scale + (1.0 - config.head_idle_scale) * activity)[:, None]
        sigma = config.head_motion_timescale_s * fps
        rotation = smooth_noise(rng, n_frames, 3, sigma) * np.radians(config.head_rotation_std_deg)
        rotation *= envelope * speaker.head_motion_scale
        translation = smooth_noise(rng, n_frames, 3, sigma) * np.asarray(config.head_translation_std_m)
        translation *= envelope * speaker.head_motion_scale
        data[HEAD_ROT_COLUMNS] = rotation
        data[HEAD_TRANS_COLUMNS] = translation
        gaze = _gaze_track(n_frames, fps, rng, config)
        # Eyes partly counter-rotate the head (pitch + = face down, so the eyes look up).
        gaze[:, 0] -= config.gaze_head_compensation * rotation[:, 1]
        gaze[:, 1] -= config.gaze_head_compensation * rotation[:, 0]
        data[EYE_GAZE_COLUMNS] = gaze
    columns = motion_columns(head.expression_names)[2:]
    data[columns] = data[columns].astype(np.float32)
    table.validate()
    return table
