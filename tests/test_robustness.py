"""Issue 12: nothing lost, every error clear — bad inputs to generate / animate / the batch flow.

Most checks fail before any rendering; the few that render use 64² frames and 1 s of speech.
See docs/robustness.md for the table of cases.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from conftest import one_error_line
from typer.testing import CliRunner

from portraittalker.assets import REPO_ROOT
from portraittalker.batch import ManifestError, read_manifest, read_manifest_rows, write_results_table
from portraittalker.cli import app
from portraittalker.config import load_params
from portraittalker.media.audio import NotSpeechWarning, SilentAudioWarning, load_audio, speech_presence_problem
from portraittalker.media.files import reserve_temp, sweep_stale_temps
from portraittalker.media.outputs import OutputPathError
from portraittalker.pipeline import check_video_output, generate_video

runner = CliRunner()
SR = 16000
SPEECH_FILES = sorted((REPO_ROOT.parent / "shared" / "data" / "speech").glob("*.wav"))



@pytest.fixture()
def no_work(monkeypatch):
    """Fail the test if generation gets as far as loading the head model (i.e. did work before refusing)."""
    import portraittalker.pipeline as pipeline

    def refuse(*_args, **_kwargs):
        raise AssertionError("generation started although the inputs were invalid")

    monkeypatch.setattr(pipeline, "head_from_config", refuse)
    monkeypatch.setattr(pipeline, "AttributeDesigner", refuse)


def _generate(*args: str):
    return runner.invoke(app, ["generate", "--prompt", "a man", "--motion", "baseline", *args])



def _foreign_mp4(path: Path) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=25", "-t", "0.2",
                    str(path)], check=True)
    return path


# -- 1. an output never destroys an input or a foreign file ------------------------------------------------------

def test_generate_refuses_to_overwrite_its_input(one_second, tmp_path, no_work):
    speech = tmp_path / "speech.wav"
    speech.write_bytes(one_second.read_bytes())
    before = speech.read_bytes()
    one_error_line(_generate("--audio", str(speech), "--out", str(speech)), "is the input file")
    link = tmp_path / "link.mp4"  # a symlink to the input, with an innocent name
    link.symlink_to(speech)
    one_error_line(_generate("--audio", str(speech), "--out", str(link)), "is the input file")
    hard = tmp_path / "hard.mp4"  # the same inode
    os.link(speech, hard)
    one_error_line(_generate("--audio", str(speech), "--out", str(hard)), "is the input file")
    assert speech.read_bytes() == before


def test_generate_checks_extension_and_refuses_foreign_files(one_second, tmp_path, no_work):
    text = tmp_path / "x.txt"
    text.write_text("notes")
    one_error_line(_generate("--audio", str(one_second), "--out", str(text)), "--out", ".mp4")
    params = tmp_path / "params.yaml"
    params.write_text("seed: 0\n")
    one_error_line(_generate("--audio", str(one_second), "--out", str(params), "--params", str(params)),
                    "is the input file")
    one_error_line(_generate("--audio", str(one_second), "--out", str(tmp_path / "new.yaml")), ".mp4")
    foreign = _foreign_mp4(tmp_path / "holiday.mp4")
    before = foreign.read_bytes()
    one_error_line(_generate("--audio", str(one_second), "--out", str(foreign)), "not a video written by",
                    "--force")
    assert foreign.read_bytes() == before and text.read_text() == "notes" and params.read_text() == "seed: 0\n"


def test_generate_replaces_its_own_output_and_force_replaces_others(one_second, tmp_path):
    out = tmp_path / "talk.mp4"
    for _ in range(2):  # the second run replaces the first run's video without a question
        result = _generate("--audio", str(one_second), "--out", str(out), "--size", "64")
        assert result.exit_code == 0, result.output
    foreign = _foreign_mp4(tmp_path / "theirs.mp4")
    result = _generate("--audio", str(one_second), "--out", str(foreign), "--size", "64", "--force")
    assert result.exit_code == 0, result.output
    from portraittalker.media.video import is_portraittalker_video
    assert is_portraittalker_video(foreign) and is_portraittalker_video(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.mp4", "theirs.mp4"]


def test_animate_refuses_its_input_wrong_extension_and_foreign_tables(one_second, tmp_path):
    speech = tmp_path / "speech.wav"
    speech.write_bytes(one_second.read_bytes())
    before = speech.read_bytes()

    def animate(out: Path, *extra: str):
        return runner.invoke(app, ["animate", "--audio", str(speech), "--out", str(out), "--motion", "baseline",
                                   *extra])

    one_error_line(animate(speech), "is the input file")
    one_error_line(animate(tmp_path / "motion.txt"), ".parquet")
    foreign = tmp_path / "data.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(foreign)
    one_error_line(animate(foreign), "not a motion table written by", "--force")
    assert pd.read_parquet(foreign)["a"].tolist() == [1, 2] and speech.read_bytes() == before
    motion = tmp_path / "motion.parquet"
    assert animate(motion).exit_code == 0
    result = animate(motion)  # our own earlier table is replaced
    assert result.exit_code == 0, result.output
    assert animate(foreign, "--force").exit_code == 0


def test_batch_job_does_not_replace_a_foreign_video(one_second, tmp_path, no_work):
    from portraittalker.batch import Job
    from tasks.generate import generate_job

    foreign = _foreign_mp4(tmp_path / "j1.mp4")
    before = foreign.read_bytes()
    with pytest.raises(OutputPathError, match="not a video written by portraittalker; move it away"):
        generate_job.fn(Job("j1", "a man", one_second, 1), tmp_path, load_params())
    assert foreign.read_bytes() == before


# -- 2. concurrent batch runs keep each other's rows -------------------------------------------------------------

def test_concurrent_results_writers_keep_every_row(tmp_path):
    path = tmp_path / "results.parquet"
    errors: list[BaseException] = []

    def flow(name: str) -> None:
        try:
            for index in range(15):
                write_results_table([{"job_id": f"{name}{index}", "status": "ok"}], path,
                                    manifest=tmp_path / f"{name}-{index}.csv")
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=flow, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(pd.read_parquet(path)["job_id"]) == sorted(f"{n}{i}" for n in "ab" for i in range(15))


def test_rerun_of_a_manifest_replaces_its_rows_only(tmp_path):
    path = tmp_path / "results.parquet"
    write_results_table([{"job_id": "a", "status": "ok"}, {"job_id": "gone", "status": "ok"}], path, manifest="m1")
    write_results_table([{"job_id": "b", "status": "ok"}], path, manifest="m2")
    write_results_table([{"job_id": "a", "status": "skipped"}], path, manifest="m1")  # "gone" left m1
    table = pd.read_parquet(path).set_index("job_id")
    assert table["status"].to_dict() == {"b": "ok", "a": "skipped"}


@pytest.mark.slow
def test_two_batch_flows_on_one_folder_keep_both_rows(one_second, tmp_path, monkeypatch):
    from prefect.testing.utilities import prefect_test_harness

    from flows.generate import generate_batch

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    params = tmp_path / "params.yaml"
    params.write_text("render: {image_size: 64}\ndesigner: {texture_size: 256}\nmotion: {generator: baseline}\n"
                      "mlflow: {log_videos: false}\n")
    out_dir = tmp_path / "out"
    manifests = []
    for name in ("first", "second"):
        manifests.append(tmp_path / f"{name}.csv")
        manifests[-1].write_text(f"job_id,prompt,audio,seed\n{name},a man,{one_second},1\n")
    outcomes: list[object] = []

    def run(manifest: Path) -> None:
        try:
            outcomes.append(generate_batch(str(manifest), str(out_dir), str(params)))
        except BaseException as error:  # reported below
            outcomes.append(error)

    with prefect_test_harness(server_startup_timeout=300):
        threads = [threading.Thread(target=run, args=(manifest,)) for manifest in manifests]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert outcomes == [str(out_dir / "results.parquet")] * 2
    results = pd.read_parquet(out_dir / "results.parquet")
    assert sorted(results["job_id"]) == ["first", "second"] and set(results["status"]) == {"ok"}
    assert sorted(p.name for p in out_dir.glob("*.mp4")) == ["first.mp4", "second.mp4"]


# -- 3. temp files: removed on SIGTERM, swept after SIGKILL -------------------------------------------------------

def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _temp_of(folder: Path, stem: str, suffix: str, pid: int) -> Path:
    """A temp file named as if process ``pid`` on this host had written it."""
    own = reserve_temp(folder, stem, suffix)
    return own.rename(own.with_name(own.name.replace(f".{os.getpid()}@", f".{pid}@", 1)))


def test_stale_temp_files_are_swept_on_the_next_run(tmp_path, one_second):
    live = subprocess.Popen(["sleep", "30"])
    try:
        dead = _dead_pid()
        dead_video, dead_wav = _temp_of(tmp_path, "talk", ".mp4", dead), _temp_of(tmp_path, "talk", ".wav", dead)
        live_tmp = _temp_of(tmp_path, "talk", ".mp4", live.pid)
        old_legacy = tmp_path / ".talk.k2j3h4g5.tmp.mp4"  # the naming before pids were recorded
        old_legacy.write_bytes(b"old")
        os.utime(old_legacy, (time.time() - 7200, time.time() - 7200))
        fresh_legacy = tmp_path / ".other.q1w2e3r4.tmp.mp4"
        fresh_legacy.write_bytes(b"maybe in use")
        user_file = tmp_path / ".notes.tmp"
        user_file.write_text("mine")
        os.utime(user_file, (time.time() - 7200, time.time() - 7200))
        check_video_output(tmp_path / "talk.mp4", [one_second])  # what generate runs before any work
        assert not dead_video.exists() and not dead_wav.exists() and not old_legacy.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [live_tmp.name, fresh_legacy.name, user_file.name])
    finally:
        live.kill()
        live.wait()
    assert sweep_stale_temps(tmp_path) == [live_tmp]  # its writer has gone now


def _start_generate(audio: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([str(REPO_ROOT / ".venv" / "bin" / "portraittalker"), "generate", "--prompt", "a man",
                             "--audio", str(audio), "--out", str(out), "--size", "128", "--motion", "baseline"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_temp(folder: Path, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not list(folder.glob(".*.tmp.mp4")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the render never started"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigterm_during_generate_removes_its_temp_files(speech_wav, tmp_path):
    out = tmp_path / "talk.mp4"
    process = _start_generate(speech_wav, out)
    _wait_for_temp(tmp_path, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert stderr.decode().strip().splitlines()[-1].startswith("error: terminated by SIGTERM")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_sigkill_leftovers_are_swept_by_the_next_run(speech_wav, one_second, tmp_path):
    process = _start_generate(speech_wav, tmp_path / "talk.mp4")
    _wait_for_temp(tmp_path, process)
    process.kill()
    process.wait()
    assert list(tmp_path.glob(".*.tmp.*"))  # SIGKILL cannot be handled: the temp files stay …
    check_video_output(tmp_path / "talk.mp4", [one_second])
    assert list(tmp_path.iterdir()) == []  # … until the next run into that folder


# -- 5. angles ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("option", "value"), [("--pitch", "nan"), ("--yaw", "inf"), ("--pitch", "90"),
                                               ("--yaw", "-400")])
def test_non_finite_or_out_of_range_angles_name_the_option(one_second, tmp_path, no_work, option, value):
    out = tmp_path / "o.mp4"
    one_error_line(_generate("--audio", str(one_second), "--out", str(out), option, value), option, value)
    assert not out.exists()


def test_library_rejects_nan_angles_before_work(one_second, tmp_path, no_work):
    with pytest.raises(ValueError, match="pitch_deg must be a finite angle"):
        generate_video("a man", one_second, tmp_path / "o.mp4", load_params(), pitch_deg=float("nan"))


# -- 6. manifests: row-by-row validation ------------------------------------------------------------------------

def test_bad_manifest_rows_are_named_and_the_rest_are_jobs(tmp_path):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("job_id,prompt,audio,seed,yaw_deg,pitch_deg\n"
                        "good,a man,a.wav,1,,\n"
                        "badseed,a man,a.wav,abc,,\n"
                        "nanpitch,a man,a.wav,2,0,nan\n"
                        "infyaw,a man,a.wav,2,inf,0\n"
                        "good,a man,b.wav,3,,\n"
                        "floatseed,a man,a.wav,1.5,,\n"
                        "noaudio,a man,,1,,\n"
                        "good2,a man,a.wav,,15,10\n")
    jobs, errors = read_manifest_rows(manifest)
    assert [(j.job_id, j.seed, j.yaw_deg, j.pitch_deg) for j in jobs] == [("good", 1, 0.0, 0.0),
                                                                          ("good2", 0, 15.0, 10.0)]
    assert [(e.row, e.column) for e in errors] == [(3, "seed"), (4, "pitch_deg"), (5, "yaw_deg"), (6, "job_id"),
                                                   (7, "seed"), (8, "audio")]
    assert str(errors[0]) == (f"manifest {manifest} line 3, column seed: must be a whole number from 0 to "
                              "4294967295, got 'abc'")
    row = errors[0].result_row()
    assert row["status"] == "failed" and row["job_id"] == "badseed" and "line 3, column seed" in row["reason"]
    assert (row["manifest_row"], row["manifest_column"]) == (3, "seed")
    table = pd.DataFrame([e.result_row() for e in errors])  # junk cells must not break the parquet table
    table.to_parquet(tmp_path / "r.parquet")
    with pytest.raises(ManifestError, match="line 3, column seed"):  # the strict reader names the first one
        read_manifest(manifest)


def test_header_only_manifest_is_a_clear_error_and_writes_no_table(tmp_path):
    from flows.generate import main

    manifest = tmp_path / "jobs.csv"
    manifest.write_text("job_id,prompt,audio,seed\n")
    with pytest.raises(ManifestError, match="has no jobs"):
        read_manifest_rows(manifest)
    with pytest.raises(SystemExit) as stop:
        main(["--manifest", str(manifest), "--out-dir", str(tmp_path / "out")])
    assert str(stop.value.code).startswith("error: ") and "has no jobs" in str(stop.value.code)
    assert not (tmp_path / "out" / "results.parquet").exists()
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ManifestError, match="is empty"):
        read_manifest_rows(empty)
    with pytest.raises(ValueError, match="no result rows"):
        write_results_table([], tmp_path / "results.parquet")


# -- 7. destination checked before any work --------------------------------------------------------------------

def test_out_is_a_directory_or_unwritable(one_second, tmp_path, no_work):
    folder = tmp_path / "videos"
    folder.mkdir()
    one_error_line(_generate("--audio", str(one_second), "--out", str(folder)), str(folder), "is a directory")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_error_line(_generate("--audio", str(one_second), "--out", str(blocker / "o.mp4")), str(blocker))
    line = one_error_line(_generate("--audio", str(one_second), "--out", "/proc/o.mp4"), "/proc/o.mp4")
    assert ".tmp" not in line
    with pytest.raises(OutputPathError, match="is a directory"):
        check_video_output(folder, [])


# -- 8. messages name the option or key --------------------------------------------------------------------------

@pytest.mark.parametrize("size", ["0", "-1", "7", "65", "4096", "100000"])
def test_bad_size_names_the_option(one_second, tmp_path, no_work, size):
    line = one_error_line(_generate("--audio", str(one_second), "--out", str(tmp_path / "o.mp4"), "--size", size),
                           "--size", "even", "64", "2048")
    assert "render.image_size" not in line


def test_odd_size_and_bad_fps_in_params_fail_before_the_avatar(one_second, tmp_path, no_work):
    with pytest.raises(ValueError, match=r"render\.image_size must be an even"):
        generate_video("a man", one_second, tmp_path / "o.mp4",
                       load_params(overrides={"render": {"image_size": 65}}))
    with pytest.raises(ValueError, match=r"video\.fps must be a whole number from 1"):
        generate_video("a man", one_second, tmp_path / "o.mp4", load_params(overrides={"video": {"fps": -25}}))
    params = tmp_path / "p.yaml"
    params.write_text("video: {fps: -25}\n")
    one_error_line(_generate("--audio", str(one_second), "--out", str(tmp_path / "o.mp4"), "--params", str(params)),
                    "video.fps", "-25")
    params.write_text("render: {image_size: 10}\n")  # a schema error: one line naming the key and the value
    one_error_line(_generate("--audio", str(one_second), "--out", str(tmp_path / "o.mp4"), "--params", str(params)),
                    "render.image_size", "got 10")


def test_negative_seed_names_the_option_and_range(one_second, tmp_path, no_work):
    one_error_line(_generate("--audio", str(one_second), "--out", str(tmp_path / "o.mp4"), "--seed", "-1"),
                    "--seed", "0 to 4294967295", "-1")
    result = runner.invoke(app, ["animate", "--audio", str(one_second), "--out", str(tmp_path / "m.parquet"),
                                 "--seed", "-1"])
    one_error_line(result, "--seed")


def test_symlink_loop_and_dangling_link_are_named(tmp_path, no_work):
    (tmp_path / "a.wav").symlink_to(tmp_path / "b.wav")
    (tmp_path / "b.wav").symlink_to(tmp_path / "a.wav")
    one_error_line(_generate("--audio", str(tmp_path / "a.wav"), "--out", str(tmp_path / "o.mp4")),
                    "symlink loop")
    (tmp_path / "c.wav").symlink_to(tmp_path / "gone.wav")
    with pytest.raises(FileNotFoundError, match=r"symlink to .*gone\.wav, which does not exist"):
        load_audio(tmp_path / "c.wav")


# -- 9. warnings: one clean line; not-speech detection -----------------------------------------------------------

def test_silent_audio_warning_is_one_clean_line(tmp_path):
    silent = tmp_path / "silence.wav"
    soundfile.write(silent, np.zeros(SR, np.float32), SR)
    result = runner.invoke(app, ["animate", "--audio", str(silent), "--out", str(tmp_path / "m.parquet"),
                                 "--motion", "baseline"])
    assert result.exit_code == 0, result.output
    warning_lines = [line for line in result.output.splitlines() if "audio is silent" in line]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("warning: ")
    assert "SilentAudioWarning" not in result.output and "warnings.warn" not in result.output


def _music(duration_s: float) -> np.ndarray:
    t = np.arange(int(duration_s * SR)) / SR
    notes = [220, 247, 262, 294, 330, 349, 392, 440]
    y = np.zeros_like(t)
    for index in range(int(duration_s * 4)):  # a plucked melody, four notes a second, over held chords
        mask = (t >= index / 4) & (t < (index + 1) / 4)
        local = t[mask] - index / 4
        y[mask] += sum(np.sin(2 * np.pi * notes[index * 5 % 8] * 2 * k * local) / k for k in range(1, 6)) \
            * np.exp(-local / 0.15)
    for index in range(int(duration_s)):
        mask = (t >= index) & (t < index + 1)
        y[mask] += sum(np.sin(2 * np.pi * notes[(index * 3 + j * 2) % 8] * (1 + j / 2) * t[mask]) for j in range(3))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def test_noise_and_music_are_not_speech(tmp_path):
    rng = np.random.default_rng(0)
    assert speech_presence_problem(0.3 * rng.standard_normal(8 * SR), SR) == "noise-like spectrum"
    assert speech_presence_problem(_music(8.0), SR) is not None
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(8 * SR) / SR)
    assert speech_presence_problem(tone, SR) is not None
    noise = tmp_path / "noise.wav"
    soundfile.write(noise, (0.3 * rng.standard_normal(8 * SR)).astype(np.float32), SR)
    with pytest.warns(NotSpeechWarning, match="noise.wav: does not sound like speech"):
        load_audio(noise)
    result = runner.invoke(app, ["animate", "--audio", str(noise), "--out", str(tmp_path / "m.parquet"),
                                 "--motion", "baseline"])
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if line.startswith("warning: ")] == [
        f"warning: {noise}: does not sound like speech (noise-like spectrum); the lips will not follow words"]


@pytest.mark.parametrize("path", SPEECH_FILES, ids=[p.name for p in SPEECH_FILES])
def test_real_speech_is_speech(path):
    assert SPEECH_FILES, "no speech files in ../shared/data/speech"
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotSpeechWarning)
        warnings.simplefilter("error", SilentAudioWarning)
        audio = load_audio(path)
    rng = np.random.default_rng(1)
    noisy = audio.samples + rng.standard_normal(audio.n_samples).astype(np.float32) * audio.samples.std() / 3
    assert speech_presence_problem(noisy, SR) is None  # speech at 10 dB SNR is still speech
    music = _music(audio.duration_s + 1)[: audio.n_samples]
    background = music * (0.5 * audio.samples.std() / music.std())
    assert speech_presence_problem(audio.samples + background, SR) is None  # over background music at -6 dB


def test_two_faces_that_also_lose_the_stream_are_multiple_faces_not_no_face() -> None:
    import numpy as np

    from portraittalker.data.quality import QualityConfig, check_track
    from portraittalker.face.tracking import FaceTrack

    n = 60
    detected = np.zeros(n, np.int16)
    detected[::3] = 1  # the one-face stream keeps losing one of the two faces
    boxes = np.tile(np.array([10, 10, 200, 200], np.float32), (n, 1))
    track = FaceTrack(np.zeros((n, 478, 3), np.float32), boxes, detected, 512, 512, 25.0)
    rejection = check_track(track, np.zeros(n), [2, 2, 2, 2, 2], QualityConfig())
    assert rejection is not None and rejection.reason.startswith("multiple_faces")
    lone = check_track(track, np.zeros(n), [1, 1, 0, 1, 1], QualityConfig())
    assert lone is not None and lone.reason.startswith("no_face")
