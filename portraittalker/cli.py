"""``portraittalker`` command line: library operations on single inputs.

Batch, scheduled and DVC runs go through the Prefect flows instead (``python -m flows.generate``).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from portraittalker.appearance.cli import register as register_avatar_command
from portraittalker.cli_errors import UserErrorsGroup

# Errors become one `error:` line in one place: the group wraps every sub-command (cli_errors.py).
app = typer.Typer(cls=UserErrorsGroup, add_completion=False, no_args_is_help=True, help=__doc__)
assets_app = typer.Typer(no_args_is_help=True, help="Head-model and weight files: what is present, how to get them.")
app.add_typer(assets_app, name="assets")
register_avatar_command(app)  # `portraittalker avatar` (portraittalker/appearance/cli.py)
console = Console(stderr=True)

ParamsOption = Annotated[Path | None, typer.Option("--params", help="params.yaml to use (default: the repo's)")]


def _setup_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _check_options(**checks: tuple[Callable, object]) -> None:
    """Run ``check(value, "--option")`` for each option given (None = not given)."""
    for option, (check, value) in checks.items():
        if value is not None:
            check(value, "--" + option.replace("_", "-"))


@app.command()
def generate(
    audio: Annotated[Path, typer.Option(help="Speech: any audio file or a video with an audio track")],
    out: Annotated[Path, typer.Option(help="Output MP4 path")],
    prompt: Annotated[str | None, typer.Option(help="Text description of the person and scene")] = None,
    avatar: Annotated[Path | None, typer.Option(help="Avatar folder (portraittalker avatar --photo/--prompt) "
                                                     "instead of --prompt")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: params.yaml seed)")] = None,
    size: Annotated[int | None, typer.Option(help="Frame size in pixels (square)")] = None,
    yaw: Annotated[float | None, typer.Option("--yaw", help="Camera yaw in degrees")] = None,
    pitch: Annotated[float | None, typer.Option("--pitch", help="Camera pitch in degrees")] = None,
    motion: Annotated[str | None, typer.Option(help="Motion generator: model or baseline")] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Motion-model checkpoint (with --motion model)")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out even if it is not a video we wrote")] = False,
    params_path: ParamsOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details and print per-stage timings")] = False,
) -> None:
    """Render a talking-head MP4 from a text prompt (or an avatar folder) and a speech recording."""
    _setup_logging(verbose)
    start = time.perf_counter()
    from portraittalker.process_tuning import use_one_blas_thread

    use_one_blas_thread()  # this command runs its own threads beside BLAS
    if (prompt is None) == (avatar is None):
        raise typer.BadParameter("give exactly one of --prompt TEXT or --avatar DIR")
    from portraittalker.validation import check_image_size, check_pitch, check_seed, check_yaw

    _check_options(size=(check_image_size, size), seed=(check_seed, seed), yaw=(check_yaw, yaw),
                   pitch=(check_pitch, pitch))
    from portraittalker.config import load_params
    from portraittalker.pipeline import check_video_output, generate_video

    check_video_output(out, [audio, params_path, checkpoint, avatar], force=force)
    overrides: dict = {}
    if size is not None:
        overrides.setdefault("render", {})["image_size"] = size
    if motion is not None:
        overrides.setdefault("motion", {})["generator"] = motion
    params = load_params(params_path, overrides)
    ready_avatar = None
    if avatar is not None:
        from portraittalker.avatar.asset import Avatar

        ready_avatar = Avatar.load(avatar)  # checked against the head model in generate_video
    with _progress() as progress:
        task = progress.add_task("rendering", total=None)
        result = generate_video(
            prompt or "", audio, out, params, seed=seed, yaw_deg=yaw, pitch_deg=pitch,
            checkpoint=str(checkpoint) if checkpoint else None, force=force, avatar=ready_avatar,
            on_frame=lambda done, total: progress.update(task, completed=done, total=total),
        )
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
    force: Annotated[bool, typer.Option("--force", help="Replace --out even if it is not a motion table")] = False,
    params_path: ParamsOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Write the per-frame motion table (25 fps) for a speech recording."""
    _setup_logging(verbose)
    from portraittalker.media.outputs import check_output_path
    from portraittalker.validation import check_seed

    _check_options(seed=(check_seed, seed))
    check_output_path(out, option="--out", suffixes=[".parquet"], kind="motion table",
                      inputs=[audio, params_path, checkpoint], is_previous_output=_is_motion_table, force=force)
    from portraittalker.config import load_params
    from portraittalker.head import head_from_config
    from portraittalker.media.audio import load_audio
    from portraittalker.pipeline import animate as animate_audio

    overrides = {"motion": {"generator": motion}} if motion else {}
    params = load_params(params_path, overrides)
    head = head_from_config(params.head)
    speech = load_audio(audio, sample_rate=params.audio.sample_rate, max_duration_s=params.audio.max_duration_s)
    table = animate_audio(speech, params, head, params.seed if seed is None else seed,
                          str(checkpoint) if checkpoint else None)
    table.save(out)
    print(out)


