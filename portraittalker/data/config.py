"""Dataset-stage settings: ``prepare`` (quality, crop, A/V offset, fitting, previews) and ``synth``.

Pydantic and stdlib only, so ``params.yaml`` validates without cv2, torch or MediaPipe; the stage modules
import their settings from here; the fitting and coarticulation settings are :mod:`portraittalker.face.config`'s
and :mod:`portraittalker.speech.config`'s.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from portraittalker.face.config import FittingConfig
from portraittalker.motion.config import FPS
from portraittalker.render.config import GLRendererConfig
from portraittalker.speech.config import CoarticulationConfig


class SyncOffsetConfig(BaseModel):
    """The onset A/V-offset estimator's windows (:mod:`portraittalker.data.av_sync`; also ``evaluate.metrics``)."""

    max_lag: int = Field(15, ge=1, description="lags searched: ±max_lag frames")
    window_frames: int = Field(100, ge=10, description="correlation window (frames)")
    window_hop: int = Field(25, ge=1, description="hop between windows (frames)")


class QualityConfig(BaseModel):
    """Thresholds for rejecting clips (params.yaml section ``prepare.quality``)."""

    min_frames: int = Field(10, ge=1, description="shorter clips (after resampling to 25 fps) are rejected")
    require_audio: bool = True
    silence_dbfs: float = Field(-50.0, description="clips whose audio RMS is below this are silent")
    max_av_mismatch_s: float = Field(0.5, ge=0, description="allowed |video - audio| duration difference")
    max_no_face_fraction: float = Field(0.2, ge=0, le=1)
    max_multi_face_fraction: float = Field(0.2, ge=0, le=1, description="of the sampled frames")
    multi_face_samples: int = Field(5, ge=1, description="frames re-checked with a 2-face detector")
    min_face_height_fraction: float = Field(0.2, gt=0, le=1, description="median face-box height / frame height")
    scene_cut_histogram: float = Field(0.5, gt=0, le=1, description="Bhattacharyya distance of HSV histograms")
    scene_cut_landmark_jump: float = Field(0.15, gt=0, description="median landmark motion / face height per frame")
    max_scene_cuts: int = Field(0, ge=0)
    scene_cut_keep_s: float = Field(
        4.0, ge=0, description="a clip with more cuts is trimmed to its longest cut-free stretch when that lasts this "
        "long (seconds, with a 2-frame margin at each cut); shorter, or 0: rejected (scene_cut)")


class LearnedOffsetConfig(BaseModel):
    """The second, learned A/V check (``prepare.av_offset.learned``, :mod:`portraittalker.data.speech_sync`):
    a leave-one-speaker-out ridge from Whisper features to the mouth opening, cross-correlated with the video."""

    enabled: bool = True
    context: int = Field(2, ge=0, le=8, description="± frames of encoder features per prediction")
    alpha: float = Field(3000.0, gt=0, description="ridge strength")
    max_lag: int = Field(10, ge=1, le=25)
    min_confidence: float = Field(0.3, ge=0, description="peak - median of the lag curve needed to shift")
    decide_uncertain: bool = Field(
        True, description="a clip whose onset offset is too uncertain to shift is not rejected at once: it stays "
        "'pending' until this check measures it, and is shifted by this check's offset when that is confident, "
        "kept when it is confidently in sync, rejected otherwise. (The onset estimate is weakest where it is most "
        "often uncertain: 8-10 s clips; rejecting them outright dropped 26 s of real speech.)"
    )
    shift_min_frames: int = Field(
        2, ge=1, description="a confident residual of this many frames or more is corrected. Lower than the onset "
        "check's 3: this estimate is cross-fitted over the other speakers, and a 2-frame (80 ms) offset is already "
        "visible, blurs the training targets and skews the held-out references"
    )


