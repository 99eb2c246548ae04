"""Per-prompt / per-photo avatar synthesis flow: a manifest -> avatar folders + ``avatars.parquet``.

Manifest (CSV or parquet): ``job_id`` and one of ``prompt`` (score distillation from the local Stable
Diffusion folder ``appearance.sds.model``) or ``photo`` (photo fitting), optional ``seed``. A job is
skipped when its folder holds an avatar made with the same cache key: prompt text or photo bytes, seed,
guidance config and the SD model's files (names, sizes, config contents). Failures are rows with their
reason; the rest go on. MLflow logs each avatar's turntable and loss curve and its final losses.

    python -m flows.avatars --manifest avatars.csv --out-dir outputs/avatars
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger

from portraittalker.config import load_params
from tasks.experiment import log_artifacts, log_metrics, mlflow_run

RESULTS_FILE = "avatars.parquet"
KEY_FILE = "cache_key.txt"


def model_fingerprint(folder: str | None) -> str:
    """Hash of a diffusers folder's file names, sizes and small JSON/text configs (weights are not read)."""
    if not folder or not Path(folder).is_dir():
        return "none"
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(folder)}:{path.stat().st_size}".encode())
            if path.suffix in (".json", ".txt") and path.stat().st_size < 1 << 20:
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(job: dict, appearance: dict, model_hash: str) -> str:
    source = job.get("prompt") or ""
    if job.get("photo"):
        source = hashlib.sha256(Path(job["photo"]).read_bytes()).hexdigest()
    text = json.dumps({"source": source, "kind": "photo" if job.get("photo") else "sds", "seed": job["seed"],
                       "appearance": appearance, "model": model_hash}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def read_avatar_manifest(path: str | Path, default_seed: int) -> list[dict]:
    path = Path(path)
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False)
    if "job_id" not in table.columns or not ({"prompt", "photo"} & set(table.columns)):
        raise ValueError(f"manifest {path} needs a job_id column and a prompt or photo column")
    jobs = []
    for row in table.to_dict("records"):
        prompt, photo = str(row.get("prompt") or "").strip(), str(row.get("photo") or "").strip()
        seed = str(row.get("seed") or "").strip()
        if photo and not Path(photo).is_absolute():
            photo = str((path.parent / photo).resolve())
        jobs.append({"job_id": str(row["job_id"]).strip(), "prompt": prompt, "photo": photo,
                     "seed": int(seed) if seed else default_seed})
    return jobs


@flow(name="avatars")
def avatars_flow(manifest: str, out_dir: str = "outputs/avatars", params_path: str | None = None) -> str:
    """Make (or reuse) every manifest avatar; return the results table's path."""
    from portraittalker.appearance.api import avatar_from_photo, avatar_from_prompt
    from portraittalker.head import load_head_model

    logger = get_run_logger()
    params = load_params(params_path)
    output = Path(out_dir)
    output.mkdir(parents=True, exist_ok=True)
    jobs = read_avatar_manifest(manifest, params.appearance.seed)
    head = load_head_model(params.head.model, params.head.path)
    model_hash = model_fingerprint(params.appearance.sds.model)
    rows = []
    with mlflow_run("avatars", params, tags={"manifest": str(manifest)}):
        for job in jobs:
            folder = output / job["job_id"]
            row = {**job, "avatar": str(folder), "status": "", "reason": "", "seconds": 0.0}
            try:
                if bool(job["prompt"]) == bool(job["photo"]):
                    raise ValueError("give exactly one of prompt or photo")
                config = params.appearance.model_copy(deep=True)
                config.seed = job["seed"]
                config.optim.progress = False
                guidance = "photo" if job["photo"] else "sds"
                settings = {"common": config.model_dump(mode="json", exclude={"sds", "photo", "optim"}),
                            "steps": config.optim.steps, guidance: getattr(config, guidance).model_dump(mode="json")}
                key = cache_key(job, settings, model_hash if guidance == "sds" else "none")
                row["cache_key"] = key
                if (folder / KEY_FILE).is_file() and (folder / KEY_FILE).read_text().strip() == key:
                    row["status"] = "skipped"
                    rows.append(row)
                    continue
                if job["photo"]:
                    result = avatar_from_photo(head, job["photo"], folder, config)
                else:
                    result = avatar_from_prompt(head, job["prompt"], folder, config)
                (folder / KEY_FILE).write_text(key + "\n")
                row.update(status="done", seconds=round(result.seconds, 2))
                log_artifacts(list(result.files.values()), f"avatars/{job['job_id']}")
                log_metrics({f"{job['job_id']}.{name}": values[-1] for name, values in result.history.items()
                             if values})
            except Exception as error:  # one failed avatar never stops the batch
                logger.warning("avatar %s failed: %s", job["job_id"], error)
                row.update(status="failed", reason=f"{type(error).__name__}: {error}"[:1000])
            rows.append(row)
        results = output / RESULTS_FILE
        pd.DataFrame(rows).to_parquet(results, index=False)
        log_artifacts([results], "avatars")
    return str(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--out-dir", default="outputs/avatars")
    parser.add_argument("--params", default=None)
    args = parser.parse_args(argv)
    print(avatars_flow(args.manifest, args.out_dir, args.params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
