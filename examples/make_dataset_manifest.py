"""Write a batch manifest of N jobs: designer-vocabulary prompts x speech files x seeds (issue 10, dataset scale).

    python examples/make_dataset_manifest.py --out outputs/manifests/dataset_200.csv --jobs 200
    python examples/make_dataset_manifest.py --out outputs/manifests/short_8.csv --jobs 8 --seconds 1

Speech: every ``*.wav`` of ``data/demo_speech`` (made with ``examples/make_demo_speech.py`` when missing) and of
``../shared/data/speech`` when it exists, or of each ``--speech-dir``. Files are referenced where they are (paths
relative to the manifest's folder), never copied; ``--seconds S`` instead cuts each to its first S seconds into
``<manifest stem>_speech/`` beside the manifest. The same ``--seed`` always gives the same manifest.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import os
import random
import subprocess
import sys
from pathlib import Path

from portraittalker.assets import REPO_ROOT
from portraittalker.avatar.vocabulary import parse_prompt

DEMO_SPEECH = REPO_ROOT / "data" / "demo_speech"
SHARED_SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech"

# Prompt parts, all words of the English designer vocabulary (portraittalker/avatar/vocabulary/en.py), so every
# attribute a prompt names reaches the avatar; each prompt is checked with parse_prompt below.
PEOPLE = ("a young woman", "a young man", "a middle-aged woman", "a middle-aged man", "an old woman", "an old man",
          "an elderly woman", "an elderly man", "an adult woman", "an adult man", "a teenager")
HAIR = ("short red hair", "long blonde hair", "short black hair", "long brown hair", "short grey hair",
        "long auburn hair", "short white hair", "long platinum hair", "short dark brown hair", "long ginger hair")
EYES = ("blue eyes", "green eyes", "hazel eyes", "brown eyes", "grey eyes", "amber eyes")
LIGHTING = ("soft lighting", "dramatic lighting", "studio lighting", "natural lighting", "neon lighting",
            "warm soft lighting", "cold dramatic lighting")
SCENES = ("night city street", "beach at sunset", "forest", "office", "library", "studio", "sky",
          "city at night", "forest in daylight")


def compose_prompts(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct prompts drawn (without replacement) from the product of the parts above."""
    combos = list(itertools.product(PEOPLE, HAIR, EYES, LIGHTING, SCENES))
    if count > len(combos):
        raise SystemExit(f"error: only {len(combos)} distinct prompts can be composed, {count} asked")
    prompts = []
    for person, hair, eyes, lighting, scene in rng.sample(combos, count):
        prompt = f"{person} with {hair} and {eyes}, {lighting}, {scene}"
        parsed = parse_prompt(prompt)
        if not parsed.understood or parsed.unknown_words:  # the vocabulary changed: a word here lost its meaning
            raise SystemExit(f"error: the designer does not understand {parsed.unknown_words} of {prompt!r}")
        prompts.append(prompt)
    return prompts


def speech_files(dirs: list[Path] | None) -> list[Path]:
    """The ``*.wav`` files of ``dirs`` (default: demo speech, made when missing, and the shared speech)."""
    if dirs is None:
        if not any(DEMO_SPEECH.glob("*.wav")):  # the DVC stage's output; synthesised offline with espeak-ng
            subprocess.run([sys.executable, str(REPO_ROOT / "examples" / "make_demo_speech.py"),
                            "--out", str(DEMO_SPEECH)], check=True)
        dirs = [DEMO_SPEECH] + ([SHARED_SPEECH] if SHARED_SPEECH.is_dir() else [])
    files = [file.resolve() for folder in dirs for file in sorted(Path(folder).glob("*.wav"))]
    if not files:
        raise SystemExit(f"error: no *.wav files in {', '.join(map(str, dirs))}")
    return files


def cut_speech(files: list[Path], folder: Path, seconds: float) -> list[Path]:
    """The first ``seconds`` of each file, as WAVs in ``folder`` (names prefixed by their source folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    cuts = []
    for file in files:
        cut = folder / f"{file.parent.name}_{file.stem}.wav"  # two folders may hold the same file name
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-t", f"{seconds:g}", "-i", str(file), str(cut)], check=True)
        cuts.append(cut)
    return cuts


def build_rows(n_jobs: int, speech: list[Path], n_seeds: int, seed: int, manifest_dir: Path) -> list[dict]:
    """``n_jobs`` manifest rows over prompts x speech x seeds, shuffled so any prefix mixes all three."""
    rng = random.Random(seed)
    seeds = rng.sample(range(1_000_000), n_seeds)
    prompts = compose_prompts(math.ceil(n_jobs / (len(speech) * n_seeds)), rng)
    cells = list(itertools.product(prompts, speech, seeds))
    rng.shuffle(cells)
    width = len(str(n_jobs - 1))
    return [{"job_id": f"job{index:0{width}d}", "prompt": prompt,
             "audio": os.path.relpath(audio, manifest_dir), "seed": job_seed}
            for index, (prompt, audio, job_seed) in enumerate(cells[:n_jobs])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "outputs" / "manifests" / "dataset_200.csv")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--speech-dir", type=Path, action="append", help="folder of *.wav (repeatable)")
    parser.add_argument("--seconds", type=float, help="cut each speech file to its first S seconds")
    parser.add_argument("--seeds", type=int, default=2, help="avatar seeds per (prompt, speech) pair")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompt, seed and order draws")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.seeds < 1 or (args.seconds is not None and args.seconds <= 0):
        parser.error("--jobs and --seeds must be at least 1, --seconds positive")
    manifest_dir = args.out.resolve().parent
    speech = speech_files(args.speech_dir)
    if args.seconds is not None:
        speech = cut_speech(speech, manifest_dir / f"{args.out.stem}_speech", args.seconds)
    rows = build_rows(args.jobs, speech, args.seeds, args.seed, manifest_dir)
    manifest_dir.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["job_id", "prompt", "audio", "seed"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{args.out}: {len(rows)} jobs, {len({r['prompt'] for r in rows})} prompts x {len(speech)} speech files "
          f"x {args.seeds} seeds")


if __name__ == "__main__":
    main()
