"""Where pretrained/parametric assets live, and clear errors when they are missing.

Search order for a named asset file: ``$PORTRAITTALKER_ASSETS``, ``~/.cache/portraittalker``,
then ``../shared/assets`` beside the checkout (the developers' and CI's copy). Optional assets
(FLAME, pretrained weights) may also be named by their own environment variable; see
:data:`ASSET_TABLE` and :func:`check_assets`. Pulling ICT-FaceKit lives in :mod:`portraittalker.head.ict_asset`.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from portraittalker.errors import PortraitTalkerError

if TYPE_CHECKING:  # numpy only where hashes are computed: config loading imports REPO_ROOT from here
    import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


class AssetMissingError(PortraitTalkerError, FileNotFoundError):
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


# --- FLAME (optional head model; registration required, no redistribution) -------------------------------

FLAME_SITE = "https://flame.is.tue.mpg.de/"
FLAME_ENV = "PORTRAITTALKER_FLAME"
# FLAME 2023 first: it is the newer release and ships under a more permissive licence.
FLAME_FILENAMES = ("flame2023.pkl", "generic_model.pkl")
FLAME_MODEL = AssetSpec(
    name="flame",
    filename="generic_model.pkl",
    how_to_get=f"register at {FLAME_SITE} (the FLAME license forbids redistribution, so it cannot be "
    "downloaded for you), download FLAME 2020 (`generic_model.pkl`) or FLAME 2023 (`flame2023.pkl`), "
    f"and put the .pkl in ~/.cache/portraittalker or point ${FLAME_ENV} at it",
)


def find_flame_model() -> Path:
    """The user's FLAME pickle: ``$PORTRAITTALKER_FLAME`` (a file, or a folder holding it), else the asset folders."""
    if (found := locate_asset("flame")) is not None:
        return found
    env = os.environ.get(FLAME_ENV)
    searched = ([f"${FLAME_ENV}={env}"] if env else []) + [str(d) for d in asset_search_dirs()]
    raise AssetMissingError(
        f"flame: none of {', '.join(FLAME_FILENAMES)} found (searched {', '.join(searched)}). "
        f"To get it, {FLAME_MODEL.how_to_get}."
    )


# --- `portraittalker assets check`: one declarative table of everything the pipeline may load --------------

AssetKind = Literal["file", "diffusers", "transformers"]


@dataclass(frozen=True)
class AssetEntry:
    """Where one asset may live. ``names`` are looked for inside each asset folder; ``env`` overrides them."""

    name: str
    kind: AssetKind
    names: tuple[str, ...]
    env: str | None
    required: bool
    how_to_get: str
    used_by: str


@dataclass(frozen=True)
class AssetStatus:
    name: str
    path: Path | None
    present: bool
    how_to_get: str
    required: bool


