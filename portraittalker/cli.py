"""``portraittalker`` command line: library operations on single inputs.

Batch, scheduled and DVC runs go through the Prefect flows instead (``python -m flows.generate``).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
assets_app = typer.Typer(no_args_is_help=True, help="Head-model and weight files: what is present, how to get them.")
app.add_typer(assets_app, name="assets")
console = Console(stderr=True)

ParamsOption = Annotated[Path | None, typer.Option("--params", help="params.yaml to use (default: the repo's)")]


def _setup_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _fail(error: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {error}")
    return typer.Exit(code=2)


@app.command()
def generate(
    prompt: Annotated[str, typer.Option(help="Text description of the person and scene")],
    audio: Annotated[Path, typer.Option(help="Speech: any audio file or a video with an audio track")],
    out: Annotated[Path, typer.Option(help="Output MP4 path")],
    seed: Annotated[int | None, typer.Option(help="Random seed (default: params.yaml seed)")] = None,
    size: Annotated[int | None, typer.Option(help="Frame size in pixels (square)")] = None,
    yaw: Annotated[float | None, typer.Option("--yaw", help="Camera yaw in degrees")] = None,
    pitch: Annotated[float | None, typer.Option("--pitch", help="Camera pitch in degrees")] = None,
    motion: Annotated[str | None, typer.Option(help="Motion generator: model or baseline")] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Motion-model checkpoint (with --motion model)")] = None,
    params_path: ParamsOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details and print per-stage timings")] = False,
) -> None:
    """Render a talking-head MP4 from a text prompt and a speech recording."""
    _setup_logging(verbose)
    start = time.perf_counter()
    from portraittalker.config import load_params
    from portraittalker.pipeline import generate_video

    overrides: dict = {}
    if size is not None:
        overrides.setdefault("render", {})["image_size"] = size
    if motion is not None:
        overrides.setdefault("motion", {})["generator"] = motion
    try:
        params = load_params(params_path, overrides)
        with _progress() as progress:
            task = progress.add_task("rendering", total=None)
            result = generate_video(
                prompt, audio, out, params, seed=seed, yaw_deg=yaw, pitch_deg=pitch,
                checkpoint=str(checkpoint) if checkpoint else None,
                on_frame=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        raise _fail(error) from error
    wall = time.perf_counter() - start
    if verbose:
        table = Table(title=f"{result.n_frames} frames, {result.duration_s:.2f} s of speech")
        table.add_column("stage")
        table.add_column("seconds", justify="right")
        for name, seconds in result.timings.items():
            table.add_row(name, f"{seconds:.3f}")
        table.add_row("[bold]pipeline total", f"[bold]{sum(result.timings.values()):.3f}")
        table.add_row("wall incl. start-up", f"{wall:.3f}")
        table.add_row("real-time factor", f"{result.duration_s / max(sum(result.timings.values()), 1e-9):.2f}x")
        console.print(table)
    print(result.video_path)


@app.command()
def animate(
    audio: Annotated[Path, typer.Option(help="Speech: any audio file or a video with an audio track")],
    out: Annotated[Path, typer.Option(help="Output motion table (.parquet)")],
    seed: Annotated[int | None, typer.Option(help="Random seed")] = None,
    motion: Annotated[str | None, typer.Option(help="Motion generator: model or baseline")] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Motion-model checkpoint")] = None,
    params_path: ParamsOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Write the per-frame motion table (25 fps) for a speech recording."""
    _setup_logging(verbose)
    from portraittalker.audio import load_audio
    from portraittalker.config import load_params
    from portraittalker.head import head_from_config
    from portraittalker.pipeline import animate as animate_audio

    overrides = {"motion": {"generator": motion}} if motion else {}
    try:
        params = load_params(params_path, overrides)
        head = head_from_config(params.head)
        speech = load_audio(audio, sample_rate=params.audio.sample_rate, max_duration_s=params.audio.max_duration_s)
        table = animate_audio(speech, params, head, params.seed if seed is None else seed,
                              str(checkpoint) if checkpoint else None)
        table.save(out)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        raise _fail(error) from error
    print(out)


@assets_app.command("check")
def assets_check() -> None:
    """List required and optional assets: present (with path) or missing (with how to get them)."""
    from portraittalker.assets import check_assets

    statuses = check_assets()
    table = Table(title="PortraitTalker assets")
    for column in ("asset", "required", "status", "path / how to get"):
        table.add_column(column)
    for status in statuses:
        state = "[green]present" if status.present else ("[red]MISSING" if status.required else "[yellow]absent")
        table.add_row(status.name, "yes" if status.required else "optional", state,
                      str(status.path) if status.present else status.how_to_get)
    Console().print(table)
    if any(s.required and not s.present for s in statuses):
        raise typer.Exit(code=1)


@assets_app.command("pull")
def assets_pull(
    name: Annotated[str, typer.Argument(help="Asset to fetch: ict-facekit")],
    dest: Annotated[Path | None, typer.Option(help="Folder to write into (default ~/.cache/portraittalker)")] = None,
    from_path: Annotated[Path | None, typer.Option("--from", help="Local ICT-FaceKit zip or checkout")] = None,
    url: Annotated[str | None, typer.Option(help="Download URL (default: the pinned commit on GitHub)")] = None,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip the content sha256 check")] = False,
) -> None:
    """Download (or take from --from) and convert an openly licensed asset."""
    from portraittalker.assets import AssetMissingError
    from portraittalker.assets_ict import ICT_FACEKIT_CONTENT_SHA256, ICT_FACEKIT_URL, IctFaceKitError, pull_ict_facekit

    if name != "ict-facekit":
        raise _fail(ValueError(f"unknown asset {name!r}: only 'ict-facekit' can be pulled; "
                               "see `portraittalker assets check` for the others"))
    try:
        path = pull_ict_facekit(dest, source_path=from_path, source_url=url or ICT_FACEKIT_URL,
                                expected_sha256=None if no_verify else ICT_FACEKIT_CONTENT_SHA256)
    except (IctFaceKitError, AssetMissingError, OSError) as error:
        raise _fail(error) from error
    print(path)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not sys.stderr.isatty())


if __name__ == "__main__":
    app()
