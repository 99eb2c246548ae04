"""Batch-job manifests, input hashing and the results table (orchestration-agnostic).

A manifest is a CSV or parquet table with columns ``job_id, prompt, audio, seed`` (optional:
``yaw_deg, pitch_deg``, and ``avatar``: an avatar folder from ``portraittalker avatar``, used instead of designing one
from the prompt). Audio and avatar paths are resolved relative to the manifest's folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from filelock import FileLock, Timeout

from portraittalker import __version__
from portraittalker.errors import PortraitTalkerError
from portraittalker.media.files import atomic_path, file_sha256
from portraittalker.validation import InvalidValueError, check_pitch, check_seed, check_yaw

log = logging.getLogger(__name__)
MANIFEST_COLUMNS = ("job_id", "prompt", "audio", "seed")
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
RESULTS_LOCK_TIMEOUT_S = 600.0


class ManifestError(PortraitTalkerError, ValueError):
    """The manifest file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Job:
    job_id: str
    prompt: str
    audio: Path
    seed: int = 0
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    avatar: Path | None = None  # a ready avatar folder instead of the prompt's designed one

    def output_name(self) -> str:
        if self.yaw_deg or self.pitch_deg:
            return f"{self.job_id}_yaw{self.yaw_deg:+.0f}_pitch{self.pitch_deg:+.0f}.mp4"
        return f"{self.job_id}.mp4"


@dataclass(frozen=True)
class RowError:
    """One manifest row that cannot become a job: where it is and what is wrong with which column."""

    manifest: Path
    row: int  # CSV: the line number (header = line 1); parquet: the 1-based row number
    column: str
    message: str
    job_id: str = ""
    cells: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        where = "line" if self.manifest.suffix != ".parquet" else "row"
        return f"manifest {self.manifest} {where} {self.row}, column {self.column}: {self.message}"

    def result_row(self) -> dict:
        """A ``failed`` results-table row for this manifest row (numeric cells left empty: they may be junk)."""
        cells = dict(self.cells)
        return {"job_id": self.job_id or f"row{self.row}", "reference_id": self.job_id or f"row{self.row}",
                "prompt": cells.get("prompt", ""), "audio_path": cells.get("audio", ""), "status": "failed",
                "reason": str(self), "video_path": "", "manifest_row": self.row, "manifest_column": self.column}


def _missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value) and not isinstance(value, str):
        return True
    return isinstance(value, str) and not value.strip()


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        # every cell as text, only empty cells missing: `nan`, `inf` or `NA` are values to check, not blanks
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True)
    except pd.errors.EmptyDataError as error:
        raise ManifestError(f"manifest {path} is empty: expected a header {list(MANIFEST_COLUMNS)} and jobs") from error
    except Exception as error:  # pandas raises many parser-specific types
        raise ManifestError(f"manifest {path} could not be read: {error}") from error


def read_manifest_rows(path: str | Path) -> tuple[list[Job], list[RowError]]:
    """The manifest's valid jobs and, row by row, why the others are not (one bad row never stops the rest).

    File-level problems (missing, unreadable, a required column missing, no rows at all) raise
    :class:`ManifestError`.
    """
    path = Path(path)
    table = _read_table(path)
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    if missing:
        raise ManifestError(f"manifest {path} lacks columns {missing}; expected {list(MANIFEST_COLUMNS)}")
    if table.empty:
        raise ManifestError(f"manifest {path} has no jobs: only a header, no rows")
    jobs: list[Job] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    first_row = 1 if path.suffix == ".parquet" else 2
    for row_number, row in enumerate(table.to_dict("records"), start=first_row):
        raw_id = "" if _missing(row["job_id"]) else str(row["job_id"]).strip()
        try:
            job = _row_job(path, row, raw_id, seen)
        except _BadCellError as bad:
            cells = tuple((str(k), "" if _missing(v) else str(v)) for k, v in row.items())
            errors.append(RowError(path, row_number, bad.column, bad.message, raw_id, cells))
            continue
        seen[raw_id] = row_number
        jobs.append(job)
    return jobs, errors


