"""Landmark metrics from MediaPipe tracks of generated (and reference) videos; no learned weights.

Conventions: 68-point subset ``MEDIAPIPE_TO_68`` in pixels, rescaled so that the frame width is
256 px (``LMD_FRAME_WIDTH``) to make distances comparable across resolutions; frames without a
face are skipped; a generated/reference pair is compared over its first ``min(N_gen, N_ref)``
frames (frame-aligned, same speech). Normalised quantities divide by the inter-ocular distance
(outer eye corners, points 36/45).

ADFD (PortraitTalk's "audio-driven facial dynamics" score) as implemented here, higher is better,
in [0, 1]; only its description (landmark alignment x motion-vector cosine similarity) was
available, so the constants below are ours and documented:
``ADFD = mean_t [ exp(-d_t / sigma) * (1 + cos(dG_t, dR_t)) / 2 ]`` where ``d_t`` is the mean
68-point distance between generated and reference landmarks at frame t divided by the reference
inter-ocular distance, ``sigma = ADFDConfig.sigma`` (0.1), and ``dG_t``/``dR_t`` are the flattened
68-point displacement vectors from frame t-1 to t (cosine 1 when both are still, 0 when one is).
All 68 points have weight 1; the mouth points 48-67 get ``mouth_weight`` (default 1) extra weight.
"""

from __future__ import annotations

import numpy as np

from eval.common import MetricUnavailable, interpolate_nans
from eval.schema import LandmarkConfig
from portraittalker.face.tracking import (
    LEFT_EYE_INNER,
    LEFT_EYE_LOWER,
    LEFT_EYE_OUTER,
    LEFT_EYE_UPPER,
    RIGHT_EYE_INNER,
    RIGHT_EYE_LOWER,
    RIGHT_EYE_OUTER,
    RIGHT_EYE_UPPER,
    FaceTrack,
)

LMD_FRAME_WIDTH = 256.0
MOUTH_68 = np.arange(48, 68)
# Points that do not move with speech or blinks: brows, nose, outer eye corners, upper jaw.
RIGID_68 = np.r_[0:4, 13:17, 17:27, 27:36, 36, 39, 42, 45]
STILL_EPS = 1e-6


def scaled68(track: FaceTrack) -> np.ndarray:
    """(N, 68, 2) landmarks scaled to a 256-px-wide frame; NaN where no face."""
    return track.landmarks68().astype(np.float64) * (LMD_FRAME_WIDTH / track.width)


def interocular(points68: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points68[:, 36] - points68[:, 45], axis=-1)


def _paired(generated: FaceTrack, reference: FaceTrack) -> tuple[np.ndarray, np.ndarray]:
    n = min(generated.n_frames, reference.n_frames)
    gen, ref = scaled68(generated)[:n], scaled68(reference)[:n]
    valid = np.isfinite(gen).all(axis=(1, 2)) & np.isfinite(ref).all(axis=(1, 2))
    if valid.sum() < 2:
        raise MetricUnavailable("fewer than 2 frames with a face in both generated and reference video")
    return gen, ref


def lmd(generated: FaceTrack, reference: FaceTrack) -> dict[str, float]:
    """Mean landmark distance (px at 256 width) over frames with a face in both: mouth and whole face."""
    gen, ref = _paired(generated, reference)
    dist = np.linalg.norm(gen - ref, axis=-1)  # (N, 68)
    valid = np.isfinite(dist).all(axis=1)
    return {"lmd_face": float(dist[valid].mean()), "lmd_mouth": float(dist[valid][:, MOUTH_68].mean())}


def mouth_opening_correlation(generated: FaceTrack, reference: FaceTrack) -> float:
    """Pearson correlation over time of generated vs reference (real speaker) mouth opening."""
    n = min(generated.n_frames, reference.n_frames)
    gen, ref = generated.mouth_opening()[:n], reference.mouth_opening()[:n]
    valid = np.isfinite(gen) & np.isfinite(ref)
    if valid.sum() < 3 or gen[valid].std() < 1e-9 or ref[valid].std() < 1e-9:
        raise MetricUnavailable("mouth opening missing or constant in generated or reference video")
    return float(np.corrcoef(gen[valid], ref[valid])[0, 1])


