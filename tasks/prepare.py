"""Prefect tasks for the data stages: one clip of ``prepare``, one synthetic corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from portraittalker.data.prepare import ClipInput, ClipJob, ClipResult, PrepareConfig, PrepareContext, prepare_clip


# prepare_clip never raises for bad input (it returns a row with status and reason), so a raised error is
# environmental (disk, a killed ffmpeg) and worth a retry. Unchanged clips are skipped before mapping by
# prepare_dataset's input-hash check, which is why Prefect's own cache is off.
@task(task_run_name="prepare-{clip.clip_id}", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def prepare_clip_task(clip: ClipInput, out_dir: Path, config: PrepareConfig, context: PrepareContext,
                      input_hash: str) -> ClipResult:
    return prepare_clip(clip, out_dir, config, context, input_hash)


def map_clips_over_tasks(jobs: list[ClipJob], out_dir: Path, config: PrepareConfig,
                         context: PrepareContext) -> Iterator[tuple[int, ClipResult]]:
    """A ``prepare_dataset`` clip mapper that runs each clip as a Prefect task (on the flow's task runner)."""
    futures = [(slot, prepare_clip_task.submit(clip, out_dir, config, context, input_hash))
               for slot, clip, input_hash in jobs]
    for slot, future in futures:
        yield slot, future.result()
