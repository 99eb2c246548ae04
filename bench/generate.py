"""Wall time per stage of `generate` for one speech clip, and the real-time factor.

    python bench/generate.py [--audio PATH] [--sizes 256 512] [--repeats 2]
    python bench/generate.py --cli [--seconds 8] [--sizes 512]   # the whole `portraittalker generate` process

Start-up (imports, first head-model load) is reported separately: it is paid once per process. ``--cli`` runs
the command as a subprocess (what a user waits for): interpreter, CLI import and exit, the library imports
done inside the command, each pipeline stage (waits of the main thread: motion, deformation and grain + encoding
run in worker threads beside it), wall / audio duration (issue 11: at most 1.0 at 512²), and CPU seconds / audio
duration with the load average, since on a shared machine the wall depends on what else runs.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
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
from portraittalker.process_tuning import tune_process_memory, use_one_blas_thread  # noqa: E402

IMPORT_S = time.perf_counter() - T0
DEFAULT_AUDIO = REPO_ROOT.parent / "shared" / "data" / "speech" / "RD_Radio31_000.wav"
PROMPT = "a middle-aged woman with short red hair and green eyes, soft studio lighting, night city street"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, default=DEFAULT_AUDIO)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=2, help="runs per size; the fastest is reported")
    parser.add_argument("--motion", default=None, help="baseline or model (default: params.yaml)")
    parser.add_argument("--cli", action="store_true", help="time the `portraittalker generate` process instead")
    parser.add_argument("--seconds", type=float, default=8.0, help="--cli: seconds of speech cut from --audio")
    args = parser.parse_args(argv)
    if args.cli:
        cli_main(args)
        return

    tune_process_memory()  # as the CLI's generate does
    use_one_blas_thread()
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


STAGE_ROW = re.compile(r"^\W*([a-z_][a-z_ .-]*?)\s*│\s*([0-9.]+)\s*│")


def _cpu_jiffies() -> tuple[int, int]:
    """(all, stolen) CPU time of the machine so far, in clock ticks; (0, 0) where /proc/stat is missing."""
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0, 0
    return sum(fields[:8]), fields[7]  # user nice system idle iowait irq softirq steal


def run_cli(audio: Path, out: Path, size: int, motion: str | None
            ) -> tuple[float, float, float, float, dict[str, float]]:
    """Wall and CPU seconds (the process and its ffmpeg children, all cores) of one `portraittalker generate -v`,
    the 1-minute load average when it started, the share of the machine's CPU time the hypervisor stole during
    it (on a shared VM the wall depends on it) and the stage table it prints."""
    # `python -m portraittalker.cli` runs the console script's entry point (cli.main) from this checkout's code,
    # also where the installed `portraittalker` script predates an entry-point change.
    command = [sys.executable, "-m", "portraittalker.cli", "generate", "--prompt", PROMPT,
               "--audio", str(audio), "--out", str(out), "--size", str(size), "--force", "-v"]
    if motion:
        command += ["--motion", motion]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    jiffies_before = _cpu_jiffies()
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    wall = time.perf_counter() - start
    jiffies_after = _cpu_jiffies()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    rows = {m.group(1): float(m.group(2)) for line in done.stderr.splitlines() if (m := STAGE_ROW.match(line))}
    all_ticks, stolen = (a - b for a, b in zip(jiffies_after, jiffies_before, strict=True))
    return wall, cpu, load, stolen / max(all_ticks, 1), rows


def cli_main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "speech.wav"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-t", f"{args.seconds:g}", "-i", str(args.audio), str(clip)],
                       check=True)
        runs = {size: min((run_cli(clip, Path(tmp) / f"{size}_{r}.mp4", size, args.motion)
                           for r in range(args.repeats)), key=lambda run: run[0]) for size in args.sizes}
    table = Table(title=f"`portraittalker generate` process, {args.seconds:g} s of {args.audio.name}")
    table.add_column("stage")
    for size in runs:
        table.add_column(f"{size}² (s)", justify="right")
    stages = [name for name in next(iter(runs.values()))[4] if name not in {"wall incl. start-up", "real-time factor"}]
    rows: dict[str, list[float]] = {}
    for wall, cpu, load, steal, stage_s in runs.values():
        in_command = stage_s.get("wall incl. start-up", wall)
        pipeline_s = stage_s.get("pipeline total", 0.0)
        extra = {"start-up: interpreter, CLI import + exit": wall - in_command,
                 "start-up: library imports in the command": in_command - pipeline_s}
        for name, seconds in {**extra, **{n: stage_s.get(n, 0.0) for n in stages}}.items():
            rows.setdefault(name, []).append(seconds)
        rows.setdefault("renderer share of wall (render + setup)", []).append(
            (stage_s.get("render", 0.0) + stage_s.get("renderer_setup", 0.0)) / wall)
        rows.setdefault("[bold]process wall", []).append(wall)
        rows.setdefault("[bold]wall / audio duration", []).append(wall / args.seconds)
        # The machine is shared: CPU seconds do not depend on what else runs, the wall does (note the load).
        rows.setdefault("CPU s, all cores, incl. ffmpeg / audio duration", []).append(cpu / args.seconds)
        rows.setdefault("load average (1 min) at the start", []).append(load)
        rows.setdefault("CPU time stolen by the hypervisor (share)", []).append(steal)
    for name, values in rows.items():
        fmt = "{:.0%}" if "share" in name else "{:.2f}" if "/" in name or "load" in name else "{:.3f}"
        table.add_row(name, *(fmt.format(v) for v in values))
    Console().print(table)


if __name__ == "__main__":
    main()
