"""The corpus loop: plan, then per clip speak, animate, render and record; the tables at the end (no Prefect)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from portraittalker.data.config import SynthCorpusConfig
from portraittalker.data.synth.motion import synthesize_motion
from portraittalker.data.synth.plan import plan_corpus, seeded_rng, speaker_profile
from portraittalker.data.synth.render import ClipRenderer, clip_camera
from portraittalker.data.synth.sentences import resolve_languages, speak_clip
from portraittalker.data.synth.writer import (
    clip_input_hash,
    clip_record,
    dataset_meta,
    finished_record,
    part_paths,
    phoneme_frame,
    write_tables,
)
from portraittalker.data.tables import CAMERA_COLUMN, IDENTITY_COLUMN, write_table
from portraittalker.head.base import HeadModel
from portraittalker.head.ict import ICTFaceKit
from portraittalker.media.audio import write_wav
from portraittalker.media.files import write_text_atomic
from portraittalker.motion.schema import FPS
from portraittalker.speech.visemes import phonemes_to_visemes

logger = logging.getLogger(__name__)



@dataclass
class SynthCorpusResult:
    out_dir: Path
    n_clips: int
    n_rendered: int
    n_skipped: int  # finished in an earlier run
    n_failed: int
    seconds: float
    clips: pd.DataFrame


def make_synthetic_corpus(
    out_dir: str | Path,
    languages: Sequence[str],
    clips_per_language: int,
    seed: int,
    image_size: int = 512,
    config: SynthCorpusConfig | None = None,
    progress: bool = True,
    head: HeadModel | None = None,
) -> SynthCorpusResult:
    """Build (or resume) a synthetic corpus in ``out_dir``; see the module docstring for the layout.

    Deterministic per ``seed``; clips whose outputs exist with the same inputs are skipped; a clip
    that fails is recorded with ``status="failed"`` and a reason, and the others still complete.
    ``head`` defaults to ICT-FaceKit (the mouth tracks use its ARKit expressions).
    """
    started = time.perf_counter()
    config = config or SynthCorpusConfig()
    if image_size < 16 or image_size % 2:
        raise ValueError(f"synth-corpus: image_size must be an even number >= 16, got {image_size}")
    specs = resolve_languages(list(languages), config)
    by_code = {spec.code: spec for spec in specs}
    head = head if head is not None else ICTFaceKit()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plans = plan_corpus(specs, clips_per_language, seed, config)
    speakers = {p.speaker_index: speaker_profile(seed, p.speaker_index, config) for p in plans}
    meta = dataset_meta(head, image_size)

    renderer: ClipRenderer | None = None
    records: list[dict] = []
    n_rendered = n_skipped = n_failed = 0
    try:
        for plan in tqdm(plans, desc="synth-corpus", unit="clip", disable=not progress):
            spec, speaker = by_code[plan.language], speakers[plan.speaker_index]
            clip_hash = clip_input_hash(plan, speaker, spec, seed, image_size, config, head)
            paths = part_paths(out_dir, plan.clip_id)
            record = finished_record(paths, clip_hash)
            if record is not None:
                n_skipped += 1
                records.append(record)
                continue
            clip_started = time.perf_counter()
            try:
                sentences = [spec.sentences[i] for i in plan.sentence_indices]
                audio, phonemes, text, voice = speak_clip(sentences, spec.voice, speaker.speech, config)
                n_frames = audio.n_video_frames(FPS)
                segments = phonemes_to_visemes(phonemes)
                motion_rng = seeded_rng(seed, "motion", plan.clip_id)
                motion = synthesize_motion(segments, n_frames, head, speaker, motion_rng, config)
                camera = clip_camera(plan, seed, image_size, config)
                if renderer is None:
                    renderer = ClipRenderer(head, image_size, config.renderer)
                avatar = renderer.avatar(speaker)
                write_wav(paths["audio"], audio)
                renderer.render(motion, avatar, camera, audio, paths["video"], config.crf, config.render_batch_frames)
                truth = motion.frame_data.copy()
                truth.insert(0, "clip_id", plan.clip_id)
                write_table(truth, paths["truth"], meta)
                write_table(phoneme_frame(plan.clip_id, phonemes), paths["phonemes"], meta)
                identity = np.asarray(avatar.identity, dtype=np.float32).reshape(-1).tolist()
                record = clip_record(plan, speaker, spec, clip_hash, n_frames, "ok", "")
                record |= {"text": text, "voice": voice, IDENTITY_COLUMN: identity, CAMERA_COLUMN: asdict(camera),
                           "render_seconds": round(time.perf_counter() - clip_started, 3)}
                n_rendered += 1
            except Exception as error:  # one bad clip must not stop the batch; the reason is recorded
                logger.exception("synth-corpus: clip %s failed", plan.clip_id)
                record = clip_record(plan, speaker, spec, clip_hash, 0, "failed", f"{type(error).__name__}: {error}")
                n_failed += 1
            write_text_atomic(paths["record"], json.dumps(record, ensure_ascii=False))
            records.append(record)
    finally:
        if renderer is not None:
            renderer.release()

    clips = write_tables(out_dir, records, seed, config, meta)
    return SynthCorpusResult(out_dir, len(plans), n_rendered, n_skipped, n_failed,
                             time.perf_counter() - started, clips)
