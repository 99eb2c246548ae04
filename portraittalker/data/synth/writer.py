"""The corpus on disk: per-clip parts (resumable), and the tables written from them at the end of a run."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from portraittalker.data.config import SynthCorpusConfig
from portraittalker.data.synth.plan import ClipPlan, SpeakerProfile, assign_speaker_splits
from portraittalker.data.synth.sentences import LanguageSpec
from portraittalker.data.tables import (
    CAMERA_COLUMN,
    CLIP_COLUMNS,
    CLIPS_FILE,
    DATASET_METADATA_KEY,
    TRUTH_FILE,
    DatasetMeta,
    check_clips_table,
    write_table,
)
from portraittalker.head.base import HeadModel
from portraittalker.media.files import atomic_path
from portraittalker.motion.schema import FPS
from portraittalker.speech.visemes import PhonemeTiming, phoneme_to_viseme

CORPUS_FILE = "corpus.parquet"
PHONEMES_FILE = "phonemes.parquet"
PARTS_DIR = "parts"
SOURCE = "synthetic"


def clip_input_hash(plan: ClipPlan, speaker: SpeakerProfile, spec: LanguageSpec, seed: int, image_size: int,
                    config: SynthCorpusConfig, head: HeadModel) -> str:
    payload = {
        "plan": asdict(plan), "speaker": asdict(speaker) | {"speech": speaker.speech.model_dump()},
        "sentences": [asdict(spec.sentences[i]) for i in plan.sentence_indices], "voice": spec.voice,
        "seed": seed, "image_size": image_size, "config": config.model_dump(mode="json"), "head": head.name,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def dataset_meta(head: HeadModel, image_size: int) -> DatasetMeta:
    return DatasetMeta(head.name, list(head.expression_names), float(FPS), image_size, extra={"source": SOURCE})


def part_paths(out_dir: Path, clip_id: str) -> dict[str, Path]:
    parts = out_dir / PARTS_DIR
    return {
        "record": parts / f"{clip_id}.json",
        "truth": parts / f"{clip_id}.truth.parquet",
        "phonemes": parts / f"{clip_id}.phonemes.parquet",
        "video": out_dir / "clips" / f"{clip_id}.mp4",
        "audio": out_dir / "audio" / f"{clip_id}.wav",
    }


def finished_record(paths: dict[str, Path], clip_hash: str) -> dict | None:
    if not all(p.is_file() for p in paths.values()):
        return None
    with contextlib.suppress(ValueError, OSError):
        record = json.loads(paths["record"].read_text(encoding="utf-8"))
        if record.get("input_hash") == clip_hash and record.get("status") == "ok":
            return record
    return None


def phoneme_frame(clip_id: str, phonemes: Sequence[PhonemeTiming]) -> pd.DataFrame:
    return pd.DataFrame({
        "clip_id": clip_id,
        "index": np.arange(len(phonemes), dtype=np.int32),
        "phoneme": [p.phoneme for p in phonemes],
        "viseme": [phoneme_to_viseme(p.phoneme) for p in phonemes],
        "start_s": np.array([p.start_s for p in phonemes], dtype=np.float64),
        "end_s": np.array([p.end_s for p in phonemes], dtype=np.float64),
    })


def clip_record(plan: ClipPlan, speaker: SpeakerProfile, spec: LanguageSpec, clip_hash: str, n_frames: int,
                status: str, reason: str) -> dict:
    return {
        "clip_id": plan.clip_id, "language": plan.language, "speaker_id": speaker.speaker_id,
        "speaker_index": speaker.speaker_index, "sentence_indices": list(plan.sentence_indices),
        "n_frames": n_frames, "status": status, "reason": reason, "input_hash": clip_hash,
        "prompt": speaker.prompt, "avatar_seed": speaker.avatar_seed, "gender": speaker.gender,
        "espeak_voice": spec.voice, "rate_wpm": speaker.speech.rate_wpm, "pitch": speaker.speech.pitch,
        "articulation": speaker.articulation, "head_motion_scale": speaker.head_motion_scale,
        "smile": speaker.smile,
    }


def write_tables(out_dir: Path, records: list[dict], seed: int, config: SynthCorpusConfig, meta: DatasetMeta
                 ) -> pd.DataFrame:
    """clips.parquet (prepare contract), corpus.parquet (manifest), truth.parquet, phonemes.parquet."""
    splits = assign_speaker_splits([r["speaker_id"] for r in records], seed, config.val_fraction,
                                   config.test_fraction)
    rows = []
    for record in records:
        ok = record["status"] == "ok"
        rows.append({
            "clip_id": record["clip_id"], "source": SOURCE, "speaker_id": record["speaker_id"],
            "language": record["language"], "split": splits[record["speaker_id"]],
            "n_frames": int(record["n_frames"]), "fps": float(FPS), "duration_s": record["n_frames"] / FPS,
            "audio_path": f"audio/{record['clip_id']}.wav" if ok else "",
            "video_path": f"clips/{record['clip_id']}.mp4" if ok else "",
            "status": record["status"], "reason": record["reason"], "fit_error_px": float("nan"),
            "input_hash": record["input_hash"],
        })
    clips = pd.DataFrame(rows, columns=CLIP_COLUMNS)
    clips["n_frames"] = clips["n_frames"].astype(np.int64)
    check_clips_table(clips)

    manifest = pd.DataFrame(records)
    manifest["split"] = [splits[s] for s in manifest["speaker_id"]]
    if CAMERA_COLUMN in manifest:  # JSON of the Camera fields, as prepare writes its fitted camera
        manifest[CAMERA_COLUMN] = [json.dumps(v) if isinstance(v, dict) else None for v in manifest[CAMERA_COLUMN]]
    write_table(manifest, out_dir / CORPUS_FILE, meta)

    ok_ids = [r["clip_id"] for r in records if r["status"] == "ok"]
    for name, file_name in (("truth", TRUTH_FILE), ("phonemes", PHONEMES_FILE)):
        parts = [pq.read_table(part_paths(out_dir, clip_id)[name]) for clip_id in ok_ids]
        if parts:
            table = pa.concat_tables([p.replace_schema_metadata(None) for p in parts])
            table = table.replace_schema_metadata({DATASET_METADATA_KEY: meta.to_json()})
            with atomic_path(out_dir / file_name) as tmp:
                pq.write_table(table, tmp)
    # Last, so a reader never sees ok clips whose truth is not written yet.
    write_table(clips, out_dir / CLIPS_FILE, meta)
    return clips