def adfd(generated: FaceTrack, reference: FaceTrack, config: LandmarkConfig | None = None) -> float:
    """ADFD as documented in the module docstring (higher is better, 1 = identical landmark motion)."""
    config = config or LandmarkConfig()
    gen, ref = (interpolate_nans(x) for x in _paired(generated, reference))
    weights = np.ones(68)
    weights[MOUTH_68] += config.adfd_mouth_weight
    weights /= weights.sum()
    dist = (np.linalg.norm(gen - ref, axis=-1) * weights).sum(axis=1) / np.maximum(interocular(ref), 1e-6)
    alignment = np.exp(-dist[1:] / config.adfd_sigma)
    sqrt_w = np.sqrt(weights)[None, :, None]
    motion_g = (np.diff(gen, axis=0) * sqrt_w).reshape(len(gen) - 1, -1)
    motion_r = (np.diff(ref, axis=0) * sqrt_w).reshape(len(ref) - 1, -1)
    norm_g, norm_r = np.linalg.norm(motion_g, axis=1), np.linalg.norm(motion_r, axis=1)
    cosine = (motion_g * motion_r).sum(1) / np.maximum(norm_g * norm_r, STILL_EPS)
    both_still = (norm_g < STILL_EPS) & (norm_r < STILL_EPS)
    cosine = np.where(both_still, 1.0, cosine)
    return float(np.mean(alignment * (1 + cosine) / 2))


def temporal_jitter(track: FaceTrack) -> float:
    """Mean landmark acceleration |L[t+1] - 2 L[t] + L[t-1]| in inter-ocular units (lower = smoother)."""
    points = scaled68(track)
    accel = np.linalg.norm(points[2:] - 2 * points[1:-1] + points[:-2], axis=-1).mean(axis=1)
    scale = interocular(points)[1:-1]
    valid = np.isfinite(accel) & (scale > 0)
    if not valid.any():
        raise MetricUnavailable("fewer than 3 consecutive frames with a face")
    return float(np.mean(accel[valid] / scale[valid]))


def eye_openness(track: FaceTrack) -> np.ndarray:
    """(N,) mean eye aspect ratio (lid gap / eye width) of both eyes; NaN where no face."""
    lm = track.landmarks[..., :2].astype(np.float64)
    ratios = []
    for upper, lower, outer, inner in ((LEFT_EYE_UPPER, LEFT_EYE_LOWER, LEFT_EYE_OUTER, LEFT_EYE_INNER),
                                       (RIGHT_EYE_UPPER, RIGHT_EYE_LOWER, RIGHT_EYE_OUTER, RIGHT_EYE_INNER)):
        gap = np.linalg.norm(lm[:, upper] - lm[:, lower], axis=-1)
        width = np.linalg.norm(lm[:, outer] - lm[:, inner], axis=-1)
        ratios.append(gap / np.maximum(width, 1e-6))
    return np.mean(ratios, axis=0)


def blink_rate(track: FaceTrack, config: LandmarkConfig | None = None) -> float:
    """Blinks per minute: dips of eye openness below ``blink_ratio`` x the video's median openness."""
    config = config or LandmarkConfig()
    openness = eye_openness(track)
    valid = np.isfinite(openness)
    if valid.sum() < 2:
        raise MetricUnavailable("no face tracked: cannot count blinks")
    closed = np.where(valid, openness < config.blink_ratio * np.nanmedian(openness), False)
    closed_frames = np.flatnonzero(closed)
    blinks = 0 if len(closed_frames) == 0 else 1 + int((np.diff(closed_frames) >= config.blink_min_gap_frames).sum())
    minutes = track.n_frames / track.fps / 60.0
    return blinks / minutes


def identity_shape_drift(track: FaceTrack) -> float:
    """Mean distance of each frame's similarity-aligned rigid shape to the mean shape (inter-ocular units).

    Each frame's speech-independent points (brows, nose, eye corners, upper jaw) are aligned to the
    mean shape with a similarity Procrustes fit; the residual spread measures face-shape (identity)
    changes across frames with pose and scale removed (lower = stabler).
    """
    points = scaled68(track)[:, RIGID_68]
    points = points[np.isfinite(points).all(axis=(1, 2))]
    if len(points) < 2:
        raise MetricUnavailable("fewer than 2 frames with a face")
    centred = points - points.mean(axis=1, keepdims=True)
    centred /= np.linalg.norm(centred, axis=(1, 2), keepdims=True)
    mean_shape = centred.mean(axis=0)
    for _ in range(3):  # generalised Procrustes: align to the mean, re-estimate the mean
        aligned = np.stack([_align(shape, mean_shape) for shape in centred])
        mean_shape = aligned.mean(axis=0)
        mean_shape /= np.linalg.norm(mean_shape)
    residual = np.linalg.norm(aligned - mean_shape, axis=-1).mean(axis=1)  # per frame, unit-norm shapes
    # Express in inter-ocular units of the mean shape (RIGID_68 positions 27 and 30 are points 36 and 45).
    iod = np.linalg.norm(mean_shape[list(RIGID_68).index(36)] - mean_shape[list(RIGID_68).index(45)])
    return float(residual.mean() / max(iod, 1e-9))


def _align(shape: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Similarity-align a centred shape to a centred target (rotation + scale)."""
    u, s, vt = np.linalg.svd(shape.T @ target)
    d = np.sign(np.linalg.det(u @ vt))
    correction = np.diag([1.0, d])
    rotation = u @ correction @ vt
    scale = (s * np.diag(correction)).sum() / (shape**2).sum()
    return scale * shape @ rotation
