"""Batch-job manifests, input hashing and the results table (orchestration-agnostic).

A manifest is a CSV or parquet table with columns ``job_id, prompt, audio, seed`` (optional:
``yaw_deg, pitch_deg``). Audio paths are resolved relative to the manifest's folder.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from portraittalker import __version__
from portraittalker.io_utils import atomic_path, file_sha256

MANIFEST_COLUMNS = ("job_id", "prompt", "audio", "seed")
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ManifestError(ValueError):
    """The manifest file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Job:
    job_id: str
    prompt: str
    audio: Path
    seed: int = 0
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0

    def output_name(self) -> str:
        if self.yaw_deg or self.pitch_deg:
            return f"{self.job_id}_yaw{self.yaw_deg:+.0f}_pitch{self.pitch_deg:+.0f}.mp4"
        return f"{self.job_id}.mp4"


def read_manifest(path: str | Path) -> list[Job]:
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={"job_id": str})
    except Exception as error:  # pandas raises many parser-specific types
        raise ManifestError(f"manifest {path} could not be read: {error}") from error
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    if missing:
        raise ManifestError(f"manifest {path} lacks columns {missing}; expected {list(MANIFEST_COLUMNS)}")
    jobs: list[Job] = []
    seen: set[str] = set()
    for row_number, row in enumerate(table.to_dict("records"), start=2):
        job_id = str(row["job_id"]).strip()
        if not _JOB_ID.match(job_id):
            raise ManifestError(f"manifest {path} line {row_number}: job_id {job_id!r} must be a plain file name")
        if job_id in seen:
            raise ManifestError(f"manifest {path} line {row_number}: duplicate job_id {job_id!r}")
        seen.add(job_id)
        audio = Path(str(row["audio"])).expanduser()
        if not audio.is_absolute():
            audio = (path.parent / audio).resolve()
        seed = row.get("seed")
        jobs.append(Job(
            job_id=job_id,
            prompt=str(row["prompt"]) if pd.notna(row["prompt"]) else "",
            audio=audio,
            seed=int(seed) if pd.notna(seed) else 0,
            yaw_deg=float(row.get("yaw_deg", 0.0) or 0.0),
            pitch_deg=float(row.get("pitch_deg", 0.0) or 0.0),
        ))
    return jobs


def job_inputs_hash(job: Job, settings: dict) -> str:
    """Hash of everything a job's output depends on: prompt, seed, view, audio bytes, settings, code version."""
    audio_digest = file_sha256(job.audio) if job.audio.is_file() else "missing"
    payload = {
        "job": {**asdict(job), "audio": audio_digest},
        "settings": settings,
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


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


def write_results_table(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    table = pd.DataFrame(rows)
    with atomic_path(path) as tmp:
        if path.suffix == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)
    return path