ASSET_TABLE: tuple[AssetEntry, ...] = (
    AssetEntry(
        "ict-facekit", "file", (ICT_FACEKIT.filename,), None, True, ICT_FACEKIT.how_to_get, "default head model"
    ),
    AssetEntry(
        "flame", "file", FLAME_FILENAMES + tuple(f"flame/{n}" for n in FLAME_FILENAMES), FLAME_ENV, False,
        FLAME_MODEL.how_to_get, "the optional FLAME head model",
    ),
    AssetEntry(
        "stable-diffusion", "diffusers", ("stable-diffusion",), "PORTRAITTALKER_SD_MODEL", False,
        "download a diffusers-format Stable Diffusion folder (with model_index.json), e.g. "
        "`huggingface-cli download stable-diffusion-v1-5/stable-diffusion-v1-5 --local-dir DIR` "
        "(https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5, CreativeML OpenRAIL-M), "
        "then set PORTRAITTALKER_SD_MODEL=DIR",
        "prompt -> portrait/texture generation",
    ),
    AssetEntry(
        "speech-encoder", "transformers", ("speech-encoder",), "PORTRAITTALKER_SPEECH_ENCODER", False,
        "download wav2vec 2.0 (https://huggingface.co/facebook/wav2vec2-base-960h) or HuBERT "
        "(https://huggingface.co/facebook/hubert-large-ls960-ft) with `huggingface-cli download REPO "
        "--local-dir DIR`, then set PORTRAITTALKER_SPEECH_ENCODER=DIR",
        "audio features for the motion model",
    ),
    AssetEntry(
        "syncnet", "file", ("syncnet_v2.model",), "PORTRAITTALKER_SYNCNET", False,
        "download http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model (as in "
        "github.com/joonson/syncnet_python `download_model.sh`) into ~/.cache/portraittalker or set "
        "PORTRAITTALKER_SYNCNET to the file",
        "lip-sync metrics (LSE-C/LSE-D)",
    ),
    AssetEntry(
        "s3fd", "file", ("sfd_face.pth",), "PORTRAITTALKER_S3FD", False,
        "download https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/sfd_face.pth (the S3FD face detector "
        "weights, as in github.com/joonson/syncnet_python `download_model.sh`; S3FD's original release: "
        "github.com/sfzhang15/SFD) into ~/.cache/portraittalker or set PORTRAITTALKER_S3FD to the file",
        "face detection for the lip-sync metrics (LSE-C/LSE-D, syncnet-python)",
    ),
    AssetEntry(
        "inception", "file", ("pt_inception-2015-12-05-6726825d.pth",), "PORTRAITTALKER_INCEPTION", False,
        "download https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        "pt_inception-2015-12-05-6726825d.pth (pytorch-fid's FID Inception weights) into "
        "~/.cache/portraittalker or set PORTRAITTALKER_INCEPTION to the file",
        "FID/FVD-style image metrics",
    ),
    AssetEntry(
        "clip", "transformers", ("clip",), "PORTRAITTALKER_CLIP", False,
        "download CLIP (https://huggingface.co/openai/clip-vit-base-patch32) with `huggingface-cli download "
        "openai/clip-vit-base-patch32 --local-dir DIR`, then set PORTRAITTALKER_CLIP=DIR",
        "prompt-adherence metric (CLIP score)",
    ),
)


def _looks_complete(path: Path, kind: AssetKind) -> bool:
    """A folder counts only if it has the file its loader opens first (a half-finished download does not)."""
    if kind == "file":
        return path.is_file() and path.stat().st_size > 0
    marker = "model_index.json" if kind == "diffusers" else "config.json"
    return path.is_dir() and (path / marker).is_file()


def locate_asset(entry: AssetEntry | str) -> Path | None:
    """First complete copy of ``entry`` (its env variable wins), or None. Names are keys of :data:`ASSET_TABLE`."""
    if isinstance(entry, str):
        entry = asset_entry(entry)
    if entry.env and (env := os.environ.get(entry.env)):
        env_path = Path(env).expanduser()
        # A file asset's variable may name the file itself or the folder that holds it.
        is_folder_of_files = entry.kind == "file" and env_path.is_dir()
        candidates = [env_path / n for n in entry.names] if is_folder_of_files else [env_path]
        return next((c for c in candidates if _looks_complete(c, entry.kind)), None)
    for directory in asset_search_dirs():
        for name in entry.names:
            if _looks_complete(directory / name, entry.kind):
                return directory / name
    return None


def require_asset(name: str) -> Path:
    """Like :func:`locate_asset` but raises :class:`AssetMissingError` saying how to get the asset."""
    entry = asset_entry(name)
    if (found := locate_asset(entry)) is not None:
        return found
    where = f"${entry.env} or " if entry.env else ""
    raise AssetMissingError(
        f"{entry.name} ({entry.used_by}): not found in {where}{', '.join(str(d) for d in asset_search_dirs())}. "
        f"To get it, {entry.how_to_get}."
    )


def asset_entry(name: str) -> AssetEntry:
    for entry in ASSET_TABLE:
        if entry.name == name:
            return entry
    raise KeyError(f"unknown asset {name!r}; known: {', '.join(e.name for e in ASSET_TABLE)}")


def check_assets() -> list[AssetStatus]:
    """Presence of every asset in :data:`ASSET_TABLE` (for `portraittalker assets check`)."""
    statuses = []
    for entry in ASSET_TABLE:
        path = locate_asset(entry)
        statuses.append(AssetStatus(entry.name, path, path is not None, entry.how_to_get, entry.required))
    return statuses


# --- deterministic content hash of an npz (zip metadata and compression do not enter it) ------------------

PROVENANCE_KEYS = frozenset({"license", "source"})


def npz_content_sha256(arrays: str | Path | Mapping[str, np.ndarray]) -> str:
    """SHA-256 over (key, dtype, shape, little-endian bytes) of every array, keys sorted.

    The provenance strings (``license``, ``source``) are left out so that a conversion from a local copy
    (``--from``), which cannot know its commit, hashes the same as one from the pinned download.
    """
    import numpy as np

    if isinstance(arrays, (str, Path)):
        with np.load(arrays, allow_pickle=False) as data:
            return npz_content_sha256({k: data[k] for k in data.files})
    digest = hashlib.sha256()
    for key in sorted(k for k in arrays if k not in PROVENANCE_KEYS):
        array = np.ascontiguousarray(arrays[key])
        if array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and sys.byteorder == "big"):
            array = array.astype(array.dtype.newbyteorder("<"))
        digest.update(f"{key}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
