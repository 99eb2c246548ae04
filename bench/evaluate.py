"""Seconds of CPU time per minute of 25 fps video for each evaluation metric family.

Usage: OMP_NUM_THREADS=1 python -m bench.evaluate [--video PATH] [--frames N] [--fid-frames N]
LSE runs syncnet-python's pipeline (:mod:`eval.lse`) and FID/KID pytorch-fid's Inception (:mod:`eval.fid`), each
with randomly initialised weights saved in the packages' file formats (``syncnet_v2.model``, ``sfd_face.pth``,
``pt_inception-2015-12-05-6726825d.pth``) in a temporary folder: same networks, same cost as the real ones.
Random S3FD weights find no face, so each detector call runs the real network on the frame and then hands the
pipeline the clip's median MediaPipe face box instead of its (empty) result: tracking, cropping and SyncNet then
run as on a real face. The detector's time is its own row. LSE runs on the first ``--frames`` frames cut to an
H.264 + AAC file beforehand (untimed), as a generated video of that length would be scored.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from eval import image_metrics, landmarks
from eval.common import FPS, load_audio_16k, read_video_rgb, track_frames
from eval.fid import inception_features, load_inception
from eval.lse import LSEConfig, compute_lse, load_syncnet_pipeline
from eval.sync_offset import SyncOffsetConfig, estimate_av_offset
from portraittalker.assets import REPO_ROOT

DEFAULT_VIDEO = REPO_ROOT.parent / "shared" / "data" / "real_clips" / "WDA_KatieHill_000.mp4"


def timed(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def random_weight_files(folder: Path) -> tuple[Path, Path, Path]:
    """syncnet_v2.model, sfd_face.pth and the FID Inception file, random, in the layouts the packages load."""
    from syncnet_python.detectors.s3fd.nets import S3FDNet
    from syncnet_python.SyncNetModel import S
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    syncnet, s3fd, inception = folder / "syncnet_v2.model", folder / "sfd_face.pth", \
        folder / "pt_inception-2015-12-05-6726825d.pth"
    state = {k: v for k, v in S().state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, syncnet)
    torch.save(S3FDNet(device="cpu").state_dict(), s3fd)
    # pytorch-fid's FID Inception: 1008 classes, no aux head (torchvision's initialisation, as a trained file's shapes)
    torch.save(inception_v3(weights=None, num_classes=1008, aux_logits=False, init_weights=True).state_dict(),
               inception)
    return syncnet, s3fd, inception


def time_lse(pipeline: object, video: Path, n: int, face_boxes: np.ndarray) -> tuple[float, float]:
    """(S3FD detection seconds, rest of the syncnet-python LSE pipeline seconds) on the first ``n`` frames."""
    from syncnet_python.detectors.s3fd import S3FD

    boxes = face_boxes[np.isfinite(face_boxes).all(axis=1)]
    if not len(boxes):
        raise SystemExit(f"bench: MediaPipe finds no face in the first {n} frames of {video}")
    box = np.append(np.median(boxes, axis=0), 0.99)[None]  # (1, 5): x0, y0, x1, y1, score
    detect, spent = S3FD.detect_faces, [0.0]

    def timed_detection(self: S3FD, image: np.ndarray, conf_th: float = 0.8, scales: object = (1,)) -> np.ndarray:
        start = time.perf_counter()
        detect(self, image, conf_th=conf_th, scales=scales)  # the real network (random weights: no face)
        spent[0] += time.perf_counter() - start
        return box.copy()

    with tempfile.TemporaryDirectory(prefix="portraittalker-bench-lse-") as folder:
        clip = Path(folder) / "clip.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(video), "-frames:v", str(n),
                        "-t", f"{n / FPS:.3f}", "-r", str(FPS), "-c:v", "libx264", "-c:a", "aac", str(clip)],
                       check=True)
        with mock.patch.object(S3FD, "detect_faces", timed_detection):
            total, _ = timed(lambda: compute_lse(pipeline, clip))
    return spent[0], total - spent[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--frames", type=int, default=100,
                        help="frames to time (extrapolated to 1 minute); >= 40")
    parser.add_argument("--fid-frames", type=int, default=16, help="frames pushed through Inception")
    args = parser.parse_args()
    min_frames = 2 * SyncOffsetConfig().max_lag + 10  # the A/V offset's lag search (SyncNet needs > 10)
    if args.frames < min_frames:
        parser.error(f"--frames must be >= {min_frames} (the A/V offset's ±lag search)")

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
    with tempfile.TemporaryDirectory(prefix="portraittalker-bench-") as folder:
        syncnet_path, s3fd_path, inception_path = random_weight_files(Path(folder))
        sides = track.face_boxes[:, 2:] - track.face_boxes[:, :2]
        face_side = float(np.nanmedian(sides.max(axis=1))) if np.isfinite(sides).any() else 0.0
        defaults = LSEConfig()
        # Tracks need more than min_track frames and a mean box over min_face_size px: fit both to the clip.
        lse_config = LSEConfig(min_track=min(defaults.min_track, n - 1),
                               min_face_size=max(1, min(defaults.min_face_size, int(face_side) - 1)))
        pipeline = load_syncnet_pipeline(syncnet_path, s3fd_path, lse_config)
        inception = load_inception(inception_path)
    detect_s, syncnet_s = time_lse(pipeline, args.video, n, track.face_boxes)
    rows.append(("S3FD face detection (syncnet-python, scale 0.25)", detect_s, n))
    rows.append(("LSE rest (25 fps, scenes, tracking, crops, SyncNet)", syncnet_s, n))
    fid_n = min(args.fid_frames, n)
    rows.append(("Inception pool3 features (FID/KID, pytorch-fid)",
                 timed(lambda: inception_features(inception, frames[:fid_n]))[0], fid_n))
    print(f"video {args.video.name}, {frames.shape[2]}x{frames.shape[1]}, torch threads {torch.get_num_threads()}")
    print(f"{'metric family':52s} {'frames':>6s} {'s/frame':>8s} {'s per video-minute':>19s}")
    for name, seconds, count in rows:
        print(f"{name:52s} {count:6d} {seconds / count:8.4f} {seconds / count * 25 * 60:19.1f}")
    total = sum(s / c for _, s, c in rows) * 1500
    print(f"{'total (all families)':52s} {'':6s} {'':8s} {total:19.1f}")


if __name__ == "__main__":
    main()
