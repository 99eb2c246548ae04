"""Prefect task: one manifest job -> one video (library call + resume-by-hash)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from eval.views import view_name
from portraittalker.avatar.asset import Avatar
from portraittalker.batch import Job, is_up_to_date, job_inputs_hash, sidecar_path
from portraittalker.config import Params
from portraittalker.media.files import file_sha256, write_text_atomic
from portraittalker.pipeline import cached_session, check_video_output, motion_checkpoint_path
from portraittalker.process_tuning import tune_process_memory, use_one_blas_thread


def generation_settings(params: Params) -> dict:
    """The params a generated video depends on (its cache key besides the job itself)."""
    settings = params.model_dump(mode="json", include={"head", "audio", "render", "video", "motion", "designer"})
    checkpoint = motion_checkpoint_path(params)
    if params.motion.generator == "model" and checkpoint.is_file():  # retraining changes the videos
        settings["motion_checkpoint_sha256"] = file_sha256(checkpoint)
    return settings


def job_row(job: Job) -> dict:
    """The results-table columns that describe a job (``reference_id`` pairs novel views with their source)."""
    view = view_name(job.yaw_deg, job.pitch_deg) if (job.yaw_deg or job.pitch_deg) else "frontal"
    return {"job_id": job.output_name().removesuffix(".mp4"), "reference_id": job.job_id, "prompt": job.prompt,
            "audio_path": str(job.audio), "avatar": str(job.avatar or ""), "seed": job.seed,
            "yaw_deg": job.yaw_deg, "pitch_deg": job.pitch_deg,
            "view": view}


# Skipping is decided by the output file's sidecar hash (it covers the audio bytes and all settings),
# so Prefect's own input-based cache is switched off: it would not see a changed audio file.
@task(task_run_name="generate-{job.job_id}", cache_policy=NO_CACHE)
def generate_job(job: Job, out_dir: Path, params: Params) -> dict:
    video_path = (Path(out_dir) / job.output_name()).resolve()  # absolute: the table is read from anywhere
    inputs_hash = job_inputs_hash(job, generation_settings(params))
    row = {**job_row(job), "video_path": str(video_path), "inputs_hash": inputs_hash}
    if is_up_to_date(video_path, inputs_hash):
        previous = json.loads(sidecar_path(video_path).read_text())
        return {**previous.get("row", {}), **row, "status": "skipped", "reason": "output up to date"}
    # A video with a sidecar is this flow's own earlier output; any other file of that name is not ours to replace.
    check_video_output(video_path, [job.audio, job.avatar], force=sidecar_path(video_path).is_file(), option="output",
                       remedy="move it away or use another --out-dir")
    start = time.perf_counter()
    # One session per worker thread (threads runner) or per Dask worker process thread: the head model,
    # motion checkpoint, Whisper encoder and GL renderer load once per worker, not once per job.
    tune_process_memory()  # once per worker process: heap reuse instead of fresh zeroed pages, and one BLAS
    use_one_blas_thread()  # thread beside the session's own threads
    session = cached_session(params)
    avatar = Avatar.load(job.avatar) if job.avatar is not None else None
    result = session.generate(job.prompt, job.audio, video_path, seed=job.seed,
                              yaw_deg=job.yaw_deg, pitch_deg=job.pitch_deg, force=True, avatar=avatar)
    row.update(status="ok", reason="", n_frames=result.n_frames, duration_s=result.duration_s,
               wall_s=time.perf_counter() - start,
               **{f"time_{name}_s": seconds for name, seconds in result.timings.items()})
    write_text_atomic(sidecar_path(video_path), json.dumps({"inputs_hash": inputs_hash, "row": row}, indent=1))
    return row
