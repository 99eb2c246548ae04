from __future__ import annotations

import json

import pytest

from portraittalker.batch import (
    Job,
    ManifestError,
    is_up_to_date,
    job_inputs_hash,
    read_manifest,
    sidecar_path,
)


def test_manifest_resolves_relative_audio_and_defaults(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    manifest = tmp_path / "m.csv"
    manifest.write_text("job_id,prompt,audio,seed\n001,old man,a.wav,3\nb,young woman,/abs/b.wav,\n")
    jobs = read_manifest(manifest)
    assert [j.job_id for j in jobs] == ["001", "b"]  # ids stay strings, leading zeros kept
    assert jobs[0].audio == (tmp_path / "a.wav").resolve() and jobs[0].seed == 3
    assert jobs[1].seed == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("job_id,prompt,seed\n1,x,0\n", "lacks columns.*audio"),
        ("job_id,prompt,audio,seed\n1,x,a.wav,0\n1,y,b.wav,0\n", "duplicate job_id '1'"),
        ("job_id,prompt,audio,seed\n../evil,x,a.wav,0\n", "must be a plain file name"),
    ],
)
def test_manifest_errors_name_the_problem(tmp_path, content, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    with pytest.raises(ManifestError, match=message):
        read_manifest(manifest)


def test_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "none.csv")


def test_inputs_hash_tracks_audio_bytes_settings_and_prompt(tmp_path):
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"one")
    job = Job("j", "old man", audio, 1)
    base = job_inputs_hash(job, {"size": 512})
    assert base == job_inputs_hash(job, {"size": 512})
    assert base != job_inputs_hash(job, {"size": 256})
    assert base != job_inputs_hash(Job("j", "old woman", audio, 1), {"size": 512})
    audio.write_bytes(b"two")
    assert base != job_inputs_hash(job, {"size": 512})


def test_up_to_date_needs_video_and_matching_sidecar(tmp_path):
    video = tmp_path / "j.mp4"
    assert not is_up_to_date(video, "h")
    video.write_bytes(b"v")
    sidecar_path(video).write_text(json.dumps({"inputs_hash": "h"}))
    assert is_up_to_date(video, "h") and not is_up_to_date(video, "other")
    sidecar_path(video).write_text("{broken")
    assert not is_up_to_date(video, "h")


def test_generation_settings_follow_the_motion_checkpoint(tmp_path):
    from portraittalker.config import load_params
    from tasks.generate import generation_settings

    checkpoint = tmp_path / "motion.pt"
    checkpoint.write_bytes(b"weights v1")
    params = load_params(overrides={"motion": {"generator": "model", "checkpoint": str(checkpoint)}})
    first = generation_settings(params)
    checkpoint.write_bytes(b"weights v2")  # retrained in place: the same path, new videos
    assert generation_settings(params) != first
    baseline = load_params(overrides={"motion": {"generator": "baseline", "checkpoint": str(checkpoint)}})
    assert "motion_checkpoint_sha256" not in generation_settings(baseline)


def test_manifest_avatar_column_resolves_checks_and_enters_the_hash(tmp_path, ict_head):
    from portraittalker.avatar.designer import AttributeDesigner, DesignerConfig
    from portraittalker.batch import read_manifest_rows

    (tmp_path / "a.wav").write_bytes(b"x")
    AttributeDesigner(ict_head, DesignerConfig()).design("a woman with red hair", seed=1).save(tmp_path / "me")
    (tmp_path / "empty").mkdir()
    manifest = tmp_path / "m.csv"
    manifest.write_text("job_id,prompt,audio,seed,avatar\nmine,,a.wav,0,me\nplain,old man,a.wav,0,\n"
                        "broken,,a.wav,0,empty\n")
    jobs, errors = read_manifest_rows(manifest)
    assert [j.job_id for j in jobs] == ["mine", "plain"]
    assert jobs[0].avatar == (tmp_path / "me").resolve() and jobs[1].avatar is None
    assert len(errors) == 1 and errors[0].column == "avatar" and "no avatar.json" in errors[0].message
    before = job_inputs_hash(jobs[0], {})
    AttributeDesigner(ict_head, DesignerConfig()).design("a man with a beard", seed=2).save(tmp_path / "me")
    assert job_inputs_hash(jobs[0], {}) != before  # a remade avatar is a new input