class _BadCellError(PortraitTalkerError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


def _row_job(path: Path, row: dict, job_id: str, seen: dict[str, int]) -> Job:
    if not job_id:
        raise _BadCellError("job_id", "is empty")
    if not _JOB_ID.match(job_id):
        raise _BadCellError("job_id", f"{job_id!r} must be a plain file name (letters, digits, _ . -)")
    if job_id in seen:
        where = "line" if path.suffix != ".parquet" else "row"
        raise _BadCellError("job_id", f"duplicate job_id {job_id!r} (first on {where} {seen[job_id]})")
    if _missing(row["audio"]):
        raise _BadCellError("audio", "is empty")
    audio = Path(str(row["audio"]).strip()).expanduser()
    if not audio.is_absolute():
        audio = (path.parent / audio).resolve()
    values: dict = {}
    for column, check, default in (("seed", check_seed, 0), ("yaw_deg", check_yaw, 0.0),
                                   ("pitch_deg", check_pitch, 0.0)):
        value = row.get(column)
        try:
            values[column] = default if _missing(value) else check(value, column)
        except InvalidValueError as error:
            raise _BadCellError(column, str(error).removeprefix(f"{column} ")) from None
    prompt = "" if _missing(row["prompt"]) else str(row["prompt"])
    avatar = None
    if not _missing(row.get("avatar")):
        avatar = Path(str(row["avatar"]).strip()).expanduser()
        avatar = avatar if avatar.is_absolute() else (path.parent / avatar).resolve()
        if not (avatar / "avatar.json").is_file():
            raise _BadCellError("avatar", f"{avatar} is not an avatar folder (no avatar.json; make one with "
                                          "portraittalker avatar --photo IMAGE --out DIR)")
    return Job(job_id=job_id, prompt=prompt, audio=audio, avatar=avatar, **values)


def read_manifest(path: str | Path) -> list[Job]:
    """The manifest's jobs; the first bad row raises :class:`ManifestError` naming its line and column."""
    jobs, errors = read_manifest_rows(path)
    if errors:
        raise ManifestError(str(errors[0]))
    return jobs


def job_inputs_hash(job: Job, settings: dict) -> str:
    """Hash of everything a job's output depends on: prompt, seed, view, audio bytes, settings, code version."""
    audio_digest = file_sha256(job.audio) if job.audio.is_file() else "missing"
    payload = {
        "job": {**asdict(job), "audio": audio_digest, "avatar": avatar_digest(job.avatar)},
        "settings": settings,
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def avatar_digest(folder: Path | None) -> str | None:
    """Hash of an avatar folder's files (names and bytes), so an avatar made again invalidates its videos."""
    if folder is None:
        return None
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(folder)}:{file_sha256(file)}".encode())
    return digest.hexdigest()


def sidecar_path(video_path: Path) -> Path:
    return video_path.with_suffix(".json")


def is_up_to_date(video_path: Path, inputs_hash: str) -> bool:
    """True if ``video_path`` exists and its sidecar records the same inputs hash."""
    sidecar = sidecar_path(video_path)
    if not (video_path.is_file() and sidecar.is_file()):
        return False
    try:
        return json.loads(sidecar.read_text()).get("inputs_hash") == inputs_hash
    except (OSError, json.JSONDecodeError):
        return False


def write_results_table(rows: list[dict], path: str | Path, *, manifest: str | Path | None = None,
                        lock_timeout_s: float = RESULTS_LOCK_TIMEOUT_S) -> Path:
    """Merge ``rows`` into the results table at ``path`` under a lock, so concurrent runs lose nothing.

    Existing rows are replaced when they have the same ``job_id`` (that video was just rewritten) or came from the
    same ``manifest`` (a rerun of it stands for all of its jobs, so jobs dropped from it disappear); rows of other
    runs are kept. An existing table that cannot be read is kept beside it as ``<name>.unreadable-<time>``.
    """
    path = Path(path)
    if not rows:
        raise ValueError(f"no result rows to write to {path}")
    new = pd.DataFrame(rows)
    if manifest is not None:
        new["manifest"] = str(manifest)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(path.parent / f".{path.name}.lock", timeout=lock_timeout_s):
            old = _read_results(path)
            if old is not None and "job_id" in old.columns and len(old):
                stale = old["job_id"].astype(str).isin(set(new["job_id"].astype(str)))
                if manifest is not None and "manifest" in old.columns:
                    stale |= old["manifest"].astype(str) == str(manifest)
                kept = old[~stale]
                if len(kept):
                    new = pd.concat([kept, new], ignore_index=True)
            with atomic_path(path) as tmp:
                if path.suffix == ".csv":
                    new.to_csv(tmp, index=False)
                else:
                    new.to_parquet(tmp, index=False)
    except Timeout as error:
        raise RuntimeError(f"results table {path} stayed locked by another run for {lock_timeout_s:g} s "
                           f"(lock file {error.lock_file})") from error
    return path


def _read_results(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except Exception as error:  # a broken table must not be silently overwritten
        backup = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
        path.replace(backup)
        log.warning("results table %s could not be read (%s); kept it as %s and started a new one",
                    path, error, backup)
        return None
