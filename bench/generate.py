"""Wall time per stage of `generate` for one speech clip, and the real-time factor.

    python bench/generate.py [--audio PATH] [--sizes 256 512] [--repeats 2]

Start-up (imports, first head-model load) is reported separately: it is paid once per process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from portraittalker.assets import REPO_ROOT  # noqa: E402
from portraittalker.config import load_params  # noqa: E402
from portraittalker.head import head_from_config  # noqa: E402
from portraittalker.pipeline import generate_video  # noqa: E402

IMPORT_S = time.perf_counter() - T0
DEFAULT_AUDIO = REPO_ROOT.parent / "shared" / "data" / "speech" / "RD_Radio31_000.wav"
PROMPT = "a middle-aged woman with short red hair and green eyes, soft studio lighting, night city street"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, default=DEFAULT_AUDIO)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=2, help="runs per size; the fastest is reported")
    parser.add_argument("--motion", default=None, help="baseline or model (default: params.yaml)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    base = load_params()
    head_from_config(base.head)
    warm_s = time.perf_counter() - start
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            overrides = {"render": {"image_size": size}}
            if args.motion:
                overrides["motion"] = {"generator": args.motion}
            params = load_params(overrides=overrides)
            runs = []
            for repeat in range(args.repeats):
                run_start = time.perf_counter()
                result = generate_video(PROMPT, args.audio, Path(tmp) / f"{size}_{repeat}.mp4", params, seed=0)
                runs.append((time.perf_counter() - run_start, result))
            results[size] = min(runs, key=lambda item: item[0])

    stages = list(next(iter(results.values()))[1].timings)
    table = Table(title=f"generate: {args.audio.name}, start-up {IMPORT_S:.2f} s imports + {warm_s:.2f} s head load")
    table.add_column("stage")
    for size in results:
        table.add_column(f"{size}² (s)", justify="right")
    for stage in stages:
        table.add_row(stage, *(f"{results[s][1].timings.get(stage, 0.0):.3f}" for s in results))
    table.add_row("[bold]wall", *(f"[bold]{results[s][0]:.3f}" for s in results))
    table.add_row("speech duration", *(f"{results[s][1].duration_s:.2f}" for s in results))
    table.add_row("frames", *(str(results[s][1].n_frames) for s in results))
    table.add_row("real-time factor", *(f"{results[s][1].duration_s / results[s][0]:.2f}x" for s in results))
    table.add_row("frames / s", *(f"{results[s][1].n_frames / results[s][0]:.1f}" for s in results))
    Console().print(table)


if __name__ == "__main__":
    main()
