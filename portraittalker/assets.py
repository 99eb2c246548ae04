"""Where pretrained/parametric assets live, and clear errors when they are missing.

Search order for a named asset file: ``$PORTRAITTALKER_ASSETS``, ``~/.cache/portraittalker``,
then ``../shared/assets`` beside the checkout (the developers' and CI's copy).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class AssetMissingError(FileNotFoundError):
    """A required asset file is absent; the message says which file and how to obtain it."""


@dataclass(frozen=True)
class AssetSpec:
    name: str
    filename: str
    how_to_get: str


ICT_FACEKIT = AssetSpec(
    name="ict-facekit",
    filename="ict_facekit_light.npz",
    how_to_get="run `portraittalker assets pull ict-facekit` (downloads ICT-FaceKit, MIT license, "
    "from github.com/ICT-VGL/ICT-FaceKit and converts it)",
)


def asset_search_dirs() -> list[Path]:
    dirs: list[Path] = []
    if env := os.environ.get("PORTRAITTALKER_ASSETS"):
        dirs.append(Path(env).expanduser())
    dirs.append(Path("~/.cache/portraittalker").expanduser())
    dirs.append(REPO_ROOT.parent / "shared" / "assets")
    cwd_shared = Path.cwd().parent / "shared" / "assets"
    if cwd_shared not in dirs:
        dirs.append(cwd_shared)
    return dirs


def find_asset(spec: AssetSpec) -> Path:
    """Return the first existing copy of ``spec.filename`` or raise :class:`AssetMissingError`."""
    searched = asset_search_dirs()
    for directory in searched:
        candidate = directory / spec.filename
        if candidate.is_file():
            return candidate
    where = ", ".join(str(d) for d in searched)
    raise AssetMissingError(
        f"{spec.name}: '{spec.filename}' not found (searched {where}). To get it, {spec.how_to_get}; "
        "or set PORTRAITTALKER_ASSETS to the folder that holds it."
    )
