"""Inputs of the ``prepare`` stage: which videos, with which speaker and language.

Three collectors turn a ``prepare.inputs`` entry into :class:`ClipInput` rows:

- :func:`collect_folder_inputs` — every video file in a folder; speaker from the file name;
- :func:`collect_corpus_inputs` — a synthetic corpus (its ``clips.parquet``), keeping its splits;
- :func:`collect_manifest_inputs` — a folder with a ``manifest.csv`` (``file``, ``speaker``,
  optional ``language``; other columns are ignored), e.g. ``../shared/data/real_corpus``.

A malformed manifest raises :class:`PrepareError` naming the file, the column and the rows; a
listed file that does not exist is *not* an error here: its clip becomes a ``failed`` row
(``missing_file``) and the batch goes on.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from portraittalker.data.tables import CLIPS_FILE
from portraittalker.errors import PortraitTalkerError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".ts", ".3gp")
MANIFEST_FILE = "manifest.csv"
MANIFEST_REQUIRED = ("file", "speaker")
FINGERPRINT_WHOLE_FILE_BYTES = 64 << 20
FINGERPRINT_CHUNK_BYTES = 4 << 20


class PrepareError(PortraitTalkerError, ValueError):
    """Bad arguments to the prepare stage (not a bad clip: those become manifest rows)."""


@dataclass(frozen=True)
class ClipInput:
    """One input video. ``clip_id`` must be unique in a dataset (it names the output files)."""

    clip_id: str
    path: Path
    source: str = "folder"
    speaker_id: str = ""
    language: str = ""
    split: str = ""  # keep a split decided upstream (a synthetic corpus splits by speaker itself)


def safe_clip_id(name: str) -> str:
    """A file-name-safe id that keeps non-ASCII letters (NFC) and replaces anything else with ``_``."""
    text = unicodedata.normalize("NFC", name)
    text = re.sub(r"[^\w.-]+", "_", text, flags=re.UNICODE).strip("._")
    return text or "clip"


def speaker_from_clip_id(clip_id: str) -> str:
    """``WDA_AdamKinzinger0_001`` -> ``WDA_AdamKinzinger``: drop the clip number and the video number."""
    stem = re.sub(r"_\d+$", "", clip_id)
    return re.sub(r"\d+$", "", stem) or stem


class _UniqueIds:
    """``a.mp4`` and ``a.mov`` -> ``a``, ``a-1``."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, stem: str) -> str:
        clip_id = base = safe_clip_id(stem)
        counter = 1
        while clip_id in self.used:
            clip_id, counter = f"{base}-{counter}", counter + 1
        self.used.add(clip_id)
        return clip_id


def collect_folder_inputs(folder: str | Path, source: str = "folder", language: str = "",
                          extensions: Sequence[str] = VIDEO_EXTENSIONS) -> list[ClipInput]:
    """Every video file (by extension, case-insensitive) directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PrepareError(f"input folder not found: {folder}")
    unique = _UniqueIds()
    inputs: list[ClipInput] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in extensions or path.name.startswith("."):
            continue
        clip_id = unique(path.stem)
        inputs.append(ClipInput(clip_id, path, source, speaker_from_clip_id(clip_id), language))
    return inputs


def collect_corpus_inputs(corpus_dir: str | Path) -> list[ClipInput]:
    """The finished clips of a synthetic corpus (its ``clips.parquet``), keeping speaker and language."""
    corpus_dir = Path(corpus_dir)
    clips_path = corpus_dir / CLIPS_FILE
    if not clips_path.is_file():
        raise PrepareError(f"{corpus_dir} is not a synthetic corpus: {CLIPS_FILE} not found "
                           "(make one with `portraittalker synth-corpus`)")
    clips = pd.read_parquet(clips_path)
    ok = clips[clips["status"] == "ok"]
    return [ClipInput(row.clip_id, corpus_dir / row.video_path, "synthetic", row.speaker_id, row.language, row.split)
            for row in ok.itertuples()]


def read_manifest(path: str | Path) -> pd.DataFrame:
    """A clip manifest as strings (``file``, ``speaker`` required, blanks not allowed in them, no repeated file)."""
    path = Path(path)
    if not path.is_file():
        raise PrepareError(f"manifest not found: {path}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise PrepareError(f"manifest {path} is not a readable CSV: {error}") from error
    table.columns = [str(c).strip().lstrip("\ufeff") for c in table.columns]
    missing = [c for c in MANIFEST_REQUIRED if c not in table.columns]
    if missing:
        raise PrepareError(f"manifest {path} lacks column(s) {missing}: it has {list(table.columns)}; "
                           f"required {list(MANIFEST_REQUIRED)} (optional 'language')")
    for column in [*MANIFEST_REQUIRED, *(["language"] if "language" in table.columns else [])]:
        table[column] = table[column].str.strip()
    for column in MANIFEST_REQUIRED:
        blank = (table.index[table[column] == ""] + 2).tolist()  # CSV line numbers (header is line 1)
        if blank:
            raise PrepareError(f"manifest {path}: column '{column}' is empty on line(s) {blank[:10]}")
    repeated = sorted(set(table.loc[table["file"].duplicated(), "file"]))
    if repeated:
        raise PrepareError(f"manifest {path}: column 'file' lists {repeated[:5]} more than once")
    return table


def collect_manifest_inputs(folder: str | Path, language: str = "", source: str = "manifest") -> list[ClipInput]:
    """One clip per row of ``folder/manifest.csv`` (or of ``folder`` itself if it is the CSV), in row order.

    ``file`` is relative to the manifest's folder; ``speaker`` becomes ``speaker_id`` (split by it);
    ``language`` (if the column exists and is non-empty) else ``language``.
    """
    folder = Path(folder)
    path = folder if folder.suffix.lower() == ".csv" else folder / MANIFEST_FILE
    table = read_manifest(path)
    unique = _UniqueIds()
    inputs: list[ClipInput] = []
    for row in table.to_dict("records"):
        file = Path(row["file"])
        inputs.append(ClipInput(unique(file.stem), path.parent / file, source, row["speaker"],
                                row.get("language", "") or language))
    return inputs


def file_fingerprint(path: str | Path) -> str:
    """Content hash; big files hash size + first and last 4 MiB (source videos can be GBs)."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        if size <= FINGERPRINT_WHOLE_FILE_BYTES:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        else:
            digest.update(handle.read(FINGERPRINT_CHUNK_BYTES))
            handle.seek(size - FINGERPRINT_CHUNK_BYTES)
            digest.update(handle.read(FINGERPRINT_CHUNK_BYTES))
    return digest.hexdigest()[:24]
