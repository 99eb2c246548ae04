"""``portraittalker avatar``: an avatar folder from a text prompt (SDS) or from a photo.

Registered on the main CLI by :func:`register`; also runnable alone as
``python -m portraittalker.appearance.cli --prompt ... --sd-model DIR --out DIR``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Annotated

import typer

from portraittalker.cli_errors import UserErrorsCommand


def avatar(
    out: Annotated[Path, typer.Option(help="Avatar folder to write (avatar.json, albedo.png, loss_curve.png, "
                                           "turntable.png)")],
    prompt: Annotated[str | None, typer.Option(help="Text description of the person (score distillation)")] = None,
    sd_model: Annotated[Path | None, typer.Option("--sd-model", help="Local Stable Diffusion 1.5/2.1 diffusers "
                                                  "folder (default: appearance.sds.model)")] = None,
    photo: Annotated[Path | None, typer.Option(help="A photo of the person (fitting instead of SDS)")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: appearance.seed)")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimisation steps (default: appearance.optim.steps)")] = None,
    size: Annotated[int | None, typer.Option(help="Render size of the optimisation (square)")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 ... (default: auto)")] = None,
    restart: Annotated[bool, typer.Option("--restart", help="Ignore an existing checkpoint")] = False,
    params_path: Annotated[Path | None, typer.Option("--params", help="params.yaml to use")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Make an avatar from a text prompt (--prompt, --sd-model) or from a photo (--photo)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if (prompt is None) == (photo is None):
        raise ValueError("give exactly one of --prompt TEXT or --photo IMAGE")
    from portraittalker.appearance.api import avatar_from_photo, avatar_from_prompt
    from portraittalker.appearance.optimiser import work_dir_for
    from portraittalker.config import load_params
    from portraittalker.head import load_head_model

    params = load_params(params_path)
    config = params.appearance.model_copy(deep=True)
    if seed is not None:
        config.seed = seed
    if steps is not None:
        config.optim.steps = steps
        config.photo.steps = steps
    if size is not None:
        config.render.image_size = size
    if device is not None:
        config.optim.device = device
    if restart:
        shutil.rmtree(work_dir_for(out), ignore_errors=True)
    head = load_head_model(params.head.model, params.head.path)
    if prompt is not None:
        result = avatar_from_prompt(head, prompt, out, config, sd_model=sd_model)
    else:
        result = avatar_from_photo(head, photo, out, config, fitting=getattr(params.prepare, "fitting", None))
    for path in (result.avatar_dir, *result.files.values()):
        print(path)


def export(
    avatar_dir: Annotated[Path, typer.Option("--avatar", help="Avatar folder (portraittalker avatar / designer)")],
    out: Annotated[Path, typer.Option(help="Output file: .glb or .csv")],
    motion: Annotated[Path | None, typer.Option(help="Motion table (.parquet, portraittalker animate) to animate; "
                                                     "required for arkit-csv")] = None,
    format_: Annotated[str, typer.Option("--format", help="glb | arkit-csv")] = "glb",
    params_path: Annotated[Path | None, typer.Option("--params", help="params.yaml to use")] = None,
) -> None:
    """Export an avatar (+ motion) as a GLB, or a motion as an ARKit / Live Link Face CSV."""
    from portraittalker.appearance.export import export_arkit_csv, export_glb
    from portraittalker.avatar.asset import Avatar
    from portraittalker.config import load_params
    from portraittalker.head import load_head_model
    from portraittalker.motion.schema import MotionTable

    if format_ not in ("glb", "arkit-csv"):
        raise ValueError(f"--format must be glb or arkit-csv, got {format_!r}")
    if format_ == "arkit-csv" and motion is None:
        raise ValueError("--format arkit-csv needs --motion motion.parquet")
    params = load_params(params_path)
    head = load_head_model(params.head.model, params.head.path)
    table = MotionTable.load(motion) if motion is not None else None
    if format_ == "glb":
        path = export_glb(Avatar.load(avatar_dir, expected_head=head), head, out, table)
    else:
        path = export_arkit_csv(table, head, out)
    print(path)


def register(app: typer.Typer) -> None:
    """Add the ``avatar`` and ``export`` commands to ``app`` (the main ``portraittalker`` CLI)."""
    # UserErrorsCommand: one `error:` line for a user error, also on an app without UserErrorsGroup (the tests')
    app.command("avatar", cls=UserErrorsCommand)(avatar)
    app.command("export", cls=UserErrorsCommand)(export)


def main() -> None:
    standalone = typer.Typer(add_completion=False)  # typer.run(avatar), with the CLI's error reporting
    standalone.command(cls=UserErrorsCommand)(avatar)
    standalone()


if __name__ == "__main__":
    main()
