"""LSE-C / LSE-D as joonson/syncnet_python computes them (``SyncNetInstance.evaluate``).

The maths is the upstream one, re-implemented:

* audio -> 16-bit PCM values at 16 kHz -> ``python_speech_features.mfcc`` defaults (13 coefficients,
  25 ms window, 10 ms step: 4 MFCC frames per 25 fps video frame);
* ``n = min(frames, floor(samples / 640))``; windows ``i = 0 .. n-6``: 5 crops ``i..i+4`` and MFCC
  columns ``4i .. 4i+19``; SyncNet embeds both;
* for each video window ``i`` and shift ``k = 0..2*vshift``: Euclidean (``pairwise_distance``,
  eps 1e-6) distance to audio window ``i + k - vshift`` (zero vector outside the clip);
* ``mdist = mean_i dist[i, k]``; **LSE-D** = ``min_k mdist``; **LSE-C** = ``median_k mdist - LSE-D``;
  **offset** = ``vshift - argmin_k mdist`` (positive: the audio leads the video).

Face crops follow ``run_pipeline.crop_video`` (box size/centre median-filtered over 13 frames,
``crop_scale`` 0.4, grey-110 padding, 224x224 BGR) with one documented deviation: the boxes come
from MediaPipe face-mesh extents (``portraittalker.tracking``) instead of the S3FD detector, and
crops are used directly instead of going through an XVID/JPEG round trip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from pydantic import BaseModel, Field
from scipy import signal

from eval.common import MetricUnavailable, interpolate_nans
from eval.syncnet import SyncNet

SAMPLES_PER_FRAME = 640  # 16 kHz / 25 fps
MFCC_PER_FRAME = 4  # 10 ms MFCC step
WINDOW_FRAMES = 5
CROP_SIZE = 224
PAD_VALUE = 110


class LSEConfig(BaseModel):
    """SyncNet evaluation settings (upstream defaults)."""

    vshift: int = Field(15, ge=1, description="offsets searched: -vshift..+vshift frames")
    batch_size: int = Field(20, ge=1, description="windows per forward pass")
    crop_scale: float = Field(0.4, ge=0, description="run_pipeline --crop_scale")
    min_detected_fraction: float = Field(0.5, ge=0, le=1, description="below this face-detection rate: unavailable")


@dataclass
class LSEResult:
    lse_d: float  # min over offsets of the mean embedding distance (lower is better)
    lse_c: float  # median - min of the mean distances (higher is better)
    offset: int  # SyncNet sign: positive = audio leads video
    mean_dists: np.ndarray  # (2*vshift+1,) mean distance per shift
    frame_dists: np.ndarray  # (windows, 2*vshift+1)


def face_track_crops(frames_rgb: np.ndarray, boxes: np.ndarray, crop_scale: float = 0.4) -> np.ndarray:
    """SyncNet face crops: (N, H, W, 3) RGB frames + (N, 4) xyxy boxes -> (N, 224, 224, 3) BGR uint8.

    Missing boxes (NaN) are interpolated like upstream's ``interp1d`` over a track.
    """
    boxes = interpolate_nans(boxes)
    if not np.isfinite(boxes).all():
        raise MetricUnavailable("no face detected in any frame: SyncNet needs a face track")
    half_size = np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2
    centre_y = (boxes[:, 1] + boxes[:, 3]) / 2
    centre_x = (boxes[:, 0] + boxes[:, 2]) / 2
    half_size, centre_y, centre_x = (signal.medfilt(v, kernel_size=13) for v in (half_size, centre_y, centre_x))
    crops = np.empty((len(frames_rgb), CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    for index, rgb in enumerate(frames_rgb):
        bs = half_size[index]
        pad = int(bs * (1 + 2 * crop_scale))
        bgr = np.pad(rgb[..., ::-1], ((pad, pad), (pad, pad), (0, 0)), "constant", constant_values=PAD_VALUE)
        my, mx = centre_y[index] + pad, centre_x[index] + pad
        face = bgr[int(my - bs):int(my + bs * (1 + 2 * crop_scale)),
                   int(mx - bs * (1 + crop_scale)):int(mx + bs * (1 + crop_scale))]
        crops[index] = cv2.resize(face, (CROP_SIZE, CROP_SIZE))
    return crops


def syncnet_mfcc(audio_16k: np.ndarray) -> np.ndarray:
    """(13, T) MFCCs exactly as upstream: computed on int16 sample values (wavfile.read of pcm_s16le)."""
    import python_speech_features

    pcm = np.clip(np.round(np.asarray(audio_16k, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    return python_speech_features.mfcc(pcm, 16000).T


def calc_pdist(video_feat: torch.Tensor, audio_feat: torch.Tensor, vshift: int) -> torch.Tensor:
    """(N, 2*vshift+1) distances of video window i to audio window i+k-vshift (zero-padded audio)."""
    padded = torch.nn.functional.pad(audio_feat, (0, 0, vshift, vshift))
    window = 2 * vshift + 1
    rows = [
        torch.nn.functional.pairwise_distance(video_feat[[i], :].repeat(window, 1), padded[i:i + window, :])
        for i in range(len(video_feat))
    ]
    return torch.stack(rows, 0)


@torch.no_grad()
def syncnet_embeddings(
    model: SyncNet, crops_bgr: np.ndarray, audio_16k: np.ndarray, batch_size: int = 20
) -> tuple[torch.Tensor, torch.Tensor]:
    """Video and audio embeddings of every 5-frame window (upstream ``evaluate`` feature loop)."""
    mfcc = torch.from_numpy(syncnet_mfcc(audio_16k).astype(np.float32))
    n = min(len(crops_bgr), math.floor(len(audio_16k) / SAMPLES_PER_FRAME))
    last = n - WINDOW_FRAMES
    if last < 1:
        raise MetricUnavailable(f"clip too short for SyncNet: {n} aligned frames, need > {WINDOW_FRAMES}")
    device = next(model.parameters()).device
    video = torch.from_numpy(crops_bgr).float().permute(3, 0, 1, 2)  # (3, N, 224, 224)
    video_feats, audio_feats = [], []
    for start in range(0, last, batch_size):
        indices = range(start, min(last, start + batch_size))
        lips = torch.stack([video[:, i:i + WINDOW_FRAMES] for i in indices])
        video_feats.append(model.forward_lip(lips.to(device)).cpu())
        cepstra = torch.stack([mfcc[None, :, i * MFCC_PER_FRAME:i * MFCC_PER_FRAME + 20] for i in indices])
        audio_feats.append(model.forward_aud(cepstra.to(device)).cpu())
    return torch.cat(video_feats), torch.cat(audio_feats)


def lse_from_embeddings(video_feat: torch.Tensor, audio_feat: torch.Tensor, vshift: int = 15) -> LSEResult:
    dists = calc_pdist(video_feat, audio_feat, vshift)
    mean_dists = dists.mean(0)
    min_value, min_index = torch.min(mean_dists, 0)
    return LSEResult(
        lse_d=float(min_value),
        lse_c=float(torch.median(mean_dists) - min_value),
        offset=int(vshift - min_index),
        mean_dists=mean_dists.numpy(),
        frame_dists=dists.numpy(),
    )


def compute_lse(
    model: SyncNet, frames_rgb: np.ndarray, face_boxes: np.ndarray, audio_16k: np.ndarray,
    config: LSEConfig | None = None,
) -> LSEResult:
    """LSE-C/LSE-D/offset of one face track: decoded RGB frames (25 fps), their face boxes, 16 kHz audio."""
    config = config or LSEConfig()
    detected = np.isfinite(face_boxes).all(axis=1).mean() if len(face_boxes) else 0.0
    if detected < config.min_detected_fraction:
        raise MetricUnavailable(f"face found in only {detected:.0%} of frames (< {config.min_detected_fraction:.0%})")
    crops = face_track_crops(frames_rgb, face_boxes, config.crop_scale)
    video_feat, audio_feat = syncnet_embeddings(model, crops, audio_16k, config.batch_size)
    return lse_from_embeddings(video_feat, audio_feat, config.vshift)