class AVOffsetConfig(BaseModel):
    """The A/V offset check after tracking (params.yaml section ``prepare.av_offset``).

    The offset is measured with :func:`portraittalker.data.av_sync.estimate_av_offset` (SyncNet sign:
    positive = the audio leads the mouth). ``|offset| < shift_min_frames``: kept as is;
    up to ``max_shift_frames`` with ``confidence >= min_confidence``: the audio is delayed by
    ``offset`` frames (advanced if negative); larger, or large but below ``min_confidence``: rejected
    (``av_offset``). Clips shorter than ``min_frames`` are kept unmeasured (NaN): on a single short
    window the estimator's peak is broad and its confidence inflated (3 s GRID sentences score
    0.5 at spurious ±6-8-frame lags), so neither a shift nor a rejection could be trusted there.
    """

    enabled: bool = True
    shift_min_frames: int = Field(3, ge=1, description="smaller |offset| is left alone (estimator noise)")
    max_shift_frames: int = Field(10, ge=1, description="larger |offset| is rejected, not shifted")
    min_confidence: float = Field(0.2, ge=0, description="peak - median correlation needed to shift")
    min_frames: int = Field(150, ge=1, description="shorter clips are not measured (6 s: 3+ correlation windows)")
    sync: SyncOffsetConfig = Field(default_factory=SyncOffsetConfig)
    learned: LearnedOffsetConfig = Field(default_factory=LearnedOffsetConfig)

    @model_validator(mode="after")
    def _ranges(self) -> AVOffsetConfig:
        if not self.shift_min_frames <= self.max_shift_frames < self.sync.max_lag:
            raise ValueError(f"need shift_min_frames <= max_shift_frames < sync.max_lag, got {self.shift_min_frames}, "
                             f"{self.max_shift_frames}, {self.sync.max_lag}")
        return self


class CropConfig(BaseModel):
    """How a frame becomes a square around the face (params.yaml section ``prepare.crop``)."""

    face: bool = Field(True, description="crop around the detected face (False: centre crop)")
    scale: float = Field(1.9, gt=1.0, description="square side / face-box size: 1.9 keeps the whole head with "
                         "its hair (HDTF crops, ~1.6, cut the top of the head)")
    raise_fraction: float = Field(0.12, ge=0, le=0.5, description="square centre above the face centre, "
                                  "in square sides (room for the top of the head)")
    samples: int = Field(5, ge=1, description="frames sampled for the face box")


class PreviewConfig(BaseModel):
    """Preview settings (params.yaml section ``prepare.preview``)."""

    enabled: bool = True
    n_frames: int = Field(4, ge=1, le=16, description="frames in the contact strip")
    tile_size: int = Field(256, ge=64, le=1024)
    use_gl: bool = Field(True, description="render with the GL renderer when available, else wireframe")


PREPARE_VERSION = 2  # bump when outputs change for the same inputs and params (invalidates resume)


