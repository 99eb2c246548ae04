"""The batch flow end to end: 10 jobs, one bad audio file -> 9 videos, 1 recorded failure, rerun skips."""

from __future__ import annotations

import subprocess

import mlflow
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):
        yield


def _speech_snippets(source, folder, count):
    paths = []
    for index in range(count):
        path = folder / f"speech_{index}.wav"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(index * 0.6), "-t", "1.0", "-i", str(source),
                        str(path)], check=True)
        paths.append(path)
    return paths


def test_batch_of_ten_with_one_bad_audio(prefect_harness, tmp_path, speech_wav, monkeypatch):
    from flows.generate import generate_batch

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump({"render": {"image_size": 96}, "designer": {"texture_size": 256}}))
    audio = _speech_snippets(speech_wav, tmp_path, 9)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage" * 50)
    prompts = ["old man with a grey beard", "young woman, red hair", "bald man, dark skin, studio lighting"]
    rows = [{"job_id": f"job{i}", "prompt": prompts[i % 3], "audio": str(path), "seed": i}
            for i, path in enumerate(audio)]
    rows.insert(4, {"job_id": "bad", "prompt": "a woman", "audio": str(bad), "seed": 0})
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    with manifest.open("a") as handle:  # rows 12 and 13: invalid cells are recorded as failed, the rest run
        handle.write(f"badseed,a man,{audio[0]},abc\nnanpitch,a man,{audio[0]},1\n")
    text = manifest.read_text().splitlines()
    text[0] += ",pitch_deg"
    text[1:] = [line + (",nan" if line.startswith("nanpitch") else ",") for line in text[1:]]
    manifest.write_text("\n".join(text) + "\n")
    out_dir = tmp_path / "out"

    results = pd.read_parquet(generate_batch(str(manifest), str(out_dir), str(params_path)))
    assert len(results) == 12
    assert (results["status"] == "ok").sum() == 9
    failed = results[results["status"] == "failed"].set_index("job_id")
    assert sorted(failed.index) == ["bad", "badseed", "nanpitch"]
    assert "broken.wav" in failed.loc["bad", "reason"]
    assert "line 12, column seed" in failed.loc["badseed", "reason"]
    assert "line 13, column pitch_deg" in failed.loc["nanpitch", "reason"]
    assert failed.loc["badseed", "manifest_column"] == "seed" and failed.loc["nanpitch", "manifest_row"] == 13
    videos = sorted(out_dir.glob("*.mp4"))
    assert len(videos) == 9 and all(v.stat().st_size > 1000 for v in videos)
    assert not list(out_dir.glob(".*tmp*"))  # no temp files left behind

    mlflow.set_tracking_uri(tracking)
    runs = mlflow.search_runs(experiment_names=["portraittalker"])
    assert len(runs) == 1 and runs["metrics.jobs_ok"].iloc[0] == 9 and runs["metrics.jobs_failed"].iloc[0] == 3
    assert runs["params.render.image_size"].iloc[0] == "96"

    # A rerun skips the finished jobs and still records the bad one.
    again = pd.read_parquet(generate_batch(str(manifest), str(out_dir), str(params_path)))
    assert len(again) == 12  # the rerun's rows replace the first run's
    assert (again["status"] == "skipped").sum() == 9 and (again["status"] == "failed").sum() == 3
