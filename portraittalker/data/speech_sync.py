"""A second A/V-offset check with a learned speech→mouth predictor, cross-fitted over the dataset's own speakers.

The onset estimator of :mod:`portraittalker.data.av_sync` is weak on short clips: it shifted one in-sync 8 s clip by
7 frames (peak-median confidence 0.24, above the 0.2 needed). After every clip is tracked, this check predicts each real
clip's mouth opening from its frozen Whisper features with a ridge regression trained on *the other speakers*
only (leave-one-speaker-out, so no clip judges its own alignment), and takes the lag of the best correlation
between the prediction and the tracked opening as the clip's residual offset. A residual of this check's own
``shift_min_frames`` (2: finer than the onset check's 3) or more, found with enough confidence, is corrected (the
WAV and the clip's audio track are shifted again) and recorded; smaller ones are left alone.

Columns it writes: ``av_learned_offset`` (SyncNet sign: positive = audio leads the mouth) and
``av_learned_confidence`` (peak - median of the lag curve); ``av_shift_frames`` is the total shift applied.

Each clip is measured once: a clip reused unchanged from an earlier run keeps its recorded estimate and shift (a
rerun of ``prepare`` changes nothing), though it still takes part in the fits for the others.

Clips the onset check found too uncertain to shift arrive ``pending`` (``learned.decide_uncertain``). They are
measured but never part of a ridge fit (their alignment is unknown), and settled here: shifted by this check's
offset when it is confident, kept as they are when it is confidently within ``shift_min_frames``, rejected
(``av_offset``, both estimates in the reason; outputs removed) when it is not confident or cannot measure them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from portraittalker.data.config import LearnedOffsetConfig
from portraittalker.data.normalise import mux_audio, shift_audio
from portraittalker.data.tables import (
    AV_SHIFT_COLUMN,
    LANDMARKS_COLUMN,
    LEARNED_CONFIDENCE_COLUMN,
    LEARNED_OFFSET_COLUMN,
)
from portraittalker.face.tracking import CHIN, FOREHEAD, MOUTH_INNER_LOWER, MOUTH_INNER_UPPER
from portraittalker.motion.dataset import load_wave
from portraittalker.motion.readout import design_matrix

log = logging.getLogger(__name__)


@dataclass
class SyncClip:
    clip_id: str
    speaker_id: str
    opening: np.ndarray  # (T,) MediaPipe inner-lip gap / face height of the video
    design: np.ndarray  # (T, F) ridge design matrix of the audio's encoder features
    trusted: bool = True  # False: alignment unknown (pending), so measured but never fitted on


def mouth_opening_from_frames(frames: pd.DataFrame) -> np.ndarray:
    """(T,) normalised inner-lip gap from a clip's ``frames.parquet`` rows (same measure as ``FaceTrack``)."""
    ordered = frames.sort_values("frame")
    landmarks = np.stack(ordered[LANDMARKS_COLUMN].to_numpy()).reshape(len(ordered), -1, 3)[..., :2]
    gap = np.linalg.norm(landmarks[:, MOUTH_INNER_UPPER] - landmarks[:, MOUTH_INNER_LOWER], axis=-1)
    height = np.linalg.norm(landmarks[:, FOREHEAD] - landmarks[:, CHIN], axis=-1)
    return gap / np.maximum(height, 1e-6)


def lag_curve(prediction: np.ndarray, opening: np.ndarray, max_lag: int) -> np.ndarray:
    """(2·max_lag+1,) correlation of ``opening`` with ``prediction`` delayed by k - max_lag frames (index k)."""
    curve = np.full(2 * max_lag + 1, np.nan)
    for index, lag in enumerate(range(-max_lag, max_lag + 1)):
        a = prediction[:len(prediction) - lag] if lag >= 0 else prediction[-lag:]
        b = opening[lag:] if lag >= 0 else opening[:len(opening) + lag]
        if len(a) > 10 and a.std() > 1e-9 and b.std() > 1e-9:
            curve[index] = np.corrcoef(a, b)[0, 1]
    return curve


def learned_offsets(clips: Sequence[SyncClip], measure: set[str], config: LearnedOffsetConfig
                    ) -> dict[str, tuple[int, float]]:
    """{clip_id: (offset, confidence)} for the clips in ``measure``, each from a ridge fit on other speakers."""
    def standardised(x: np.ndarray) -> np.ndarray:
        return (x - x.mean()) / (x.std() + 1e-9)

    fitted = [c for c in clips if c.trusted]
    grams = {c.clip_id: c.design.T @ c.design for c in fitted}
    rhs = {c.clip_id: c.design.T @ standardised(c.opening) for c in fitted}
    gram_all, rhs_all = sum(grams.values()), sum(rhs.values())
    penalty = np.eye(len(gram_all))
    penalty[-1, -1] = 0.0
    results: dict[str, tuple[int, float]] = {}
    for speaker in sorted({c.speaker_id for c in clips if c.clip_id in measure}):
        own = [c for c in clips if c.speaker_id == speaker]
        gram = gram_all - sum(grams[c.clip_id] for c in own if c.trusted)
        weights = np.linalg.solve(gram + config.alpha * penalty,
                                  rhs_all - sum(rhs[c.clip_id] for c in own if c.trusted))
        for clip in own:
            if clip.clip_id not in measure:
                continue
            curve = lag_curve(clip.design @ weights, clip.opening, config.max_lag)
            if not np.isfinite(curve).any():
                continue
            peak = int(np.nanargmax(curve))
            # Peak at +L: the mouth follows the speech-driven prediction L frames later, i.e. the audio leads by L
            # (SyncNet offset +L: delay the audio by L).
            results[clip.clip_id] = (peak - config.max_lag, float(curve[peak] - np.nanmedian(curve)))
    return results


