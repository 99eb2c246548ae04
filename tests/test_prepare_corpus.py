"""The real corpus in ``prepare``: manifest inputs, start-time alignment, face crop, A/V offset, splits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from portraittalker.assets import REPO_ROOT
from portraittalker.config import PrepareInput, load_params
from portraittalker.data.av_sync import SyncOffsetResult, SyncUnavailable, estimate_av_offset
from portraittalker.data.inputs import ClipInput, PrepareError, collect_manifest_inputs
from portraittalker.data.normalise import CropConfig, face_square, normalise_clip
from portraittalker.data.prepare import PrepareConfig, prepare_clip
from portraittalker.data.prepare.clip import _base_row
from portraittalker.data.prepare.dataset import _finalise_clips
from portraittalker.data.quality import AVOffsetConfig, check_av_offset, probe_media
from portraittalker.data.tables import CLIP_COLUMNS, DatasetMeta, read_dataset_tables, write_table
from portraittalker.face.tracking import FaceTracker, track_video

SHARED = REPO_ROOT.parent / "shared" / "data"
CORPUS = SHARED / "real_corpus"
AOC = SHARED / "real_clips" / "WDA_AlexandriaOcasioCortez_000.mp4"
needs_shared = pytest.mark.skipif(not (CORPUS / "manifest.csv").is_file() or not AOC.is_file(),
                                  reason="../shared/data not available")
SR = 16000


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def write_manifest(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.csv").write_text(text)
    return folder


# -- manifest -----------------------------------------------------------------------------------


def test_manifest_rows_become_clips_and_a_missing_file_a_failed_row(tmp_path):
    folder = write_manifest(tmp_path / "corpus", "file,speaker,language,dataset\n"
                                                 "a.mp4,spk_A,en,x\nsub/b clip.mpg, spk_B ,,y\nc.mp4,spk_A,ko,z\n")
    (folder / "a.mp4").symlink_to(AOC)
    inputs = collect_manifest_inputs(folder, language="und")
    assert [(c.clip_id, c.speaker_id, c.language, c.source) for c in inputs] == [
        ("a", "spk_A", "en", "manifest"), ("b_clip", "spk_B", "und", "manifest"), ("c", "spk_A", "ko", "manifest")]
    assert inputs[1].path == folder / "sub" / "b clip.mpg"
    assert collect_manifest_inputs(folder / "manifest.csv")[0].path == folder / "a.mp4"  # the CSV itself

    missing = prepare_clip(inputs[2], tmp_path / "out", PrepareConfig())
    assert missing.row["status"] == "failed" and missing.row["reason"].startswith("missing_file")
    assert missing.row["speaker_id"] == "spk_A" and missing.frames is None


@pytest.mark.parametrize(("text", "match"), [
    ("file,language\na.mp4,en\n", r"manifest\.csv lacks column\(s\) \['speaker'\]"),
    ("file,speaker\na.mp4,s1\n,s2\n", r"manifest\.csv: column 'file' is empty on line\(s\) \[3\]"),
    ("file,speaker\na.mp4,\n", r"column 'speaker' is empty on line\(s\) \[2\]"),
    ("file,speaker\na.mp4,s1\na.mp4,s2\n", r"column 'file' lists \['a.mp4'\] more than once"),
    ("", r"manifest\.csv is not a readable CSV"),
    ('file,speaker\n"a.mp4,s1\n', r"manifest\.csv is not a readable CSV"),
])
def test_malformed_manifest_names_the_file_and_column(tmp_path, text, match):
    folder = write_manifest(tmp_path, text)
    with pytest.raises(PrepareError, match=match):
        collect_manifest_inputs(folder)


def test_missing_manifest_is_an_error(tmp_path):
    with pytest.raises(PrepareError, match=r"manifest not found: .*manifest\.csv"):
        collect_manifest_inputs(tmp_path)


@needs_shared
def test_manifest_source_in_params_and_flow():
    from flows.prepare import clip_inputs

    source = PrepareInput(source="manifest", path=str(CORPUS))
    inputs = clip_inputs(source)
    table = pd.read_csv(CORPUS / "manifest.csv")
    assert len(inputs) == len(table) == 35
    assert [c.speaker_id for c in inputs] == table["speaker"].tolist()
    assert {c.language for c in inputs} == {"en"} and all(c.path.is_file() for c in inputs)
    assert len({c.clip_id for c in inputs}) == 35
    assert {"source": "manifest", "path": "../shared/data/real_corpus"} in [
        i.model_dump(exclude={"language"}) for i in load_params().prepare.inputs]


# -- speaker splits -----------------------------------------------------------------------------

TEST_SPEAKERS = {"hdtf_WDA_BobMenendez", "latentsync_demo2_man", "vox2_C", "grid_C", "grid_H", "lrs2_H", "mead_M030",
                 "WDA_KatieHill"}
VAL_SPEAKERS = {"hdtf_WDA_EdMarkey", "vox2_J", "grid_F", "lrs2_D"}


@needs_shared
def test_real_speakers_get_the_configured_disjoint_splits():
    from flows.prepare import clip_inputs

    section = load_params().prepare
    config = section.stage_config()
    real = [c for source in section.inputs if source.source != "synthetic" for c in clip_inputs(source)]
    speakers = {c.speaker_id for c in real}
    assert len(speakers) == 35 and speakers <= set(config.split_overrides)  # every real speaker is placed by hand
    synthetic = [ClipInput(f"syn{i}", Path("x.mp4"), "synthetic", f"synth_{i % 3}", "ko", "val") for i in range(3)]
    clips = _finalise_clips([_base_row(c, config, "h") for c in [*real, *synthetic]], config)
    by_split = clips.groupby("split")["speaker_id"].apply(set)
    real_splits = clips[clips["source"] != "synthetic"].groupby("split")["speaker_id"].apply(set)
    assert real_splits["test"] == TEST_SPEAKERS and real_splits["val"] == VAL_SPEAKERS
    assert real_splits["train"] == speakers - TEST_SPEAKERS - VAL_SPEAKERS
    assert "WDA_AlexandriaOcasioCortez" in real_splits["train"]
    assert clips.groupby("speaker_id")["split"].nunique().max() == 1
    assert {"synth_0", "synth_1", "synth_2"} <= by_split["val"]  # an upstream (synthetic) split is kept


# -- start-time alignment ----------------------------------------------------------------------


def _burst_clip(path: Path, audio_offset_s: float = 0.0, video_offset_s: float = 0.0, size: str = "160x120") -> None:
    """2 s of video with a 440 Hz burst at 0.3-0.6 s of its audio stream; either stream starting late."""
    ffmpeg("-itsoffset", str(video_offset_s), "-f", "lavfi", "-i", f"testsrc=size={size}:rate=30:duration=2",
           "-itsoffset", str(audio_offset_s), "-f", "lavfi", "-i",
           "aevalsrc='0.5*sin(2*PI*440*t)*between(t,0.3,0.6)':s=44100:d=1.5",
           "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-copyts", str(path))


def _onset_s(wav: Path) -> float:
    samples, rate = sf.read(wav)
    assert rate == SR and samples.ndim == 1
    return float(np.flatnonzero(np.abs(samples) > 0.1)[0]) / rate


@pytest.mark.parametrize(("audio_offset", "video_offset", "onset"), [(0.5, 0.0, 0.8), (0.0, 0.2, 0.1), (0, 0, 0.3)])
def test_audio_is_aligned_to_the_video_start(tmp_path, audio_offset, video_offset, onset):
    clip = tmp_path / "clip.mp4"
    _burst_clip(clip, audio_offset, video_offset)
    info = probe_media(clip)
    assert info.audio_start_s - info.video_start_s == pytest.approx(audio_offset - video_offset, abs=0.03)
    result = normalise_clip(info, tmp_path / "out.mp4", tmp_path / "out.wav", image_size=64, fps=25,
                            sample_rate=SR, crop=CropConfig())
    assert result.audio_offset_s == pytest.approx(audio_offset - video_offset, abs=0.03)
    assert _onset_s(tmp_path / "out.wav") == pytest.approx(onset, abs=0.015)
    out = probe_media(tmp_path / "out.mp4")  # resampled by timestamps, and its audio track is the aligned WAV
    assert (out.width, out.height, out.fps) == (64, 64, 25)
    assert out.n_frames == pytest.approx(50, abs=1)  # 2 s of video, wherever it starts
    ffmpeg("-i", str(tmp_path / "out.mp4"), "-map", "0:a", "-ac", "1", "-ar", str(SR), str(tmp_path / "muxed.wav"))
    assert _onset_s(tmp_path / "muxed.wav") == pytest.approx(onset, abs=0.015)


# -- face crop ----------------------------------------------------------------------------------


def test_face_square_geometry():
    config = CropConfig(scale=2.0, raise_fraction=0.1)
    x, y, side = face_square([(400, 500, 600, 750)] * 3, 1080, 1920, config)
    assert side == 500 and x == 250 and y == 625 - 50 - 250  # centred on the face, raised
    assert face_square([(0, 0, 300, 300)], 1080, 1920, config) == (0, 0, 600)  # clamped to the frame
    assert face_square([(900, 1700, 1080, 1920)], 1080, 1920, config)[:2] == (1080 - 440, 1920 - 440)
    assert face_square([(100, 100, 900, 900)], 1080, 1920, config)[2] == 1080  # at most the short side
    moving = face_square([(100, 100, 300, 300), (600, 100, 800, 300)], 1080, 1920, config)
    assert moving[0] <= 100 and moving[0] + moving[2] >= 800  # a moving head stays inside
    assert face_square([], 360, 288, config) == (36, 0, 288)  # no face: centre crop


@needs_shared
def test_portrait_clip_is_cropped_around_the_face(tmp_path):
    """A 512×1280 portrait clip with the face low in the frame: a centre crop would cut the face off."""
    clip = tmp_path / "portrait.mp4"
    ffmpeg("-i", str(AOC), "-t", "1", "-vf", "pad=512:1280:0:720", "-c:a", "aac", str(clip))
    info = probe_media(clip)
    with FaceTracker(max_faces=2, static_image_mode=True) as tracker:
        result = normalise_clip(info, tmp_path / "out.mp4", tmp_path / "out.wav", image_size=256, fps=25,
                                sample_rate=SR, crop=CropConfig(), detect=tracker.track_frame)
    _, y, side = result.crop
    assert result.face_found and not result.copied
    assert side <= 512 and 650 < y < 768  # on the face (rows 857-1197), not the centre square (rows 384-896)
    track = track_video(tmp_path / "out.mp4", max_faces=1)
    assert (track.width, track.height) == (256, 256) and track.detected.all()
    box = np.nanmedian(track.face_boxes, axis=0)
    assert box[0] > 0 and box[1] > 0 and box[2] < 256 and box[3] < 256  # whole face inside
    assert 0.45 < (box[3] - box[1]) / 256 < 0.75  # framed like an HDTF crop (face ~60% of the height)


# -- A/V offset ---------------------------------------------------------------------------------


def _estimate(offset: int, confidence: float) -> SyncOffsetResult:
    return SyncOffsetResult(offset, confidence, confidence, np.zeros(31))


def test_av_offset_policy():
    config = AVOffsetConfig(shift_min_frames=3, max_shift_frames=10, min_confidence=0.1)
    assert check_av_offset(None, config) == (0, None)
    assert check_av_offset(_estimate(2, 0.0), config) == (0, None)  # small: estimator noise, left alone
    assert check_av_offset(_estimate(-2, 0.9), config) == (0, None)
    assert check_av_offset(_estimate(5, 0.3), config) == (5, None)
    assert check_av_offset(_estimate(-6, 0.1), config) == (-6, None)
    shift, problem = check_av_offset(_estimate(6, 0.05), config)  # too uncertain: the learned check decides
    assert shift == 0 and problem.code == "av_offset" and "confidence 0.05" in problem.reason
    assert problem.status == "pending" and problem.reason.endswith("left to the learned check")
    alone = config.model_copy(update={"learned": config.learned.model_copy(update={"decide_uncertain": False})})
    shift, problem = check_av_offset(_estimate(6, 0.05), alone)
    assert shift == 0 and problem.status == "rejected" and problem.reason.endswith("too uncertain to shift")
    shift, problem = check_av_offset(_estimate(-12, 0.9), config)
    assert shift == 0 and problem.code == "av_offset" and "-12 frames" in problem.reason
    with pytest.raises(ValueError, match=r"max_shift_frames < sync\.max_lag"):
        AVOffsetConfig(max_shift_frames=20)


def test_sync_estimator_lives_in_the_library():
    from eval.common import MetricUnavailable
    from eval.sync_offset import estimate_av_offset as eval_estimate

    with pytest.raises(SyncUnavailable, match="too short"):
        estimate_av_offset(np.zeros(20), np.zeros(20 * 640))
    with pytest.raises(MetricUnavailable, match="too short"):
        eval_estimate(np.zeros(20), np.zeros(20 * 640))
    import eval.sync_offset
    import portraittalker.data.av_sync

    assert eval.sync_offset.speech_flux is portraittalker.data.av_sync.speech_flux
    assert eval.sync_offset.SyncOffsetConfig is portraittalker.data.av_sync.SyncOffsetConfig


@pytest.mark.slow
@needs_shared
def test_delayed_audio_is_measured_and_shifted_back(tmp_path):
    """AOC's audio delayed by 6 frames (240 ms) in the samples: prepare measures about -6 and advances it back."""
    delayed = tmp_path / "in" / "aoc_late.mp4"
    delayed.parent.mkdir()
    ffmpeg("-i", str(AOC), "-af", "adelay=240:all=1,atrim=end=8", "-c:v", "copy", "-c:a", "aac", str(delayed))
    config = PrepareConfig(fitting={"rigid_iterations": 20, "iterations": 30}, preview={"enabled": False})
    original = prepare_clip(ClipInput("aoc", AOC), tmp_path / "out", config)
    result = prepare_clip(ClipInput("aoc_late", delayed), tmp_path / "out", config)
    assert original.ok and result.ok, (original.row["reason"], result.row["reason"])
    base, measured = original.row["av_offset_frames"], result.row["av_offset_frames"]
    assert abs(base) < 3 and original.row["av_shift_frames"] == 0  # the clean clip is left alone
    assert measured - base == pytest.approx(-6, abs=1)  # SyncNet sign: late audio -> negative
    assert result.row["av_shift_frames"] == measured and result.row["av_confidence"] >= config.av_offset.min_confidence
    clean, _ = sf.read(tmp_path / "out" / "audio" / "aoc.wav")
    fixed, _ = sf.read(tmp_path / "out" / "audio" / "aoc_late.wav")
    assert len(fixed) == pytest.approx(len(clean), abs=700)
    hop = SR // 25
    window = clean[SR: 6 * SR]
    lags = range(-12 * hop, 12 * hop + 1, 16)
    best = max(lags, key=lambda k: float(np.dot(window, fixed[SR + k: 6 * SR + k])))
    assert abs(best - (6 + measured) * hop) <= 16  # the audio moved back by the measured offset
    ffmpeg("-i", str(tmp_path / "out" / "clips" / "aoc_late.mp4"), "-map", "0:a", "-ac", "1", "-ar", str(SR),
           str(tmp_path / "muxed.wav"))
    muxed, _ = sf.read(tmp_path / "muxed.wav")
    assert float(np.corrcoef(muxed[SR: 6 * SR], fixed[SR: 6 * SR])[0, 1]) > 0.95  # the clip carries the fix


# -- tables -------------------------------------------------------------------------------------


def test_tables_without_av_columns_still_read(tmp_path):
    old_columns = [c for c in CLIP_COLUMNS if not c.startswith("av_")]
    clips = pd.DataFrame([dict.fromkeys(old_columns, "")]).assign(clip_id="c0", status="ok", split="train")
    frames = pd.DataFrame({"clip_id": ["c0"], "frame": [0], "time_s": [0.0],
                           "landmarks": [np.zeros(3, np.float32)], "face_box": [np.zeros(4, np.float32)]})
    meta = DatasetMeta("ict-facekit", ["a"])
    write_table(frames, tmp_path / "frames.parquet", meta)
    write_table(clips, tmp_path / "clips.parquet", meta)
    read, _, _ = read_dataset_tables(tmp_path)
    assert read.loc[0, "av_shift_frames"] == 0 and np.isnan(read.loc[0, "av_offset_frames"])
    assert read["av_shift_frames"].dtype == np.int64 and np.isnan(read.loc[0, "av_confidence"])
