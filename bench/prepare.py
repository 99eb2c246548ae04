"""Benchmark the prepare stage on the real HDTF clips: tracking, fitting and whole-stage frames/s.

    OMP_NUM_THREADS=2 .venv/bin/python bench/prepare.py [--threads 2] [--out DIR] [--no-preview]

Prints a table. Tracking = decode + MediaPipe (max_faces=1) per frame; fitting = the batched
landmark fit per clip; whole stage = ``prepare_dataset`` (probe, normalise, track, quality checks,
fit, tables, previews) on the folder, with the one-time setup (head model load, first-use imports)
reported separately. Goal (issue 3): whole stage >= 50 frames/s on 2 cores, fit error <= 3 px.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from portraittalker.assets import REPO_ROOT
from portraittalker.data.prepare import PrepareConfig, PrepareContext, collect_folder_inputs, prepare_dataset
from portraittalker.data.tables import CLIPS_FILE, FRAMES_FILE
from portraittalker.face.fitting import fit_landmarks
from portraittalker.face.tracking import FaceTracker, iter_video_rgb

DEFAULT_CLIPS = REPO_ROOT.parent / "shared" / "data" / "real_clips"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="folder of clips")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=None, help="keep the prepared dataset here")
    parser.add_argument("--no-preview", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="repeat the fitting/tracking timings")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = PrepareConfig()
    if args.no_preview:
        config.preview.enabled = False
    inputs = collect_folder_inputs(args.clips)
    start = time.perf_counter()
    context = PrepareContext(config)
    context.warm_up()
    setup_s = time.perf_counter() - start

    rows: list[tuple[str, str]] = []
    tracks = {}
    track_s = 0.0
    frames_total = 0
    for _ in range(args.repeats):
        for clip in inputs:
            fps, frames = iter_video_rgb(clip.path)
            t0 = time.perf_counter()
            with FaceTracker(max_faces=1) as tracker:
                track = tracker.track_frames(frames, fps)
            track_s += time.perf_counter() - t0
            frames_total += track.n_frames
            tracks[clip.clip_id] = track
    rows.append(("tracking (decode + MediaPipe)", f"{frames_total / track_s:.1f} frames/s"))

    fit_s = 0.0
    errors = {}
    for _ in range(args.repeats):
        for clip_id, track in tracks.items():
            t0 = time.perf_counter()
            result = fit_landmarks(track.landmarks, context.head, config.fitting, model=context.landmark_model)
            fit_s += time.perf_counter() - t0
            errors[clip_id] = result.mean_error_px
    rows.append(("fitting (batched landmark fit)", f"{frames_total / fit_s:.1f} frames/s"))

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "prepared"
        for table in (CLIPS_FILE, FRAMES_FILE):  # time a full run, not a resume
            (out / table).unlink(missing_ok=True)
        t0 = time.perf_counter()
        result = prepare_dataset(inputs, out, config, progress=False, context=context)
        stage_s = time.perf_counter() - t0
    context.close()
    n_frames = int(result.clips["n_frames"].sum())
    rows.append(("whole stage (steady state)", f"{n_frames / stage_s:.1f} frames/s ({n_frames} frames, "
                                               f"{stage_s:.1f} s)"))
    rows.append(("whole stage incl. one-time setup", f"{n_frames / (stage_s + setup_s):.1f} frames/s "
                                                     f"(setup {setup_s:.1f} s)"))
    for step, seconds in result.timings.items():
        if step != "frames":
            rows.append((f"  step {step.removesuffix('_s')}", f"{seconds / max(n_frames, 1) * 1000:.2f} ms/frame"))
    for clip_id, error in errors.items():
        rows.append((f"fit error {clip_id}", f"{error:.2f} px"))
    rows.append(("fit error mean", f"{np.mean(list(errors.values())):.2f} px (goal <= 3)"))
    rows.append(("statuses", str(result.counts)))
    width = max(len(name) for name, _ in rows)
    load = os.getloadavg()[0]
    print(f"prepare benchmark: {len(inputs)} clips from {args.clips}, torch threads {args.threads}, "
          f"{config.workers} clip workers, {os.cpu_count()} CPUs, load average {load:.1f} at the end")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
