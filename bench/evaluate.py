"""Seconds of CPU time per minute of 25 fps video for each evaluation metric family.

Usage: OMP_NUM_THREADS=1 python -m bench.evaluate [--video PATH] [--frames N]
SyncNet and Inception run with randomly initialised weights (same cost as the real ones).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch

from eval import image_metrics, landmarks
from eval.common import load_audio_16k, read_video_rgb, track_frames
from eval.fid import FIDInceptionV3, inception_features
from eval.lse import LSEConfig, compute_lse
from eval.sync_offset import estimate_av_offset
from eval.syncnet import SyncNet
from portraittalker.assets import REPO_ROOT

DEFAULT_VIDEO = REPO_ROOT.parent / "shared" / "data" / "real_clips" / "WDA_KatieHill_000.mp4"


def timed(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--frames", type=int, default=100, help="frames to time (extrapolated to 1 minute)")
    parser.add_argument("--fid-frames", type=int, default=16, help="frames pushed through Inception")
    args = parser.parse_args()

    decode_s, frames = timed(lambda: read_video_rgb(args.video, args.frames))
    n = len(frames)
    audio = load_audio_16k(args.video)[: n * 640]
    track_s, track = timed(lambda: track_frames(frames))
    rows = [("decode (ffmpeg -> RGB)", decode_s, n), ("MediaPipe tracking", track_s, n)]
    rows.append(("A/V offset (mouth vs onsets)", timed(lambda: estimate_av_offset(track.mouth_opening(), audio))[0], n))
    rows.append(("landmark metrics (LMD/ADFD/jitter/blink/identity)", timed(lambda: (
        landmarks.lmd(track, track), landmarks.adfd(track, track), landmarks.temporal_jitter(track),
        landmarks.blink_rate(track), landmarks.identity_shape_drift(track)))[0], n))
    pixel_s, _ = timed(lambda: (image_metrics.psnr(frames, frames), image_metrics.ssim(frames, frames)))
    rows.append(("PSNR + SSIM", pixel_s, n))
    syncnet = SyncNet().eval()
    rows.append(("SyncNet LSE (crops + embeddings + dists)",
                 timed(lambda: compute_lse(syncnet, frames, track.face_boxes, audio, LSEConfig()))[0], n))
    inception = FIDInceptionV3().eval()
    fid_n = min(args.fid_frames, n)
    rows.append(("Inception pool3 features (FID/KID)", timed(lambda: inception_features(inception, frames[:fid_n]))[0],
                 fid_n))
    print(f"video {args.video.name}, {frames.shape[2]}x{frames.shape[1]}, torch threads {torch.get_num_threads()}")
    print(f"{'metric family':52s} {'frames':>6s} {'s/frame':>8s} {'s per video-minute':>19s}")
    for name, seconds, count in rows:
        print(f"{name:52s} {count:6d} {seconds / count:8.4f} {seconds / count * 25 * 60:19.1f}")
    total = sum(s / c for _, s, c in rows) * 1500
    print(f"{'total (all families)':52s} {'':6s} {'':8s} {total:19.1f}")


if __name__ == "__main__":
    main()
