"""Benchmark of the audio-to-motion model: inference real-time factor and training throughput.

    python bench/motion.py [--checkpoint PATH] [--preset cpu-small] [--threads N] [--train-steps 10]

Inference: the whole motion path — ``MotionModel.animate`` including the Whisper encoder for whisper front
ends, whose share is printed separately — on 10 s and 10 min of speech (real speech from
``../shared/data/speech`` tiled to length when available), median of a few runs; the real-time
factor is audio duration / wall time (goal for the default model on CPU: >= 50x). The one-time encoder
load (checksum + CTranslate2 model) is printed too. Training: frames
per second of optimisation steps (forward + losses + backward + AdamW) with the preset's batch shape,
on CPU and, when available, CUDA. Without ``--checkpoint`` an untrained model of the preset's
architecture is timed (same compute as a trained one).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portraittalker.assets import REPO_ROOT
from portraittalker.head import load_head_model
from portraittalker.motion.checkpoint import head_identity, load_motion_model
from portraittalker.motion.dataset import load_wave
from portraittalker.motion.features import SAMPLE_RATE, SAMPLES_PER_FRAME
from portraittalker.motion.model import MotionModel
from portraittalker.motion.train import MotionLoss, train_preset


def speech_of_length(seconds: float) -> np.ndarray:
    speech_dir = REPO_ROOT.parent / "shared" / "data" / "speech"
    sources = sorted(speech_dir.glob("*.wav"))
    if sources:
        base = np.concatenate([load_wave(p) for p in sources])
    else:  # no shared data: amplitude-modulated noise with speech-like syllable rhythm
        rng = np.random.default_rng(0)
        base = (rng.normal(0, 0.1, SAMPLE_RATE * 10) * (np.sin(np.arange(SAMPLE_RATE * 10) / 400) ** 2)).astype(
            np.float32)
    n = int(seconds * SAMPLE_RATE)
    return np.resize(base, n).astype(np.float32)


def time_call(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, first-call overheads)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_training(model: MotionModel, head, preset: str, device: torch.device, steps: int) -> float:
    config = train_preset(preset)
    model = model.to(device).train()
    loss_fn = MotionLoss(model, head, config.loss).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch, window = config.batch_size, config.window_frames
    if model.uses_features:  # training reads cached encoder features: time the trainable part only
        wave = torch.randn(batch, window, model.config.front_end.encoder_dim, device=device)
    else:
        wave = torch.randn(batch, window * SAMPLES_PER_FRAME, device=device) * 0.1
    targets = model.target_mean + model.target_std * torch.randn(batch, window, len(model.columns), device=device)
    mask = torch.ones(batch, window, dtype=torch.bool, device=device)
    amp = device.type == "cuda"

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            pred = model(wave, window)
        losses = loss_fn(pred.float(), targets, mask)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        if amp:
            torch.cuda.synchronize()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * window * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--preset", default="cpu-small")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--train-steps", type=int, default=10)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    head = load_head_model()
    started = time.perf_counter()
    if args.checkpoint:
        model = load_motion_model(args.checkpoint, head)
        label = str(args.checkpoint)
    else:
        torch.manual_seed(0)
        model = MotionModel(train_preset(args.preset).model, head_identity(head)).eval()
        if model.uses_features:
            model.speech_encoder()
        label = f"untrained {args.preset}"
    load_s = time.perf_counter() - started
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {label}, {n_params / 1e6:.2f} M parameters, CPU threads: {torch.get_num_threads()}")
    if model.uses_features:
        encoder = model.speech_encoder()
        print(f"speech encoder: {encoder.encoder_id} ({encoder.files.layout}), window {encoder.config.window_s:g} s; "
              f"model + encoder load {load_s:.2f} s (once per process)")
    print(f"{'measurement':<34}{'value':>14}")
    for seconds, repeats in ((10.0, 5), (600.0, 1)):
        wave = speech_of_length(seconds)
        elapsed = time_call(lambda w=wave: model.animate(w, head), repeats)
        line = f"{f'inference {seconds:g} s audio (CPU)':<34}{seconds / elapsed:>12.0f} x real time ({elapsed:.3f} s)"
        if model.uses_features:
            encode_s = time_call(lambda w=wave: encoder.encode(w), repeats)
            line += f", of which Whisper encoder {encode_s:.3f} s ({encode_s / elapsed:.0%})"
        print(line)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        fps = bench_training(model, head, args.preset, device, args.train_steps)
        print(f"{f'training throughput ({device.type})':<34}{fps:>10.0f} frames/s")


if __name__ == "__main__":
    main()