def learned_shift(offset: int, confidence: float, config: LearnedOffsetConfig) -> int:
    """Frames to delay the audio by for a measured residual ``offset`` (0: leave the clip alone)."""
    if abs(offset) >= config.shift_min_frames and confidence >= config.min_confidence:
        return int(offset)
    return 0


def reject_pending(row: dict, out_dir: Path, detail: str) -> None:
    """Settle a pending clip as rejected: the onset estimate's reason plus ``detail``; its outputs removed."""
    onset = row["reason"].removeprefix("av_offset: ").removesuffix(": left to the learned check")
    row["status"], row["reason"] = "rejected", f"av_offset: onset estimate {onset}; learned check {detail}"
    for relative in (row.get("video_path"), row.get("audio_path")):
        if relative:
            (out_dir / relative).unlink(missing_ok=True)
    for suffix in (".png", ".html"):
        (out_dir / "previews" / f"{row['clip_id']}{suffix}").unlink(missing_ok=True)
    row["video_path"] = row["audio_path"] = ""


def clips_to_measure(real: list[dict], min_frames: int) -> set[str]:
    """Ids of the rows to measure: long enough, and pending or not measured before.

    A clip measured in an earlier run (reused unchanged) keeps its measurement and shift: re-measuring it would
    overwrite what was found and could shift its audio again on every rerun. It still helps fit the others.
    """
    return {r["clip_id"] for r in real if int(r["n_frames"]) >= min_frames
            and (r["status"] == "pending" or pd.isna(r.get(LEARNED_OFFSET_COLUMN)))}


def refine_av_offsets(rows: list[dict], frames: dict[str, pd.DataFrame], out_dir: Path, config: LearnedOffsetConfig,
                      min_frames: int, fps: float, sample_rate: int) -> list[dict]:
    """Measure every ok or pending real clip of ``min_frames`` or more; shift those whose residual offset is
    confident; settle every pending clip (see the module doc)."""
    real = [r for r in rows if r.get("status") in ("ok", "pending") and r.get("source") != "synthetic"
            and r["clip_id"] in frames]
    real_ids = {r["clip_id"] for r in real}
    for row in rows:
        if row.get("status") == "pending" and row["clip_id"] not in real_ids:
            reject_pending(row, out_dir, "not run (no tracked frames)")
    pending = [r for r in real if r["status"] == "pending"]
    speakers = {r["speaker_id"] for r in real if r["status"] == "ok"}
    if len(speakers) < 3:
        log.info("prepare: learned A/V check skipped (needs real clips of 3+ speakers, has %d)", len(speakers))
        for row in pending:
            reject_pending(row, out_dir, "not run (needs real clips of 3+ speakers)")
        return rows
    from portraittalker.motion.whisper import shared_encoder

    encoder = shared_encoder()
    clips = []
    for row in real:
        opening = mouth_opening_from_frames(frames[row["clip_id"]])
        features = encoder.encode(load_wave(out_dir / row["audio_path"]), len(opening))
        clips.append(SyncClip(row["clip_id"], row["speaker_id"], opening, design_matrix(features, config.context),
                              trusted=row["status"] == "ok"))
    measure = clips_to_measure(real, min_frames)
    apply_learned_offsets(real, learned_offsets(clips, measure, config), out_dir, config, fps, sample_rate)
    return rows


def apply_learned_offsets(real: list[dict], estimates: dict[str, tuple[int, float]], out_dir: Path,
                          config: LearnedOffsetConfig, fps: float, sample_rate: int) -> None:
    """Record each real row's estimate, shift the confident ones, settle the pending ones (in place)."""
    for row in real:
        if row["clip_id"] not in estimates:
            if row["status"] == "pending":
                reject_pending(row, out_dir, "could not measure it")
            continue
        offset, confidence = estimates[row["clip_id"]]
        row[LEARNED_OFFSET_COLUMN], row[LEARNED_CONFIDENCE_COLUMN] = float(offset), confidence
        if row["status"] == "pending":
            if confidence < config.min_confidence:
                reject_pending(row, out_dir, f"{offset:+d} frames at confidence {confidence:.2f} "
                                             f"< {config.min_confidence:g}")
                continue
            log.info("prepare: %s: uncertain onset offset settled by the learned check: %+d frames (confidence "
                     "%.2f)", row["clip_id"], offset, confidence)
            row["status"], row["reason"] = "ok", ""
        if learned_shift(offset, confidence, config):
            log.info("prepare: %s: learned A/V check shifts the audio by %+d frames (confidence %.2f)",
                     row["clip_id"], offset, confidence)
            shift_audio(out_dir / row["audio_path"], offset, fps)
            mux_audio(out_dir / row["video_path"], out_dir / row["audio_path"], sample_rate)
            row[AV_SHIFT_COLUMN] = int(row.get(AV_SHIFT_COLUMN) or 0) + offset
