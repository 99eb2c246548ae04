"""End-to-end lip sync on the held-out real speakers across avatar looks.

    python bench/heldout_looks.py [--prompts "P1" "P2" ...] [--split test] [--out outputs/bench/heldout_looks]

The eval report scores one look (`eval/heldout.py`'s default prompt). A user brings their own prompt, and the face
tracker reads some looks' mouths better than others (facial hair around the lips, lip colour, lighting), so this
reruns the same held-out evaluation (each clip's own speech -> `generate_video` at 512² -> MediaPipe mouth opening vs
the real video's, lag 0) once per prompt and prints the mean and median over clips for each look, and over looks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from eval.heldout import evaluate_heldout
from portraittalker.config import load_params

PROMPTS = (
    "a middle-aged person, soft light",  # the eval report's look
    "an old man with a white beard, warm lighting",  # the README's example
    "a young woman with long hair",
    "a clean-shaven man with short dark hair",
    "a man with short dark hair",
    "a woman in her forties, studio light",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", nargs="+", default=list(PROMPTS))
    parser.add_argument("--split", default="test")
    parser.add_argument("--dataset", type=Path, default=Path("data/prepared"))
    parser.add_argument("--out", type=Path, default=Path("outputs/bench/heldout_looks"))
    parser.add_argument("--generators", nargs="+", default=["model"])
    args = parser.parse_args(argv)
    params = load_params(overrides={"render": {"image_size": 512}})
    console = Console()
    table = Table(title=f"held-out {args.split} speakers, end to end, per look")
    for column in ("look", "generator", "mean", "median", "min clip", "max clip"):
        table.add_column(column)
    means: dict[str, list[float]] = {name: [] for name in args.generators}
    for i, prompt in enumerate(args.prompts):
        scores, _ = evaluate_heldout(args.dataset, args.out / f"look{i}", params, split=args.split,
                                     generators=tuple(args.generators), prompt=prompt, progress=True)
        for name, rows in scores.groupby("generator"):
            corr = rows["mouth_corr"].to_numpy()
            means[str(name)].append(float(np.mean(corr)))
            table.add_row(prompt, str(name), f"{np.mean(corr):.3f}", f"{np.median(corr):.3f}",
                          f"{corr.min():.2f}", f"{corr.max():.2f}")
    for name, values in means.items():
        table.add_row("[b]mean over looks[/b]", name, f"{np.mean(values):.3f}", "",
                      f"{min(values):.3f} (look)", f"{max(values):.3f} (look)")
    console.print(table)


if __name__ == "__main__":
    main()