class PrepareConfig(BaseModel):
    """The ``prepare`` stage (params.yaml section ``prepare``)."""

    head_model: str = Field("ict-facekit", description="head model name for load_head_model")
    head_path: str | None = Field(None, description="override the head model file")
    image_size: int = Field(512, ge=64)
    fps: int = Field(FPS, description="output frame rate; the motion schema is 25 fps")
    sample_rate: int = 16000
    language: str = Field("und", description="language tag for clips without one (BCP-47 / ISO 639)")
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0
    split_overrides: dict[str, Literal["train", "val", "test"]] = Field(
        default_factory=dict, description="speaker_id -> split, e.g. to hold out a chosen real speaker")
    max_fit_error_px: float = Field(12.0, gt=0, description="clips fitted worse than this are rejected")
    video_crf: int = Field(18, ge=0, le=51)
    video_preset: str = "veryfast"
    checkpoint_every: int = Field(25, ge=1, description="rewrite the tables every N processed clips")
    workers: int = Field(2, ge=1, description="clips prepared concurrently (threads); tracking, ffmpeg and "
                         "fitting of different clips overlap on multi-core CPUs")
    quality: QualityConfig = Field(default_factory=QualityConfig)
    crop: CropConfig = Field(default_factory=CropConfig)
    av_offset: AVOffsetConfig = Field(default_factory=AVOffsetConfig)
    fitting: FittingConfig = Field(default_factory=FittingConfig)
    preview: PreviewConfig = Field(default_factory=PreviewConfig)

    def output_hash(self) -> str:
        """Hash of the settings that change the tables (previews and checkpointing do not)."""
        # Splits are re-assigned over all rows on every run, so they do not invalidate fitted clips.
        relevant = self.model_dump(exclude={"preview", "checkpoint_every", "workers", "split_fractions",
                                            "split_seed", "split_overrides"})
        relevant["fitting"].pop("device", None)
        payload = json.dumps({"v": PREPARE_VERSION, **relevant}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


# =============================================================================================
# Configuration
# =============================================================================================
class SynthCorpusConfig(BaseModel):
    """``synth`` section of params.yaml: the synthetic talking-head corpus."""

    sentences: dict[str, list[str | tuple[str, str]]] = Field(
        default_factory=dict,
        description="replace a language's built-in sentences: text, or (text, what espeak reads)",
    )
    voices: dict[str, str] = Field(default_factory=dict, description="espeak-ng voice per language code")
    sentences_per_clip: int = Field(1, ge=1, le=5)
    clips_per_speaker: int = Field(2, ge=1, description="clips (across languages) sharing one avatar and voice")
    val_fraction: float = Field(0.1, ge=0, lt=1)
    test_fraction: float = Field(0.1, ge=0, lt=1)
    # voice
    rate_wpm: tuple[int, int] = (135, 175)
    pitch: tuple[int, int] = (30, 70)
    pitch_range: tuple[int, int] = (35, 80)
    lead_silence_s: float = Field(0.2, ge=0, description="silence before speech (mouth at rest)")
    tail_silence_s: float = Field(0.24, ge=0)
    # mouth
    articulation: tuple[float, float] = Field((0.8, 1.2), description="speaker's jaw/lip amplitude scale range")
    coarticulation: CoarticulationConfig = Field(default_factory=CoarticulationConfig)
    # non-verbal motion
    head_rotation_std_deg: tuple[float, float, float] = Field((2.0, 3.0, 1.0), description="pitch, yaw, roll")
    head_motion_scale: tuple[float, float] = Field((0.5, 1.3), description="speaker's head-motion scale range")
    head_idle_scale: float = Field(0.5, ge=0, le=1, description="head motion while silent, relative to speaking")
    head_translation_std_m: tuple[float, float, float] = (0.003, 0.003, 0.002)
    head_motion_timescale_s: float = Field(0.6, gt=0)
    gaze_std_rad: float = Field(0.08, ge=0)
    fixation_s: tuple[float, float] = Field((0.4, 2.0), description="gaze fixation duration range")
    saccade_s: float = Field(0.04, gt=0)
    gaze_head_compensation: float = Field(0.5, ge=0, le=1)
    blink_interval_mean_s: float = Field(4.0, gt=0)
    blink_interval_min_s: float = Field(1.2, ge=0)
    blink_duration_s: tuple[float, float] = (0.15, 0.25)
    smile_max: float = Field(0.3, ge=0, le=1, description="speaker's resting smile is drawn from [0, smile_max]")
    brow_raise_per_s: float = Field(0.3, ge=0, description="rate of eyebrow raises while speaking")
    brow_raise_max: float = Field(0.5, ge=0, le=1)
    # camera and video
    camera_distance_m: float = Field(1.0, gt=0)
    camera_fov_deg: float = Field(20.0, gt=0, lt=90)
    camera_yaw_jitter_deg: float = Field(0.0, ge=0, description="per-clip camera yaw drawn from ±this")
    camera_pitch_jitter_deg: float = Field(0.0, ge=0)
    crf: int = Field(18, ge=0, le=51)
    render_batch_frames: int = Field(32, ge=1, description="frames deformed per head-model call")
    renderer: GLRendererConfig = Field(default_factory=GLRendererConfig)