def _is_motion_table(path: Path) -> bool:
    """True for a parquet file with the motion-table schema metadata (what ``animate`` writes)."""
    import pyarrow.parquet as pq

    from portraittalker.motion.schema import METADATA_KEY

    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception:  # not parquet at all
        return False
    return METADATA_KEY in metadata


@app.command()
def prepare(
    input_path: Annotated[list[Path], typer.Option("--input", help="Input folder (repeatable)")],
    out: Annotated[Path, typer.Option(help="Dataset directory to write (clips.parquet, frames.parquet, ...)")],
    source: Annotated[str, typer.Option(help="folder | synthetic | hdtf (an `hdtf cut` output folder)")] = "folder",
    language: Annotated[str, typer.Option(help="Language tag for clips without one")] = "",
    params_path: ParamsOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Track, quality-check and fit talking-head videos into the training/evaluation tables."""
    _setup_logging(verbose)
    import pandas as pd

    from portraittalker.config import load_params
    from portraittalker.data.hdtf import hdtf_clip_inputs
    from portraittalker.data.prepare import collect_corpus_inputs, collect_folder_inputs, prepare_dataset

    params = load_params(params_path)
    config = params.prepare.stage_config().model_copy(
        update={"head_model": params.head.model, "head_path": params.head.path})
    inputs = []
    for folder in input_path:
        if source == "synthetic":
            inputs += collect_corpus_inputs(folder)
        elif source == "hdtf":
            inputs += hdtf_clip_inputs(pd.read_csv(folder / "cut_manifest.csv"), language=language or "en")
        elif source == "folder":
            inputs += collect_folder_inputs(folder, language=language)
        else:
            raise ValueError(f"--source must be folder, synthetic or hdtf, not {source!r}")
    result = prepare_dataset(inputs, out, config, progress=True, source=source)
    console.print(f"clips: {result.counts}  rejections: {result.reasons}  reused: {result.reused}")
    print(out)


@app.command("synth-corpus")
def synth_corpus(
    out: Annotated[Path, typer.Option(help="Corpus directory")],
    languages: Annotated[str, typer.Option(help="Comma-separated espeak-ng languages")] = "en,ko,cmn,ja",
    clips: Annotated[int, typer.Option(help="Clips per language")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed (the corpus is deterministic per seed)")] = 0,
    size: Annotated[int, typer.Option(help="Frame size in pixels")] = 512,
    params_path: ParamsOption = None,
) -> None:
    """Render a synthetic multilingual corpus with exact audio-motion alignment (espeak-ng phoneme timings)."""
    from portraittalker.config import load_params
    from portraittalker.data.synth.corpus import make_synthetic_corpus
    from portraittalker.head import head_from_config

    params = load_params(params_path)
    result = make_synthetic_corpus(out, [lang.strip() for lang in languages.split(",") if lang.strip()], clips,
                                   seed, image_size=size, config=params.synth, head=head_from_config(params.head))
    console.print(f"{result.n_clips} clips ({result.n_rendered} rendered, {result.n_skipped} reused, "
                  f"{result.n_failed} failed) in {result.seconds:.1f} s")
    print(out)


hdtf_app = typer.Typer(no_args_is_help=True, help="The HDTF dataset: download sources, cut annotated clips.")
app.add_typer(hdtf_app, name="hdtf")
META_DEFAULT = Path("../shared/data/hdtf_meta")


@hdtf_app.command("download")
def hdtf_download(
    out: Annotated[Path, typer.Option(help="Folder for the source videos")],
    meta: Annotated[Path, typer.Option(help="HDTF metadata folder (HDTF_dataset/)")] = META_DEFAULT,
    subsets: Annotated[str, typer.Option(help="Comma-separated subsets: RD,WDA,WRA")] = "RD,WDA,WRA",
    rate_limit: Annotated[str, typer.Option(help="yt-dlp rate limit, e.g. 4M")] = "4M",
) -> None:
    """Fetch HDTF source videos with audio at the listed resolution (needs `pip install portraittalker[download]`)."""
    from portraittalker.data.hdtf import download_hdtf

    table = download_hdtf(meta, out, subsets.split(","), rate_limit=rate_limit)
    console.print(table["status"].value_counts().to_dict())


@hdtf_app.command("cut")
def hdtf_cut(
    sources: Annotated[Path, typer.Option(help="Folder of downloaded source videos")],
    out: Annotated[Path, typer.Option(help="Folder for the cut 512² 25 fps clips")],
    meta: Annotated[Path, typer.Option(help="HDTF metadata folder")] = META_DEFAULT,
    subsets: Annotated[str, typer.Option(help="Comma-separated subsets")] = "RD,WDA,WRA",
) -> None:
    """Cut each annotated range, crop, resize to 512², 25 fps, 16 kHz mono audio; writes cut_manifest.csv."""
    from portraittalker.data.hdtf import cut_hdtf_clips

    table = cut_hdtf_clips(meta, sources, out, subsets.split(","))
    console.print(table["status"].value_counts().to_dict())


@app.command()
def evaluate(
    generated: Annotated[Path, typer.Option(help="A video, a folder of videos, or a generate results table")],
    out: Annotated[Path, typer.Option(help="Report folder (metrics.json, per_video.parquet, report.html)")],
    reference: Annotated[Path | None, typer.Option(help="Reference video, folder or table")] = None,
    syncnet_weights: Annotated[Path | None, typer.Option(help="syncnet_v2.model for LSE-C/LSE-D")] = None,
    s3fd_weights: Annotated[Path | None, typer.Option(help="sfd_face.pth (S3FD face detector) for LSE-C/LSE-D")] = None,
    inception_weights: Annotated[Path | None, typer.Option(help="pt_inception-2015-12-05 weights for FID")] = None,
    clip: Annotated[Path | None, typer.Option("--clip", help="Local CLIP model folder for CLIP-T")] = None,
    lpips_backbone: Annotated[Path | None, typer.Option(help="alexnet-owt-7be5be79.pth for LPIPS")] = None,
    lpips_linear: Annotated[Path | None, typer.Option(help="lpips weights/v0.1/alex.pth for LPIPS")] = None,
    params_path: ParamsOption = None,
) -> None:
    """Score generated videos: LSE-C/D, FID/KID, LPIPS, landmark metrics, sync offset, CLIP-T; writes an HTML report."""
    from eval.evaluate import evaluate as run_evaluation
    from portraittalker.config import load_params

    config = load_params(params_path).evaluate.metrics
    updates = {"syncnet_weights": syncnet_weights, "inception_weights": inception_weights, "clip_model": clip,
               "lpips_backbone_weights": lpips_backbone, "lpips_linear_weights": lpips_linear,
               "s3fd_weights": s3fd_weights}
    config = config.model_copy(update={k: v for k, v in updates.items() if v is not None})
    result = run_evaluation(generated, reference, out, config)
    table = Table(title="metrics")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in sorted(result["metrics"].items()):
        if not name.startswith("view_"):
            table.add_row(name, f"{value:.4g}")
    for name, reason in sorted(result["unavailable"].items()):
        table.add_row(name, f"[yellow]unavailable: {reason}")
    Console().print(table)
    print(result["paths"]["report"])


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
    from portraittalker.head.ict_asset import ICT_FACEKIT_CONTENT_SHA256, ICT_FACEKIT_URL, pull_ict_facekit

    if name != "ict-facekit":
        raise ValueError(f"unknown asset {name!r}: only 'ict-facekit' can be pulled; "
                         "see `portraittalker assets check` for the others")
    path = pull_ict_facekit(dest, source_path=from_path, source_url=url or ICT_FACEKIT_URL,
                            expected_sha256=None if no_verify else ICT_FACEKIT_CONTENT_SHA256)
    print(path)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not sys.stderr.isatty())


def main() -> None:
    """The ``portraittalker`` console command: memory settings (:mod:`portraittalker.process_tuning`), ``app``, then,
    after a success, a quick exit.

    Once torch is loaded the interpreter's teardown (freeing every module and object) adds ~1 s to each run and
    has nothing to save: outputs are complete and renamed into place inside the commands. So the atexit handlers
    run, the streams are flushed and the process ends; errors and live worker threads keep the normal exit.
    """
    from portraittalker.process_tuning import tune_process_memory

    tune_process_memory()
    try:
        app()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return
    atexit._run_exitfuncs()  # logging.shutdown, temp-file finalizers, ...: what a normal exit would run
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
